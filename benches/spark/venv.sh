#!/usr/bin/env bash
# Creates (once) the PySpark virtualenv of the Spark baseline and prints its path: under
# $EMBER_SPARK_VENVS (default ~/.cache/ember/spark-venv), from requirements.txt pinned by
# constraints.txt (see scripts/pinned-venv.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$HERE/../../scripts/pinned-venv.sh" "$HERE" \
    "${EMBER_SPARK_VENVS:-$HOME/.cache/ember/spark-venv}" spark-venv
