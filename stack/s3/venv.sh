#!/usr/bin/env bash
# Creates (once) a virtualenv with moto's S3-compatible server and prints its
# path. The checkpoint tests store a pipeline's checkpoint on `s3://` through
# it: object_store's real S3 client against a real S3 API on 127.0.0.1.
# Cached under $EMBER_TOOLS_VENVS (default ~/.cache/ember/s3-venv); see
# scripts/pinned-venv.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$HERE/../../scripts/pinned-venv.sh" "$HERE" \
    "${EMBER_TOOLS_VENVS:-$HOME/.cache/ember/s3-venv}" s3-venv
