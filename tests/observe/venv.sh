#!/usr/bin/env bash
# Creates (once) the virtualenv of the observability tests and prints its path:
# prometheus_client (a real Prometheus text parser for /metrics) and
# websocket-client (the DevTools protocol of headless Chromium), under
# $EMBER_OBSERVE_VENVS (default ~/.cache/ember/observe-venv), pinned by
# constraints.txt (see scripts/pinned-venv.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$HERE/../../scripts/pinned-venv.sh" "$HERE" \
    "${EMBER_OBSERVE_VENVS:-$HOME/.cache/ember/observe-venv}" observe-venv
