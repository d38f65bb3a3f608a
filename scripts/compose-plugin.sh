#!/usr/bin/env bash
# Builds (once) the Docker Compose v2 CLI from the Go module proxy and prints its path.
#
# There is no Docker engine on our machines and the compose plugin is not packaged for
# them, but `docker compose config` needs no engine: it validates a file against the
# Compose specification. The binary is cached under ~/.cache/ember/tools (override with
# EMBER_TOOLS_CACHE), keyed by version; the Go module and build caches live beside it.
# It runs standalone (`docker-compose config -q`) or as a plugin of the docker CLI.
set -euo pipefail
VERSION=${COMPOSE_VERSION:-v5.6.0} # v5.7.0 needs Go >= 1.26.10
CACHE=${EMBER_TOOLS_CACHE:-$HOME/.cache/ember/tools}
out=$CACHE/compose-$VERSION/docker-compose
if [[ -x $out ]]; then
    echo "$out"
    exit 0
fi
command -v go >/dev/null || { echo "compose-plugin: go not found" >&2; exit 1; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.compose.lock"
flock 9
if [[ ! -x $out ]]; then
    t0=$(date +%s)
    echo "compose-plugin: building docker compose $VERSION from the Go proxy (first run only)" >&2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOTOOLCHAIN=local GOFLAGS=-mod=mod
    (
        cd "$work"
        go mod init ember-compose-build >/dev/null 2>&1
        # `go install …@version` is refused: the module has exclude directives.
        go get "github.com/docker/compose/v5/cmd@$VERSION" >&2
        go build -o "$out.tmp" github.com/docker/compose/v5/cmd >&2
    )
    mv "$out.tmp" "$out"
    echo "compose-plugin: built in $(( $(date +%s) - t0 )) s" >&2
fi
echo "$out"
