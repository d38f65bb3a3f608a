#!/usr/bin/env bash
# The Spark baseline of `make bench`: runs job.py (the seed's Structured Streaming job,
# Kafka -> from_json -> Cassandra, trigger availableNow) once and passes its one JSON line of
# measurements through on stdout. Everything else goes to stderr.
#
#   benches/spark/run.sh --brokers B --topic T --cassandra H:P --keyspace K --table TBL \
#       [--max-offsets-per-trigger N] [--create-table]
#
# First run only: creates the PySpark venv (venv.sh) and resolves the connector jars with
# Maven (pom.xml) into $EMBER_SPARK_JARS/<pom hash> (default ~/.cache/ember/spark-jars),
# with a .complete stamp written after a full copy; later runs need no network.
# Environment: EMBER_SPARK_JAVA_HOME (default /usr/lib/jvm/java-17-openjdk-amd64; Spark 3.5
# needs Java 17), EMBER_SPARK_VENVS, EMBER_SPARK_JARS, EMBER_STACK_CACHE (Maven's repository
# is $EMBER_STACK_CACHE/m2, shared with stack/stack.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "spark-baseline: error: $*" >&2; exit 1; }
info() { echo "spark-baseline: $*" >&2; }
usage() {
  sed -n '6,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# --- arguments (checked here so a typo fails before any download) --------------------------
declare -A need=([--brokers]= [--topic]= [--cassandra]= [--keyspace]= [--table]=)
args=("$@")
while (($#)); do
  case $1 in
    --brokers | --topic | --cassandra | --keyspace | --table)
      (($# >= 2)) || die "$1 needs a value"
      need[$1]=$2
      shift 2
      ;;
    --max-offsets-per-trigger)
      (($# >= 2)) && [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive number"
      shift 2
      ;;
    --create-table) shift ;;
    -h | --help) usage ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for k in "${!need[@]}"; do [[ -n ${need[$k]} ]] || die "$k is required (see --help)"; done
[[ ${need[--cassandra]} =~ ^[^:]+:[0-9]+$ ]] || die "--cassandra must be host:port, got ${need[--cassandra]}"

# --- JDK -----------------------------------------------------------------------------------
export JAVA_HOME=${EMBER_SPARK_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}
[[ -x $JAVA_HOME/bin/java ]] || die "no JDK at $JAVA_HOME (Spark 3.5 needs Java 17; set EMBER_SPARK_JAVA_HOME)"
java_major=$("$JAVA_HOME/bin/java" -XshowSettings:properties -version 2>&1 |
  sed -n 's/^ *java.specification.version = //p')
[[ $java_major == 17 ]] ||
  die "$JAVA_HOME is Java $java_major; Spark 3.5 runs on Java 17 here (Java 25: 'getSubject is not supported')"
export PATH=$JAVA_HOME/bin:$PATH
export SPARK_LOCAL_IP=127.0.0.1
unset SPARK_HOME PYSPARK_SUBMIT_ARGS # the venv's pyspark, nothing else

# --- venv ----------------------------------------------------------------------------------
venv=$(bash "$HERE/venv.sh") || die "could not create the PySpark venv (see above)"

# --- jars ----------------------------------------------------------------------------------
JARS_ROOT=${EMBER_SPARK_JARS:-$HOME/.cache/ember/spark-jars}
M2=${EMBER_STACK_CACHE:-$HOME/.cache/ember/stack}/m2
pom_hash=$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)
lib=$JARS_ROOT/${pom_hash:0:16}
jars_ready() { [[ -f $lib/.complete && $(<"$lib/.complete") == "$pom_hash" ]]; }
if ! jars_ready; then
  command -v mvn >/dev/null || die "mvn not found (needed once to download the Spark connector jars)"
  mkdir -p "$JARS_ROOT"
  exec 9>"$JARS_ROOT/.lock"
  flock 9 # two runs at once must not fill the same folder
  if ! jars_ready; then
    t0=$SECONDS
    info "downloading the Kafka source and Cassandra connector jars from Maven Central into $lib (first run only: 14 jars, ~18 MB)"
    rm -rf "$lib.tmp"
    mvn_log=$JARS_ROOT/maven.log
    # Copy into a temp folder and rename, so an interrupted run never looks complete.
    mvn -B -q -f "$HERE/pom.xml" -Dmaven.repo.local="$M2" \
      -DoutputDirectory="$lib.tmp" dependency:copy-dependencies >"$mvn_log" 2>&1 ||
      { tail -n 40 "$mvn_log" >&2; die "Maven could not resolve $HERE/pom.xml (log: $mvn_log)"; }
    rm -rf "$lib"
    mv "$lib.tmp" "$lib"
    echo "$pom_hash" >"$lib/.complete"
    info "$(find "$lib" -name '*.jar' | wc -l) jars ($(du -sm "$lib" | cut -f1) MB) in $((SECONDS - t0)) s"
  fi
  flock -u 9
  exec 9>&-
fi
jars=$(find "$lib" -maxdepth 1 -name '*.jar' | sort | paste -sd, -)
[[ -n $jars ]] || die "no jars in $lib (remove it to re-resolve)"

# --- run -----------------------------------------------------------------------------------
# job.py writes the JSON line to stdout only on success; capture it so a failure never
# leaves a partial line behind, and check it is one line of JSON.
out=$("$venv/bin/python" "$HERE/job.py" "${args[@]}" --jars "$jars" \
  --log4j "$HERE/log4j2.properties") || die "the Spark job failed (exit $?; its log is above)"
[[ $(printf '%s\n' "$out" | wc -l) == 1 && $out == '{'*'}' ]] ||
  die "the Spark job printed no single JSON line on stdout: $out"
printf '%s\n' "$out"
