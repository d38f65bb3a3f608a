#!/usr/bin/env bash
# Creates (once) a virtualenv from <dir>/requirements.txt pinned by
# <dir>/constraints.txt and prints its path. Used by airflow/venv.sh and
# stack/s3/venv.sh.
#
#   pinned-venv.sh <dir> <root> <label>
#
# The venv lives under <root> (outside the clone, so a fresh clone on the same
# machine, as in CI, reuses it) in a folder named after the hash of both files
# and the Python version: a changed pin builds a new one. A stamp is written
# only after a complete install, so an interrupted install is redone. Installs
# use the committed constraints, never a new resolve.
set -euo pipefail
DIR=$1 ROOT=$2 LABEL=$3
PYTHON=${PYTHON:-python3}

key=$( { cat "$DIR/requirements.txt" "$DIR/constraints.txt"; "$PYTHON" -V; } | sha256sum | cut -c1-16)
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
    echo "$LABEL: installing into $venv (first run only)" >&2
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        -r "$DIR/requirements.txt" -c "$DIR/constraints.txt" >&2
    touch "$venv/.complete"
    echo "$LABEL: ready in $(( $(date +%s) - t0 )) s" >&2
fi
echo "$venv"
