#!/usr/bin/env bash
# `make demo`: the classic pipeline end to end on the local stack.
# Produces 100,000 users (seed 42) to users_created (4 partitions), runs
# pipelines/users.toml with --trigger available-now, then checks that
# Cassandra holds every one of them. Exits non-zero if the counts differ.
# The stack is left running (`make down` stops it).
set -euo pipefail
cd "$(dirname "$0")/.."

EMBER=${EMBER_BIN:-${CARGO_TARGET_DIR:-target}/release/ember}

# `demo.sh --intro` (run by `make demo` before it builds): what is about to happen, and how
# long the first build takes on a small machine.
if [[ ${1:-} == --intro ]]; then
    if [[ -x $EMBER ]]; then
        build="build ember in release mode (an earlier build is there: seconds to a minute)"
    else
        build="build ember in release mode: the first build compiles ~430 crates (DataFusion,
     librdkafka, the Cassandra driver), 25 to 45 minutes on 2 cores (measured:
     48 CPU-minutes of compiling), less on more; later builds reuse it"
    fi
    cat <<EOF
make demo:
  1. $build
  2. start Kafka and Cassandra as local processes (the first start downloads ~110 MB of
     jars from Maven Central, then ~20 s to healthy)
  3. produce ${DEMO_COUNT:-100000} users, run pipelines/users.toml with --trigger available-now,
     and check that every user is a row in spark_streams.created_users
EOF
    exit 0
fi

COUNT=${DEMO_COUNT:-100000}
SEED=${DEMO_SEED:-42}
BROKERS=${EMBER_SOURCE__BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}
CASSANDRA=127.0.0.1:${CASSANDRA_PORT:-9042}
export EMBER_SOURCE__BROKERS=$BROKERS
export EMBER_SINKS__CREATED_USERS__CONTACT_POINTS=$CASSANDRA

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)

step "produce $COUNT users to users_created (4 partitions, seed $SEED)"
"$EMBER" produce --brokers "$BROKERS" --topic users_created --partitions 4 \
    --count "$COUNT" --seed "$SEED" --summary-json | tee /tmp/ember-demo-produce.txt
produced=$(tail -n1 /tmp/ember-demo-produce.txt | python3 -c 'import json,sys; print(json.load(sys.stdin)["produced"])')

step "ember run pipelines/users.toml --trigger available-now"
"$EMBER" run pipelines/users.toml --trigger available-now --summary-json | tee /tmp/ember-demo-run.txt
read -r written rows_per_sec seconds rejected < <(tail -n1 /tmp/ember-demo-run.txt | python3 -c '
import json, sys
s = json.load(sys.stdin)
rate = s["rows_in"] / s["seconds"] if s["seconds"] > 0 else 0
print(s["written_total"], round(rate), round(s["seconds"], 1), s["rejected"])')

step "what landed in Cassandra"
in_cassandra=$("$EMBER" cql --contact-point "$CASSANDRA" --tsv \
    "SELECT COUNT(*) FROM spark_streams.created_users")
"$EMBER" cql --contact-point "$CASSANDRA" \
    "SELECT id, first_name, last_name, gender, post_code, email, registered_date FROM spark_streams.created_users LIMIT 3"

python3 - "$produced" "$written" "$in_cassandra" "$rows_per_sec" "$seconds" "$rejected" "$(( $(date +%s) - started ))" <<'PY'
import sys
produced, written, stored, rate, secs, rejected, wall = sys.argv[1:]
rows = [
    ("produced to Kafka", produced),
    ("written by this run", written),
    ("dead-lettered / rejected", rejected),
    ("rows in spark_streams.created_users", stored),
    ("pipeline throughput", f"{int(rate):,} rows/s over {secs} s"),
    ("demo wall time (produce + run + check)", f"{wall} s"),
]
w = max(len(k) for k, _ in rows)
print()
for k, v in rows:
    print(f"  {k:<{w}}  {v}")
PY

if [ "$in_cassandra" != "$produced" ]; then
    echo "demo FAILED: $produced produced but $in_cassandra rows in Cassandra" >&2
    exit 1
fi
echo
echo "demo ok: every produced user is in Cassandra. The stack is still running: 'make down' stops it."
