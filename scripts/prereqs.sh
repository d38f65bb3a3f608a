#!/usr/bin/env bash
# Checks, in seconds, everything `make demo`, `make up` and `make test` need before they spend
# half an hour compiling, and says exactly what to do about each missing piece.
#
#   prereqs.sh [up|demo|test]      (default: demo)
#
#   up    Java 17 (Kafka 4 and Cassandra 5.0), Maven (downloads their jars once), Python 3
#   demo  up + Rust at the workspace's rust-version, cmake, a C and a C++ compiler, pkg-config,
#         and the headers the bundled librdkafka build includes (curl, sasl, openssl, zlib)
#   test  demo + Python venv (Airflow, moto), Go (docker compose, fake-gcs-server), openssl,
#         chromium (the dashboard test, headless)
#
# Missing Debian packages are installed with apt-get when this runs as root or with
# passwordless sudo (as .ci/run does); otherwise, or with EMBER_PREREQS_NO_INSTALL=1, it stops
# and prints the one command that installs them. Tools apt cannot give at the right version
# (Rust, Go) get their own instructions. Exit 0 when everything is there, 1 otherwise.
#
# The C compiler is $CC (default cc), as for the cc crate and CMake; the JDK is the one
# stack/stack.sh picks: $EMBER_STACK_JAVA_HOME, else Debian's OpenJDK 17, else `java`.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
MODE=${1:-demo}
case $MODE in up | demo | test) ;; *)
    echo "usage: prereqs.sh [up|demo|test]" >&2
    exit 2
    ;;
esac

missing=()  # one line per missing piece, printed at the end
packages=() # Debian packages that provide them

lack() { # $1 = message, $2... = Debian packages that fix it (none: instructions in $1)
    missing+=("$1")
    shift
    packages+=("$@")
}

# Version "a.b.c" >= "x.y"?
version_at_least() {
    local IFS=.
    local -a have=($1) want=($2)
    local i
    for i in 0 1 2; do
        ((${have[i]:-0} > ${want[i]:-0})) && return 0
        ((${have[i]:-0} < ${want[i]:-0})) && return 1
    done
    return 0
}

# --- the build: Rust and the native parts of the dependencies --------------------------------
check_rust() {
    local want have
    want=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$REPO/Cargo.toml" | head -1)
    if ! command -v cargo >/dev/null || ! command -v rustc >/dev/null; then
        lack "Rust is not installed (cargo/rustc not on PATH): install Rust $want or newer with rustup, https://rustup.rs (curl https://sh.rustup.rs -sSf | sh), then open a new shell"
        return
    fi
    have=$(rustc --version 2>/dev/null | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p')
    if [[ -z $have ]]; then
        lack "rustc on PATH ($(command -v rustc)) does not answer --version: reinstall Rust with rustup"
    elif ! version_at_least "$have" "$want"; then
        lack "Rust $have is older than the $want this workspace needs: rustup update stable"
    fi
}

check_tool() { # $1 = command, $2 = what it is for, $3 = Debian package
    command -v "$1" >/dev/null || lack "$1 not found (needed for $2)" "$3"
}

# A header is there when the C compiler's preprocessor finds it: what the build will do.
check_header() { # $1 = header, $2 = what needs it, $3 = Debian package
    command -v "${CC:-cc}" >/dev/null || return 0 # reported by check_tool already
    printf '#include <%s>\n' "$1" | "${CC:-cc}" -E -x c - >/dev/null 2>&1 ||
        lack "header <$1> not found (needed by $2)" "$3"
}

check_build() {
    check_rust
    check_tool cmake "the bundled librdkafka build (rdkafka's cmake-build feature)" cmake
    check_tool "${CC:-cc}" "librdkafka, zstd and the other C dependencies" gcc
    check_tool c++ "the librdkafka CMake project (it enables C++)" g++
    check_tool pkg-config "openssl-sys to find OpenSSL" pkg-config
    # librdkafka 2.12 includes curl/curl.h even with curl off (an upstream #ifdef on a
    # #cmakedefine01 macro in its CMake build).
    check_header curl/curl.h "librdkafka's CMake build, even with its curl feature off" libcurl4-openssl-dev
    check_header sasl/sasl.h "librdkafka's SASL/GSSAPI support" libsasl2-dev
    check_header openssl/ssl.h "TLS in librdkafka, the Cassandra driver and the HTTP client" libssl-dev
    check_header zlib.h "librdkafka's gzip support" zlib1g-dev
}

# --- the stack: Java 17, Maven, Python 3 ------------------------------------------------------
check_java() {
    local java=
    if [[ -n ${EMBER_STACK_JAVA_HOME:-} ]]; then
        java=$EMBER_STACK_JAVA_HOME/bin/java
    elif [[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then
        java=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
    else
        java=$(command -v java) || java=
    fi
    if [[ -z $java || ! -x $java ]]; then
        lack "Java 17 not found (Kafka 4 and Cassandra 5.0 run on it; set EMBER_STACK_JAVA_HOME to a JDK 17 elsewhere)" openjdk-17-jdk-headless
        return
    fi
    local major
    major=$("$java" -version 2>&1 | sed -n 's/.* version "\([0-9]*\)[."].*/\1/p' | head -1)
    [[ $major == 17 ]] ||
        lack "$java is Java ${major:-of unknown version}; Cassandra 5.0 needs 17 (Kafka 4 takes 17+): install a JDK 17 or set EMBER_STACK_JAVA_HOME" openjdk-17-jdk-headless
}

check_stack() {
    check_java
    check_tool mvn "downloading the Kafka and Cassandra jars from Maven Central (first run)" maven
    check_tool flock "the stack scripts sharing one download cache" util-linux
    if ! command -v python3 >/dev/null; then
        lack "python3 not found (the stack's health checks and the demo's report)" python3
    fi
}

check_test() {
    if command -v python3 >/dev/null && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        lack "python3 cannot create virtualenvs (the Airflow and S3 test tools install into them)" python3-venv
    fi
    command -v go >/dev/null ||
        lack "go not found (the tests build docker compose and fake-gcs-server from the Go module proxy): install Go 1.24+ from https://go.dev/dl and put its bin on PATH"
    check_tool openssl "the security tests' certificates" openssl
    # Debian's package, driven over the DevTools protocol; nothing downloads a browser.
    [[ -x ${CHROMIUM:-/usr/bin/chromium} ]] ||
        lack "chromium not found (tests/observability.rs loads the dashboard in it, headless)" chromium
}

check_stack
[[ $MODE == up ]] || check_build
[[ $MODE == test ]] && check_test

if ((${#missing[@]} == 0)); then
    exit 0
fi

# Deduplicated package list, in the order found.
declare -A seen=()
apt_pkgs=()
for p in "${packages[@]}"; do
    [[ -n ${seen[$p]:-} ]] || { seen[$p]=1; apt_pkgs+=("$p"); }
done

can_install() {
    ((${#apt_pkgs[@]} > 0)) && [[ -z ${EMBER_PREREQS_NO_INSTALL:-} ]] && command -v apt-get >/dev/null || return 1
    [[ $(id -u) == 0 ]] && { SUDO=(); return 0; }
    command -v sudo >/dev/null && sudo -n true 2>/dev/null && { SUDO=(sudo); return 0; }
    return 1
}

SUDO=()
if can_install; then
    echo "prereqs: installing ${apt_pkgs[*]} with apt-get" >&2
    if "${SUDO[@]}" apt-get update -qq &&
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" >&2; then
        # Check again: whatever apt could not fix (Rust, Go) is still reported below.
        exec env EMBER_PREREQS_NO_INSTALL=1 bash "${BASH_SOURCE[0]}" "$MODE"
    fi
    echo "prereqs: apt-get failed" >&2
fi

{
    echo "prereqs: missing for 'make $MODE':"
    for m in "${missing[@]}"; do echo "  - $m"; done
    if ((${#apt_pkgs[@]} > 0)); then
        echo "Install the Debian packages with:"
        echo "  sudo apt-get install -y ${apt_pkgs[*]}"
    fi
} >&2
exit 1
