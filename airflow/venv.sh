#!/usr/bin/env bash
# Creates (once) the Airflow virtualenv and prints its path: under
# $EMBER_AIRFLOW_VENVS (default ~/.cache/ember/airflow-venv), from
# requirements.txt pinned by constraints.txt (see scripts/pinned-venv.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$HERE/../scripts/pinned-venv.sh" "$HERE" \
    "${EMBER_AIRFLOW_VENVS:-$HOME/.cache/ember/airflow-venv}" airflow-venv
