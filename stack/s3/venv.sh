#!/usr/bin/env bash
# Creates (once) a virtualenv with moto's S3-compatible server and prints its
# path. The checkpoint tests store a pipeline's checkpoint on `s3://` through
# it: object_store's real S3 client against a real S3 API on 127.0.0.1.
#
# Cached outside the clone under $EMBER_TOOLS_VENVS (default
# ~/.cache/ember/s3-venv), in a folder named after the hash of the pins and
# the Python version; a stamp marks a complete install.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
ROOT=${EMBER_TOOLS_VENVS:-$HOME/.cache/ember/s3-venv}

key=$( { cat "$HERE/requirements.txt" "$HERE/constraints.txt"; "$PYTHON" -V; } | sha256sum | cut -c1-16)
venv=$ROOT/$key
if [[ -f $venv/.complete ]]; then
    echo "$venv"
    exit 0
fi
mkdir -p "$ROOT"
exec 9>"$ROOT/.lock"
flock 9
if [[ ! -f $venv/.complete ]]; then
    echo "s3-venv: installing moto into $venv (first run only)" >&2
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        -r "$HERE/requirements.txt" -c "$HERE/constraints.txt" >&2
    touch "$venv/.complete"
fi
echo "$venv"
