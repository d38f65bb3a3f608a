"""The Spark baseline of `make bench`: the seed's Structured Streaming job, measured.

Kafka topic (JSON users) -> from_json into the 12 string fields of pipelines/users.toml ->
the 11 columns of sql/created_users.sql -> Cassandra via the Spark Cassandra Connector,
with trigger(availableNow=True) and a fresh checkpoint. Prints exactly one JSON line of
measurements on stdout; everything else (Spark's and our logs) goes to stderr.

Run it through run.sh, which provides the venv, the jars (--jars) and the JDK.
"""

import os
import time


def _process_age_s():
    """Seconds since this process was started (by the kernel's count, so the interpreter's
    start-up and the imports below are included)."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 (starttime), counted after "pid (comm)"
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


T0_MONO = time.monotonic() - _process_age_s()
T0_EPOCH = time.time() - (time.monotonic() - T0_MONO)

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from datetime import datetime  # noqa: E402

SPARK_VERSION = "3.5.7"

# pipelines/users.toml [source].schema, in order; all strings (`id` too: the connector
# converts a string to the table's uuid).
FIELDS = [
    "id", "first_name", "last_name", "gender", "address", "post_code",
    "email", "username", "dob", "registered_date", "phone", "picture",
]
# sql/created_users.sql: every field but dob.
STORED = [
    "id", "first_name", "last_name", "gender", "address", "post_code",
    "email", "username", "registered_date", "phone", "picture",
]


def log(msg):
    print(f"spark-job: {msg}", file=sys.stderr, flush=True)


def since_t0():
    return time.monotonic() - T0_MONO


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--brokers", required=True, help="Kafka bootstrap servers, host:port[,…]")
    p.add_argument("--topic", required=True)
    p.add_argument("--cassandra", required=True, help="contact point host:port")
    p.add_argument("--keyspace", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--max-offsets-per-trigger", type=int, default=None,
                   help="records per micro-batch (default: everything in one batch)")
    p.add_argument("--create-table", action="store_true",
                   help="create the keyspace (SimpleStrategy, RF 1) and sql/created_users.cql "
                        "first, through the connector's own session")
    p.add_argument("--jars", default="", help="comma-separated jars (run.sh passes them)")
    p.add_argument("--log4j", default="", help="log4j2 properties file for the JVM")
    a = p.parse_args()
    host, sep, port = a.cassandra.rpartition(":")
    if not sep or not host or not port.isdigit():
        p.error(f"--cassandra must be host:port, got {a.cassandra!r}")
    a.cassandra_host, a.cassandra_port = host, port
    return a


def jvm_status(pid):
    """VmHWM / VmRSS of a process, in MB (None when unreadable)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    out[key] = round(int(rest.split()[0]) / 1024, 1)  # kB
    except OSError:
        pass
    return out


def create_table(spark, keyspace, table):
    """CREATE KEYSPACE/TABLE IF NOT EXISTS through the connector's CqlSession (no Python
    driver needed)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "sql", "created_users.cql")) as f:
        cql = "\n".join(line for line in f if not line.lstrip().startswith("--")).strip()
    cql = cql.rstrip(";").replace("created_users", f"{keyspace}.{table}", 1)
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.sc().getConf()
    connector = jvm.com.datastax.spark.connector.cql.CassandraConnector.apply(conf)
    session = connector.openSession()
    try:
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        session.execute(cql)
    finally:
        session.close()
    log(f"created {keyspace}.{table} (if missing)")


def main():
    args = parse_args()

    # Only the JSON line may reach stdout: point fd 1 at stderr for everything else (the
    # JVM, a child, inherits it), and keep the real stdout for the result.
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col, from_json
    from pyspark.sql.streaming import StreamingQueryListener
    from pyspark.sql.types import StringType, StructField, StructType

    java_opts = "-Dlog4j2.configurationFile=file:" + args.log4j if args.log4j else ""
    builder = (
        SparkSession.builder.appName("ember-bench-spark-baseline")
        .master("local[2]")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.streaming.numRecentProgressUpdates", "100000")
        .config("spark.cassandra.connection.host", args.cassandra_host)
        .config("spark.cassandra.connection.port", args.cassandra_port)
    )
    if args.jars:
        builder = builder.config("spark.jars", args.jars)
    if java_opts:
        builder = builder.config("spark.driver.extraJavaOptions", java_opts)
    spark = builder.getOrCreate()
    session_seconds = since_t0()
    spark.sparkContext.setLogLevel("WARN")
    if spark.version != SPARK_VERSION:
        log(f"warning: Spark is {spark.version}, expected {SPARK_VERSION}")
    jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    log(f"session ready in {session_seconds:.1f} s (JVM pid {jvm_pid})")

    if args.create_table:
        t = time.monotonic()
        create_table(spark, args.keyspace, args.table)
        log(f"--create-table took {time.monotonic() - t:.1f} s")

    class Progress(StreamingQueryListener):
        def onQueryStarted(self, event):
            pass

        def onQueryProgress(self, event):
            p = event.progress
            d = p.durationMs or {}
            log(f"batch {p.batchId}: {p.numInputRows} rows in {d.get('triggerExecution')} ms "
                f"(at {since_t0():.1f} s)")

        def onQueryIdle(self, event):
            pass

        def onQueryTerminated(self, event):
            pass

    spark.streams.addListener(Progress())
    log(f"listener added at {since_t0():.1f} s")

    schema = StructType([StructField(name, StringType(), True) for name in FIELDS])
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.brokers)
        .option("subscribe", args.topic)
        .option("startingOffsets", "earliest")
    )
    if args.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(args.max_offsets_per_trigger))
    users = (
        reader.load()
        .selectExpr("CAST(value AS STRING) AS value")
        .select(from_json(col("value"), schema).alias("data"))
        .select("data.*")
        .select(*STORED)
    )

    log(f"stream defined at {since_t0():.1f} s")
    checkpoint = tempfile.mkdtemp(prefix="ember-spark-checkpoint-")
    failed = None
    query = None
    q_start = time.monotonic()
    try:
        query = (
            users.writeStream.format("org.apache.spark.sql.cassandra")
            .option("checkpointLocation", checkpoint)
            .option("keyspace", args.keyspace)
            .option("table", args.table)
            .outputMode("append")
            .trigger(availableNow=True)
            .start()
        )
        log(f"query started at {since_t0():.1f} s")
        query.awaitTermination()
    except Exception as e:  # AnalysisException (no such table…), StreamingQueryException
        failed = e
    query_seconds = time.monotonic() - q_start
    progress = query.recentProgress if query is not None else []
    shutil.rmtree(checkpoint, ignore_errors=True)

    mem = jvm_status(jvm_pid)  # just before the session stops
    version = spark.version
    t = time.monotonic()
    spark.stop()
    log(f"session stopped in {time.monotonic() - t:.1f} s")
    if failed is not None:
        text = str(failed).strip()
        first = text.splitlines()[0] if text else repr(failed)
        log(f"the query failed: {type(failed).__name__}: {first}")
        return 1

    rows = sum(int(p.get("numInputRows") or 0) for p in progress)
    durations = [int((p.get("durationMs") or {}).get("triggerExecution", 0)) for p in progress]
    first_batch = None
    for p in progress:  # the first batch that carried data (batch 0 normally)
        if int(p.get("numInputRows") or 0) > 0:
            # progress timestamp = trigger start (JVM clock); + its triggerExecution = commit
            started = datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")).timestamp()
            done = started + int(p["durationMs"]["triggerExecution"]) / 1000
            first_batch = round(done - T0_EPOCH, 3)
            break

    result = {
        "engine": "spark",
        "rows": rows,
        "wall_seconds": round(since_t0(), 3),
        "session_seconds": round(session_seconds, 3),
        "query_seconds": round(query_seconds, 3),
        "first_batch_seconds": first_batch,
        "batch_durations_ms": durations,
        "jvm_peak_rss_mb": mem.get("VmHWM"),
        "spark_version": version,
    }
    result_out.write(json.dumps(result) + "\n")
    result_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
