#!/usr/bin/env bash
# Creates (once) the Airflow virtualenv and prints its path.
#
# The venv lives outside the clone, under $EMBER_AIRFLOW_VENVS (default
# ~/.cache/ember/airflow-venv), in a folder named after the hash of
# requirements.txt + constraints.txt + the Python version: a fresh clone on
# the same machine (CI) reuses it, and a changed pin builds a new one. A
# stamp is written only after a complete install, so an interrupted install
# is redone. Installs use the committed constraints file, never a new resolve.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
ROOT=${EMBER_AIRFLOW_VENVS:-$HOME/.cache/ember/airflow-venv}

key=$( { cat "$HERE/requirements.txt" "$HERE/constraints.txt"; "$PYTHON" -V; } | sha256sum | cut -c1-16)
venv=$ROOT/$key
if [[ -f $venv/.complete ]]; then
    echo "$venv"
    exit 0
fi
mkdir -p "$ROOT"
exec 9>"$ROOT/.lock"
flock 9 # two builds at once would share pip's cache and each other's half-made venv
if [[ ! -f $venv/.complete ]]; then
    t0=$(date +%s)
    echo "airflow-venv: installing Airflow into $venv (first run only)" >&2
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        -r "$HERE/requirements.txt" -c "$HERE/constraints.txt" >&2
    touch "$venv/.complete"
    echo "airflow-venv: ready in $(( $(date +%s) - t0 )) s" >&2
fi
echo "$venv"
