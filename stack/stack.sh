#!/usr/bin/env bash
# Local service stack for Ember: Apache Kafka 4.4.0 (KRaft, broker+controller in one JVM) and
# Apache Cassandra 5.0.9 as plain local processes on 127.0.0.1 -- no Docker engine on our
# machines. Jars come from Maven Central through one pom per service (their classpaths
# conflict) into a git-ignored cache; data, logs, pid files and generated configs live in a
# git-ignored runtime dir. See stack/README.md.
#
#   stack.sh up|start [kafka|cassandra...]    start (default: both) and wait until healthy
#   stack.sh down|stop [kafka|cassandra...]   SIGTERM, SIGKILL after 30 s
#   stack.sh restart [service...]             down then up
#   stack.sh kill9 <service...>               SIGKILL (fault tests: crash, then `up` again)
#   stack.sh status [service...]              running/healthy/stopped; exit 0 only if all healthy
#   stack.sh logs [service] [-f]              tail of the service logs
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

# Cache (jars, Maven repo) is shared by every stack instance; the runtime dir is per instance,
# so tests can run a second stack with EMBER_STACK_DIR and their own ports.
CACHE=${EMBER_STACK_CACHE:-$REPO/.cache/stack}
STACK_DIR=${EMBER_STACK_DIR:-$REPO/.stack}
TIMEOUT=${EMBER_STACK_TIMEOUT:-120}

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
CASSANDRA_PORT=${CASSANDRA_PORT:-9042}
CASSANDRA_STORAGE_PORT=${CASSANDRA_STORAGE_PORT:-7000}
CASSANDRA_JMX_PORT=${CASSANDRA_JMX_PORT:-7199}
# Auth tests run their own instance with PasswordAuthenticator (superuser cassandra/cassandra).
CASSANDRA_AUTHENTICATOR=${CASSANDRA_AUTHENTICATOR:-AllowAllAuthenticator}
CASSANDRA_AUTHORIZER=${CASSANDRA_AUTHORIZER:-AllowAllAuthorizer}
# Secured instances (stack/secure-stack.sh): extra `StorageTool format` arguments (e.g.
# --add-scram), and extra health-check arguments, one a line, for kafka_ping.py / cql_ping.py
# (e.g. --tls, --cafile, --sasl-plain). The health-check ones are saved beside the instance's
# config at start, so `status` works without them in the environment.
KAFKA_FORMAT_ARGS=${KAFKA_FORMAT_ARGS:-}
KAFKA_PING_ARGS=${KAFKA_PING_ARGS:-}
CQL_PING_ARGS=${CQL_PING_ARGS:-}

ALL_SERVICES=(kafka cassandra)
LOG_TAIL_LINES=40

die() { echo "stack: error: $*" >&2; exit 1; }
info() { echo "stack: $*"; }

# Paths must be absolute: they go into configs and -D flags of processes started elsewhere.
mkdir -p "$CACHE" "$STACK_DIR"
CACHE=$(cd "$CACHE" && pwd)
STACK_DIR=$(cd "$STACK_DIR" && pwd)

# --- time --------------------------------------------------------------------------------
now_us() { echo "${EPOCHREALTIME/./}"; }
fmt_since() { # $1 = start in µs -> "12.3 s"
  local d=$(( ($(now_us) - $1) / 100000 ))
  printf '%d.%d s' $((d / 10)) $((d % 10))
}

# --- Java ----------------------------------------------------------------------------------
# Pin JDK 17: Cassandra 5.0 runs on 11 or 17 only, Kafka 4 needs 17+, and the machine also has
# a Temurin 25 that an exported JAVA_HOME may point at. EMBER_STACK_JAVA_HOME overrides.
pick_java() {
  local jh=${EMBER_STACK_JAVA_HOME:-}
  if [[ -z $jh && -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then
    jh=/usr/lib/jvm/java-17-openjdk-amd64
  fi
  if [[ -n $jh ]]; then
    JAVA=$jh/bin/java
    export JAVA_HOME=$jh # also used by mvn
  else
    JAVA=$(command -v java) || die "no JDK 17 found: install openjdk-17 or set EMBER_STACK_JAVA_HOME"
  fi
  [[ -x $JAVA ]] || die "$JAVA is not executable"
  # `java -version` prints e.g. openjdk version "17.0.15" (or "1.8.0_x" for old JDKs).
  JAVA_MAJOR=$("$JAVA" -version 2>&1 | sed -n 's/.* version "\([0-9]*\)[."].*/\1/p' | head -1)
  [[ -n $JAVA_MAJOR ]] || die "cannot tell the version of $JAVA"
}

check_java_for() {
  case $1 in
    kafka) ((JAVA_MAJOR >= 17)) || die "Kafka 4 needs Java 17+, $JAVA is $JAVA_MAJOR (set EMBER_STACK_JAVA_HOME)" ;;
    cassandra) [[ $JAVA_MAJOR == 11 || $JAVA_MAJOR == 17 ]] ||
      die "Cassandra 5.0 runs on Java 11 or 17 only, $JAVA is $JAVA_MAJOR (set EMBER_STACK_JAVA_HOME)" ;;
  esac
}

# --- jars ----------------------------------------------------------------------------------
# A flat folder per service, filled by maven-dependency-plugin. The stamp holds the pom's hash
# and is written only after a complete copy, so later runs skip Maven entirely (no network)
# and a changed pom re-resolves.
lib_dir() { echo "$CACHE/lib/$1"; }

jars_ready() {
  local stamp pom_hash
  stamp="$(lib_dir "$1")/.complete"
  pom_hash=$(sha256sum "$HERE/$1/pom.xml" | cut -d' ' -f1)
  [[ -f $stamp && $(<"$stamp") == "$pom_hash" ]]
}

# What the first start downloads, as measured on a 2-core machine (2026-11-25).
download_size() {
  case $1 in
    kafka) echo "47 jars, ~44 MB" ;;
    cassandra) echo "100 jars, ~67 MB" ;;
  esac
}

resolve_jars() {
  local svc=$1 lib pom t0
  jars_ready "$svc" && return 0
  lib=$(lib_dir "$svc")
  pom=$HERE/$svc/pom.xml
  command -v mvn >/dev/null || die "mvn not found (needed once to download the $svc jars)"
  mkdir -p "$CACHE/lib"
  # Several stack instances share the cache: only one of them may run Maven at a time.
  exec 9>"$CACHE/.lock"
  flock 9
  if ! jars_ready "$svc"; then
    t0=$(now_us)
    info "$svc: downloading its jars from Maven Central into $lib (first run only: $(download_size "$svc"), seconds on a good link)"
    rm -rf "$lib.tmp"
    # Copy into a temp folder and rename, so an interrupted run never looks complete.
    # Maven's output goes to a log (even -q -B prints colour escapes); shown on failure only.
    local mvn_log=$CACHE/lib/$svc.maven.log
    mvn -B -q -f "$pom" -Dmaven.repo.local="$CACHE/m2" \
      -DoutputDirectory="$lib.tmp" dependency:copy-dependencies >"$mvn_log" 2>&1 ||
      { tail -n "$LOG_TAIL_LINES" "$mvn_log" >&2; die "$svc: Maven could not resolve $pom (log: $mvn_log)"; }
    rm -rf "$lib"
    mv "$lib.tmp" "$lib"
    sha256sum "$pom" | cut -d' ' -f1 >"$lib/.complete"
    info "$svc: $(find "$lib" -name '*.jar' | wc -l) jars ($(du -sm "$lib" | cut -f1) MB) in $(fmt_since "$t0")"
  fi
  flock -u 9
  exec 9>&-
}

# --- processes -----------------------------------------------------------------------------
svc_dir() { echo "$STACK_DIR/$1"; }
pid_file() { echo "$STACK_DIR/$1.pid"; }
# Every JVM we start carries this marker, so a pid file pointing at a recycled pid (another
# program) is recognised as stale.
marker() { echo "-Dember.stack.instance=$(svc_dir "$1")"; }

is_ours() { # pid service
  local pid=$1 state
  [[ -r /proc/$pid/cmdline ]] || return 1
  # A SIGKILLed child of a non-reaping init stays a zombie: it counts as dead.
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ $state != Z ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$(marker "$2")"
}

# Prints the pid of the running service, or fails (removing a stale pid file).
svc_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid" "$1"; then
    echo "$pid"
    return 0
  fi
  info "$1: removing stale pid file (pid ${pid:-?} is not running)" >&2
  rm -f "$f"
  return 1
}

svc_ports() {
  case $1 in
    kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ;;
    cassandra) echo "$CASSANDRA_PORT $CASSANDRA_STORAGE_PORT $CASSANDRA_JMX_PORT" ;;
  esac
}
main_port() { case $1 in kafka) echo "$KAFKA_PORT" ;; cassandra) echo "$CASSANDRA_PORT" ;; esac; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The extra health-check arguments saved at start (see KAFKA_PING_ARGS), into PING_EXTRA.
ping_extra() {
  PING_EXTRA=()
  local f line
  f="$(svc_dir "$1")/conf/ping.args"
  [[ -f $f ]] || return 0
  while IFS= read -r line; do [[ -n $line ]] && PING_EXTRA+=("$line"); done <"$f"
}

save_ping_args() { # service args-text
  printf '%s\n' "$2" >"$(svc_dir "$1")/conf/ping.args"
}

healthy() {
  ping_extra "$1"
  case $1 in
    kafka) python3 "$HERE/kafka_ping.py" -q --port "$KAFKA_PORT" --timeout 2 ${PING_EXTRA[@]+"${PING_EXTRA[@]}"} ;;
    cassandra)
      # Ask the running instance's config, not the environment: `status` run without the
      # CASSANDRA_AUTHENTICATOR of the `up` that started it must still log in.
      local auth=() authn
      authn=$(sed -n 's/^authenticator: *//p' "$(svc_dir cassandra)/conf/cassandra.yaml" 2>/dev/null || true)
      if [[ ${authn:-$CASSANDRA_AUTHENTICATOR} == *PasswordAuthenticator ]]; then
        auth=(--user "${CQL_USER:-cassandra}" --password "${CQL_PASSWORD:-cassandra}")
      fi
      python3 "$HERE/cql_ping.py" -q --port "$CASSANDRA_PORT" --timeout 2 ${auth[@]+"${auth[@]}"} \
        ${PING_EXTRA[@]+"${PING_EXTRA[@]}"}
      ;;
  esac
}

main_log() { case $1 in kafka) echo "$(svc_dir kafka)/logs/server.log" ;; cassandra) echo "$(svc_dir cassandra)/logs/system.log" ;; esac; }
console_log() { echo "$(svc_dir "$1")/logs/console.log"; }

show_log_tail() {
  local f
  for f in "$(main_log "$1")" "$(console_log "$1")"; do
    [[ -s $f ]] || continue
    echo "----- last $LOG_TAIL_LINES lines of $f -----" >&2
    tail -n "$LOG_TAIL_LINES" "$f" >&2
  done
}

# launch service cmd... : start detached, record the JVM's own pid.
launch() {
  local svc=$1 dir pidf
  shift
  dir=$(svc_dir "$svc")
  pidf=$(pid_file "$svc")
  rm -f "$pidf"
  echo "===== $(date -Is) starting $svc =====" >>"$(console_log "$svc")"
  # setsid + nohup: the JVM gets its own session and outlives this shell and its terminal.
  # The inner bash writes its own pid and then execs java, so the pid file holds the JVM's
  # pid. Every step execs, and the redirections sit on the background subshell itself: no
  # shell lingers holding our stdout (a caller piping `up` into something would hang) and
  # fd 8 (the instance lock) does not leak into the JVM.
  (
    cd "$dir"
    exec setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$@"
  ) >>"$(console_log "$svc")" 2>&1 </dev/null 8>&- &
  local i
  for i in $(seq 50); do
    [[ -s $pidf ]] && return 0
    sleep 0.1
  done
  die "$svc: the process did not start (no pid file)"
}

# --- Kafka ---------------------------------------------------------------------------------
write_kafka_config() {
  local d=$1
  cat >"$d/conf/server.properties" <<EOF
# Generated by stack/stack.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$d/data

# Single node: every replication factor and ISR is 1.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests create topics by producing to them, and consumer groups should not wait 3 s.
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0

# Room for ~1 MiB test values plus headers (a dead-letter copy carries extra headers).
# Replication fetches must be able to carry the largest message.
message.max.bytes=2097152
replica.fetch.max.bytes=2097152

# After a kill -9 the restarted broker is refused (DUPLICATE_BROKER_REGISTRATION) until the
# old session expires: 6 s instead of the default 9 s shortens fault tests.
broker.session.timeout.ms=6000

# Two cores: keep the thread pools small.
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
EOF
  if [[ -n ${KAFKA_EXTRA_PROPERTIES:-} ]]; then
    # Later keys win in java.util.Properties, so this can override anything above.
    printf '\n# KAFKA_EXTRA_PROPERTIES\n%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$d/conf/server.properties"
  fi

  cat >"$d/conf/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by stack/stack.sh. Kafka uses SLF4J 1.7 -> log4j-slf4j-impl -> log4j2.
     shutdownHook="disable": log4j must not stop before Kafka's own shutdown hook has
     logged its clean shutdown. -->
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <RollingFile name="server" fileName="$d/logs/server.log" filePattern="$d/logs/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="50 MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
    <!-- Per-request logging is far too chatty at INFO. -->
    <Logger name="kafka.request.logger" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

start_kafka() {
  local d lib
  d=$(svc_dir kafka)
  lib=$(lib_dir kafka)
  mkdir -p "$d/conf" "$d/data" "$d/logs"
  write_kafka_config "$d"
  save_ping_args kafka "$KAFKA_PING_ARGS"
  local log_opts=(-Dlog4j2.configurationFile="file:$d/conf/log4j2.xml" -Dkafka.logs.dir="$d/logs")
  # KRaft storage is formatted once; a second format would refuse (or wipe) existing data.
  if [[ ! -f $d/data/meta.properties ]]; then
    local cluster_id
    cluster_id=$("$JAVA" -cp "$lib/*" "${log_opts[@]}" kafka.tools.StorageTool random-uuid)
    info "kafka: formatting KRaft storage in $d/data (cluster id $cluster_id)"
    # No --standalone: the quorum is the static controller.quorum.voters above.
    local format_extra=()
    [[ -z $KAFKA_FORMAT_ARGS ]] || read -ra format_extra <<<"$KAFKA_FORMAT_ARGS"
    "$JAVA" -cp "$lib/*" "${log_opts[@]}" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$d/conf/server.properties" ${format_extra[@]+"${format_extra[@]}"} \
      >>"$(console_log kafka)" 2>&1 ||
      { show_log_tail kafka; die "kafka: formatting storage failed"; }
  fi
  launch kafka "$JAVA" "$(marker kafka)" \
    -Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    "${log_opts[@]}" -cp "$lib/*" kafka.Kafka "$d/conf/server.properties"
}

# --- Cassandra -----------------------------------------------------------------------------
write_cassandra_config() {
  local d=$1
  cat >"$d/conf/cassandra.yaml" <<EOF
# Generated by stack/stack.sh on every start; edit the script, not this file.
cluster_name: ember-local
num_tokens: 16
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
data_file_directories:
  - "$d/data/data"
commitlog_directory: "$d/data/commitlog"
saved_caches_directory: "$d/data/saved_caches"
hints_directory: "$d/data/hints"
cdc_raw_directory: "$d/data/cdc_raw"
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$CASSANDRA_STORAGE_PORT"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $CASSANDRA_STORAGE_PORT
native_transport_port: $CASSANDRA_PORT
start_native_transport: true
endpoint_snitch: SimpleSnitch
authenticator: $CASSANDRA_AUTHENTICATOR
authorizer: $CASSANDRA_AUTHORIZER
EOF
  if [[ -n ${CASSANDRA_EXTRA_YAML:-} ]]; then
    # Only for keys not set above: a duplicate key is a YAML error.
    printf '\n# CASSANDRA_EXTRA_YAML\n%s\n' "$CASSANDRA_EXTRA_YAML" >>"$d/conf/cassandra.yaml"
  fi

  # cassandra-all ships no logback.xml: without one it would log DEBUG to the console.
  cat >"$d/conf/logback.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by stack/stack.sh. -->
<configuration scan="false">
  <appender name="SYSTEMLOG" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>$d/logs/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>$d/logs/system.log.%i</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>3</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>50MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="SYSTEMLOG"/>
  </root>
</configuration>
EOF
}

start_cassandra() {
  local d lib jamm
  d=$(svc_dir cassandra)
  lib=$(lib_dir cassandra)
  mkdir -p "$d/conf" "$d/data" "$d/logs" "$d/triggers"
  write_cassandra_config "$d"
  save_ping_args cassandra "$CQL_PING_ARGS"
  # Without jamm as an agent the JVM dies at start (memory measurement of memtables).
  jamm=$(find "$lib" -maxdepth 1 -name 'jamm-*.jar' | head -1)
  [[ -n $jamm ]] || die "cassandra: no jamm jar in $lib"

  local opts=(
    -ea -XX:+UseThreadPriorities -Xss256k -XX:+UseTLAB -XX:+ResizeTLAB -XX:+PerfDisableSharedMem
    -Djava.net.preferIPv4Stack=true -XX:+CrashOnOutOfMemoryError -Xms256m -Xmx1g
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m
    -XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300
    -XX:InitiatingHeapOccupancyPercent=70
    -Djdk.attach.allowAttachSelf=true
    -Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.useCacheForAllThreads=true
    -Dio.netty.allocator.maxOrder=11
    "-javaagent:$jamm"
    -Dcassandra.config="file://$d/conf/cassandra.yaml" -Dcassandra-foreground=yes
    -Dcassandra.storagedir="$d/data" -Dcassandra.logdir="$d/logs"
    -Dlogback.configurationFile="file://$d/conf/logback.xml"
    -Dcassandra.jmx.local.port="$CASSANDRA_JMX_PORT"
    -Dcassandra.skip_wait_for_gossip_to_settle=0
    -Dcassandra.triggers_dir="$d/triggers"
    # Auth instances: create the default superuser at once instead of ~10 s after start.
    -Dcassandra.superuser_setup_delay_ms=0
  )
  # Java 17 module access, as in Cassandra's conf/jvm17-server.options.
  local m
  for m in java.base/jdk.internal.misc java.management.rmi/com.sun.jmx.remote.internal.rmi \
    java.rmi/sun.rmi.registry java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref \
    jdk.unsupported/sun.misc jdk.compiler/com.sun.tools.javac.file jdk.attach/sun.tools.attach; do
    opts+=(--add-exports "$m=ALL-UNNAMED")
  done
  for m in java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref \
    java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module \
    java.base/jdk.internal.util.jar jdk.management/com.sun.management.internal \
    java.base/sun.nio.ch java.base/java.io java.base/java.lang.reflect \
    jdk.compiler/com.sun.tools.javac java.base/java.lang java.base/java.util; do
    opts+=(--add-opens "$m=ALL-UNNAMED")
  done
  launch cassandra "$JAVA" "$(marker cassandra)" "${opts[@]}" -cp "$lib/*" \
    org.apache.cassandra.service.CassandraDaemon
}

# --- commands ------------------------------------------------------------------------------
# Serialise commands that change one instance (two `up`s racing would start two JVMs).
lock_instance() {
  exec 8>"$STACK_DIR/.lock"
  flock 8
}

# Sets SVCS to the requested services (default all), in start order. Runs in the main shell
# (not in a $(...)) so that `die` on a bad name really stops the script.
parse_services() {
  local s want=("$@")
  ((${#want[@]})) || want=("${ALL_SERVICES[@]}")
  for s in "${want[@]}"; do
    case $s in kafka | cassandra) ;; *) die "unknown service '$s' (kafka|cassandra)" ;; esac
  done
  SVCS=()
  # Cassandra first: it is the slower one, Kafka formats and starts while it boots.
  for s in cassandra kafka; do
    if [[ " ${want[*]} " == *" $s "* ]]; then SVCS+=("$s"); fi
  done
}

wait_healthy() {
  local t0=$1 deadline s pending next pid
  shift
  pending=("$@")
  deadline=$((SECONDS + TIMEOUT))
  while ((${#pending[@]})); do
    next=()
    for s in "${pending[@]}"; do
      if healthy "$s"; then
        info "$s: healthy after $(fmt_since "$t0") (pid $(svc_pid "$s" || echo ?), port $(main_port "$s"))"
      elif ! pid=$(svc_pid "$s" 2>/dev/null); then
        show_log_tail "$s"
        die "$s: the process exited during start-up (logs above, full logs in $(svc_dir "$s")/logs)"
      else
        next+=("$s")
      fi
    done
    pending=(${next[@]+"${next[@]}"})
    ((${#pending[@]})) || break
    if ((SECONDS >= deadline)); then
      for s in "${pending[@]}"; do show_log_tail "$s"; done
      die "${pending[*]}: not healthy within ${TIMEOUT} s (EMBER_STACK_TIMEOUT; logs above); still running, stop with: EMBER_STACK_DIR=$STACK_DIR $0 down ${pending[*]}"
    fi
    sleep 0.5
  done
}

cmd_up() {
  local t0 s pid port svcs to_wait=()
  t0=$(now_us)
  parse_services "$@"
  svcs=("${SVCS[@]}")
  pick_java
  for s in "${svcs[@]}"; do check_java_for "$s"; done
  for s in "${svcs[@]}"; do resolve_jars "$s"; done
  lock_instance
  for s in "${svcs[@]}"; do
    if pid=$(svc_pid "$s"); then
      if healthy "$s"; then
        info "$s: already running and healthy (pid $pid, port $(main_port "$s"))"
      else
        info "$s: already running (pid $pid), waiting for it to answer"
        to_wait+=("$s")
      fi
      continue
    fi
    # Something else on our ports (another stack instance, a stray broker) would make the
    # health check pass against the wrong process, or make ours fail obscurely.
    for port in $(svc_ports "$s"); do
      port_open "$port" && die "$s: port $port on 127.0.0.1 is already in use by another process"
    done
    info "$s: starting (data and logs in $(svc_dir "$s"))"
    "start_$s"
    to_wait+=("$s")
  done
  ((${#to_wait[@]} == 0)) || wait_healthy "$t0" "${to_wait[@]}"
  info "up (${svcs[*]}) in $(fmt_since "$t0")"
}

# stop_services SIGNAL grace_seconds services...
stop_services() {
  local sig=$1 grace=$2 s pid
  shift 2
  local -A pids=()
  for s in "$@"; do
    if pid=$(svc_pid "$s"); then
      info "$s: sending SIG$sig to pid $pid"
      kill "-$sig" "$pid" 2>/dev/null || true
      pids[$s]=$pid
    else
      info "$s: not running"
      rm -f "$(pid_file "$s")"
    fi
  done
  # Wait for all at once (Cassandra takes ~5 s to flush, Kafka under 1 s), so each one's
  # reported time is its own.
  local deadline=$((SECONDS + grace)) t0 killed=0
  t0=$(now_us)
  while ((${#pids[@]})); do
    for s in "${!pids[@]}"; do
      if ! is_ours "${pids[$s]}" "$s"; then
        rm -f "$(pid_file "$s")"
        info "$s: stopped ($(fmt_since "$t0"))"
        unset "pids[$s]"
      elif ((SECONDS >= deadline && !killed)); then
        info "$s: still running after ${grace} s, sending SIGKILL"
        kill -KILL "${pids[$s]}" 2>/dev/null || true
      fi
    done
    if ((SECONDS >= deadline)); then
      ((killed)) && ((SECONDS >= deadline + 5)) && die "${!pids[*]}: still alive after SIGKILL"
      killed=1
    fi
    ((${#pids[@]})) && sleep 0.2
  done
  return 0
}

cmd_down() {
  local svcs
  parse_services "$@"
  svcs=("${SVCS[@]}")
  lock_instance
  stop_services TERM 30 "${svcs[@]}"
}

cmd_kill9() {
  (($#)) || die "kill9 needs a service name (kafka|cassandra)"
  local svcs
  parse_services "$@"
  svcs=("${SVCS[@]}")
  lock_instance
  stop_services KILL 5 "${svcs[@]}"
}

cmd_status() {
  local svcs s pid rc=0 state
  parse_services "$@"
  svcs=("${SVCS[@]}")
  for s in "${svcs[@]}"; do
    if pid=$(svc_pid "$s" 2>/dev/null); then
      if healthy "$s"; then state=healthy; else state="running, not answering"; rc=3; fi
      printf '%-10s %-24s pid %-8s port %s\n' "$s" "$state" "$pid" "$(main_port "$s")"
    else
      printf '%-10s %-24s %-12s port %s\n' "$s" stopped "" "$(main_port "$s")"
      rc=3
    fi
  done
  echo "runtime dir: $STACK_DIR"
  return $rc
}

cmd_logs() {
  local follow=0 args=() s f files=()
  for s in "$@"; do
    if [[ $s == -f ]]; then follow=1; else args+=("$s"); fi
  done
  parse_services ${args[@]+"${args[@]}"}
  args=("${SVCS[@]}")
  for s in "${args[@]}"; do
    for f in "$(main_log "$s")" "$(console_log "$s")"; do [[ -f $f ]] && files+=("$f"); done
  done
  ((${#files[@]})) || die "no logs yet in $STACK_DIR"
  if ((follow)); then exec tail -n "$LOG_TAIL_LINES" -F "${files[@]}"; fi
  tail -n "$LOG_TAIL_LINES" "${files[@]}"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}

cmd=${1:-}
(($#)) && shift
case $cmd in
  up | start) cmd_up "$@" ;;
  down | stop) cmd_down "$@" ;;
  restart) cmd_down "$@" && cmd_up "$@" ;;
  kill9) cmd_kill9 "$@" ;;
  status) cmd_status "$@" ;;
  logs) cmd_logs "$@" ;;
  -h | --help | help) usage 0 ;;
  *) usage 2 >&2 ;;
esac
