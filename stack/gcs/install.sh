#!/usr/bin/env bash
# Builds (once) fake-gcs-server, an emulator of the Google Cloud Storage
# APIs, from the Go module proxy and prints the path of its binary. The
# checkpoint tests keep a pipeline's checkpoint on `gs://` through it (with
# stack/gcs/xml_put_shim.py in front, see there).
#
# Cached outside the clone under $EMBER_GCS_DIR (default
# ~/.cache/ember/fake-gcs-server/<version>); a stamp marks a complete build.
# About 45 s with a warm Go module cache, a few minutes cold.
set -euo pipefail
VERSION=v1.56.1
ROOT=${EMBER_GCS_DIR:-$HOME/.cache/ember/fake-gcs-server}/$VERSION
if [[ ! -f $ROOT/.complete ]]; then
    mkdir -p "$ROOT"
    exec 9>"$ROOT/.lock"
    flock 9
    if [[ ! -f $ROOT/.complete ]]; then
        echo "gcs: building fake-gcs-server@$VERSION into $ROOT (first run only)" >&2
        (cd "$ROOT" && GOBIN=$ROOT/bin GOFLAGS=-modcacherw \
            go install "github.com/fsouza/fake-gcs-server@$VERSION") >&2
        touch "$ROOT/.complete"
    fi
fi
echo "$ROOT/bin/fake-gcs-server"
