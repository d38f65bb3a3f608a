#!/usr/bin/env bash
# Creates (once) the venv that draws make bench's chart and prints its path:
# under $EMBER_REPORT_VENVS (default ~/.cache/ember/report-venv), from
# requirements.txt pinned by constraints.txt (see scripts/pinned-venv.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$HERE/../../scripts/pinned-venv.sh" "$HERE" \
    "${EMBER_REPORT_VENVS:-$HOME/.cache/ember/report-venv}" report-venv
