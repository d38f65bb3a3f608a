#!/usr/bin/env bash
# Installs (once) Azurite, Microsoft's Azure Storage emulator, from npm and
# prints the path of its `azurite-blob` command. The checkpoint tests keep a
# pipeline's checkpoint on `az://` through it.
#
# Cached outside the clone under $EMBER_AZURITE_DIR (default
# ~/.cache/ember/azurite/<version>); a stamp marks a complete install.
set -euo pipefail
VERSION=3.35.0
ROOT=${EMBER_AZURITE_DIR:-$HOME/.cache/ember/azurite}/$VERSION
if [[ ! -f $ROOT/.complete ]]; then
    mkdir -p "$ROOT"
    exec 9>"$ROOT/.lock"
    flock 9
    if [[ ! -f $ROOT/.complete ]]; then
        echo "azurite: installing azurite@$VERSION into $ROOT (first run only)" >&2
        npm install --silent --no-audit --no-fund --prefix "$ROOT" "azurite@$VERSION" >&2
        touch "$ROOT/.complete"
    fi
fi
echo "$ROOT/node_modules/.bin/azurite-blob"
