#!/usr/bin/env python3
"""`make bench`: Ember against Spark and against the sink's ceiling, in one run, on one stack.

One topic of seed-shaped records (1,000,000 over 8 partitions by default) is read by each
engine into a fresh table of its own, in this order:

  1. the sink's ceiling, swept: `sink-ceiling` writes the same rows straight to Cassandra
     (per-row inserts and unlogged batches at several concurrencies); the best setting is
     then run at full size *before* Ember,
  2. Ember, `ember run --trigger available-now`,
  3. the best ceiling setting again, *after* Ember (the ceiling drifts with Cassandra's
     compactions: Ember is quoted against the better of the two),
  4. Spark 3.5.7 Structured Streaming, the seed's job, `Trigger.AvailableNow`
     (benches/spark/run.sh),
  5. latency under load: `ember produce --rate R` for S seconds into a new topic while
     `ember run` runs with a processing-time trigger, for each trigger profile; Ember
     measures sink acknowledgement − Kafka timestamp for every record itself.

Every table is checked afterwards: the rows an engine reported must all be there, looked up
by id (`ember landed`). Results go to benches/results/<date>.json, a PNG chart beside it,
and benches/RESULTS.md (the table, the machine, the command). Ratios are only ever between
figures of the same run.

Standard library only, except the chart (matplotlib from the report venv, see
benches/report/venv.sh; the chart is skipped with a message if it cannot be drawn).
"""
import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "benches"
KEYSPACE = "ember_bench"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Child:
    """A child process whose wall time, CPU time and peak RSS are measured (wait4)."""

    def __init__(self, args, env=None, on_line=None, cwd=REPO):
        self.started = time.monotonic()
        self.lines = []
        self.first_line_at = {}
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._stderr = []
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(on_line,), daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read_stdout(self, on_line):
        for line in self.proc.stdout:
            now = time.monotonic() - self.started
            line = line.rstrip("\n")
            self.lines.append((now, line))
            if on_line:
                on_line(now, line)

    def _read_stderr(self):
        for line in self.proc.stderr:
            self._stderr.append(line)

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"{self.proc.args[0]} did not finish within {timeout} s")
            time.sleep(0.05)
        self.wall = time.monotonic() - self.started
        self.returncode = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.returncode
        for t in self._threads:
            t.join(5)
        self.cpu = usage.ru_utime + usage.ru_stime
        self.max_rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
        return self

    def stderr_tail(self, n=30):
        return "".join(self._stderr[-n:])

    def last_json(self):
        for _, line in reversed(self.lines):
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"no JSON line from {self.proc.args}:\n{self.stderr_tail()}")


def run_checked(args, env=None, timeout=3600, what=None):
    c = Child(args, env=env).wait(timeout)
    if c.returncode != 0:
        raise RuntimeError(f"{what or args[0]} failed ({c.returncode}):\n{c.stderr_tail()}")
    return c


class Bench:
    def __init__(self, a):
        self.a = a
        self.run_id = dt.datetime.now().strftime("%Y%m%d%H%M%S")
        self.brokers = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
        self.cassandra = f"127.0.0.1:{os.environ.get('CASSANDRA_PORT', '9042')}"
        self.scratch = Path(tempfile.mkdtemp(prefix="ember-bench-"))
        self.results = {
            "run_id": self.run_id,
            "date": dt.datetime.now().isoformat(timespec="seconds"),
            "machine": machine(),
            "command": " ".join(sys.argv),
            "records": a.records,
            "partitions": a.partitions,
        }

    # --- pieces ----------------------------------------------------------------------------
    def produce(self, topic, count=None, rate=None, duration=None, seed=1):
        args = [self.a.ember, "produce", "--brokers", self.brokers, "--topic", topic,
                "--partitions", str(self.a.partitions), "--seed", str(seed), "--summary-json"]
        if count is not None:
            args += ["--count", str(count)]
        if rate is not None:
            args += ["--rate", str(rate)]
        if duration is not None:
            args += ["--duration", f"{duration}s"]
        return args

    def ember_env(self, topic, table, group):
        env = dict(os.environ)
        env.update({
            "EMBER_SOURCE__BROKERS": self.brokers,
            "EMBER_SOURCE__TOPIC": topic,
            "EMBER_SOURCE__GROUP_ID": group,
            "EMBER_SINKS__CREATED_USERS__CONTACT_POINTS": self.cassandra,
            "EMBER_SINKS__CREATED_USERS__KEYSPACE": KEYSPACE,
            "EMBER_SINKS__CREATED_USERS__TABLE": table,
            "EMBER_CHECKPOINT": str(self.scratch / "checkpoints" / group),
            "EMBER_LOG": "warn",
        })
        return env

    def ceiling(self, table, rows, batch_rows, concurrency):
        c = run_checked([self.a.sink_ceiling, "--contact-point", self.cassandra,
                         "--keyspace", KEYSPACE, "--table", table, "--rows", str(rows),
                         "--seed", "1", "--batch-rows", str(batch_rows),
                         "--concurrency", str(concurrency)], what="sink-ceiling")
        r = c.last_json()
        log(f"ceiling {table}: batch {batch_rows} x {concurrency} in flight: "
            f"{r['rows_per_sec']:,.0f} rows/s")
        return r

    def create_table(self, table):
        """Ember's sink creates only the table its CQL file names (`created_users`): a bench
        table of another name is made beforehand, from the same file (sink-ceiling, 0 rows)."""
        run_checked([self.a.sink_ceiling, "--contact-point", self.cassandra, "--keyspace", KEYSPACE,
                     "--table", table, "--rows", "0"], what="create table")

    def landed(self, table, count, seed=1):
        env = self.ember_env("unused", table, "unused")
        c = run_checked([self.a.ember, "landed", "pipelines/users.toml", "--seed", str(seed),
                         "--count", str(count), "--summary-json"], env=env, what="ember landed")
        return c.last_json()

    # --- the steps ---------------------------------------------------------------------------
    def step_produce(self):
        self.topic = f"bench_{self.run_id}"
        log(f"producing {self.a.records:,} records to {self.topic} ({self.a.partitions} partitions)")
        c = run_checked(self.produce(self.topic, count=self.a.records), what="ember produce")
        self.results["produce"] = {"seconds": c.wall, **c.last_json()}

    def step_sweep(self):
        rows = self.a.sweep_rows
        sweep = []
        for i, (batch_rows, conc) in enumerate(self.a.sweep):
            r = self.ceiling(f"ceiling_sweep_{self.run_id}_{i}", rows, batch_rows, conc)
            sweep.append(r)
        self.results["ceiling_sweep"] = sweep
        best = max(sweep, key=lambda r: r["rows_per_sec"])
        self.best = (best["batch_rows"], best["concurrency"])
        log(f"best ceiling setting: batches of {self.best[0]}, {self.best[1]} in flight")

    def step_ceiling(self, when):
        r = self.ceiling(f"ceiling_{when}_{self.run_id}", self.a.records, *self.best)
        self.results[f"ceiling_{when}"] = r

    def step_ember(self, label="ember", binary=None, scrape_metrics=False):
        """One available-now run. With `scrape_metrics`, the run serves its metrics
        (`--metrics 127.0.0.1:0`) and a scraper GETs /metrics and /metrics.json once a
        second, as a Prometheus with a 1 s interval and an open dashboard would."""
        binary = binary or self.a.ember
        table = f"{label}_{self.run_id}"
        self.create_table(table)
        env = self.ember_env(self.topic, table, f"bench-{label}-{self.run_id}")
        args = [binary, "run", "pipelines/users.toml", "--trigger", "available-now", "--summary-json"]
        if scrape_metrics:
            args += ["--metrics", "127.0.0.1:0"]
        log(f"{label}: {' '.join(args[1:])} ({binary})")
        first = {}
        scraper = Scraper() if scrape_metrics else None

        def on_line(t, line):
            if line.startswith("batch") and "first" not in first:
                first["first"] = t
            if scraper and line.strip().startswith("metrics http://"):
                scraper.start(line.strip().removeprefix("metrics http://").split("/")[0])

        c = Child(args, env=env, on_line=on_line).wait(3600)
        if scraper:
            scraper.stop()
        if c.returncode != 0:
            raise RuntimeError(f"ember run failed:\n{c.stderr_tail()}")
        s = c.last_json()
        landed = self.landed(table, self.a.records)
        r = {
            "engine": label,
            "binary": binary,
            "rows": s["written_total"],
            "rejected": s["rejected"],
            "wall_seconds": c.wall,
            "run_seconds": s["seconds"],
            "rows_per_sec": s["written_total"] / c.wall,
            "first_batch_seconds": first.get("first"),
            "cpu_seconds": c.cpu,
            "cpu_seconds_per_million": c.cpu / max(s["rows_in"], 1) * 1e6,
            "peak_rss_mb": c.max_rss_mb,
            "batches": s["batches"],
            "landed": landed,
        }
        if scraper:
            r["scrapes"] = scraper.scrapes
            if scraper.scrapes == 0:
                raise RuntimeError(f"{label}: /metrics was never scraped")
        log(f"{label}: {r['rows']:,} rows in {c.wall:.1f} s = {r['rows_per_sec']:,.0f} rows/s, "
            f"{r['cpu_seconds']:.1f} CPU-s, peak RSS {r['peak_rss_mb']:.0f} MB, "
            f"first batch after {r['first_batch_seconds']} s")
        check_landed(label, landed, self.a.records)
        if label == "ember":
            self.results["ember"] = r
        else:
            self.results.setdefault("other_builds", []).append(r)

    def step_spark(self):
        table = f"spark_{self.run_id}"
        log("spark: the seed's Structured Streaming job, Trigger.AvailableNow")
        c = Child(["bash", str(HERE / "spark/run.sh"), "--brokers", self.brokers,
                   "--topic", self.topic, "--cassandra", self.cassandra, "--keyspace", KEYSPACE,
                   "--table", table, "--create-table"]).wait(7200)
        if c.returncode != 0:
            raise RuntimeError(f"spark failed:\n{c.stderr_tail()}")
        r = c.last_json()
        r["rows_per_sec"] = r["rows"] / r["wall_seconds"]
        r["landed"] = self.landed(table, self.a.records)
        log(f"spark: {r['rows']:,} rows in {r['wall_seconds']:.1f} s = {r['rows_per_sec']:,.0f} rows/s")
        check_landed("spark", r["landed"], self.a.records)
        self.results["spark"] = r

    def step_latency(self, trigger, max_records):
        name = re.sub(r"[^a-z0-9]", "", trigger)
        topic = f"latency_{name}_{self.run_id}"
        table = f"latency_{name}_{self.run_id}"
        rate, seconds = self.a.latency_rate, self.a.latency_seconds
        run_checked(self.produce(topic, count=0), what="create topic")
        self.create_table(table)
        env = self.ember_env(topic, table, f"bench-lat-{name}-{self.run_id}")
        env["EMBER_SOURCE__MAX_RECORDS"] = str(max_records)
        log(f"latency: {rate:,}/s for {seconds} s, trigger {trigger}, max_records {max_records}")
        seen = {"rows": 0}

        def on_line(_t, line):
            m = re.match(r"batch\s+\d+\s+\|\s+in\s+(\d+)", line)
            if m:
                seen["rows"] += int(m.group(1))

        ember = Child([self.a.ember, "run", "pipelines/users.toml", "--trigger", trigger,
                       "--summary-json"], env=env, on_line=on_line)
        time.sleep(3)  # let it join the group and be assigned its partitions before records come
        producer = run_checked(self.produce(topic, rate=rate, duration=seconds, seed=2),
                               timeout=seconds + 120, what="ember produce --rate")
        produced = producer.last_json()["produced"]
        deadline = time.monotonic() + 120
        while seen["rows"] < produced and time.monotonic() < deadline:
            time.sleep(0.2)
        ember.proc.send_signal(signal.SIGTERM)
        ember.wait(60)
        if ember.returncode != 0:
            raise RuntimeError(f"ember run (latency) failed:\n{ember.stderr_tail()}")
        s = ember.last_json()
        durations = [int(m.group(1)) for _, l in ember.lines
                     if (m := re.search(r"\|\s+(\d+) ms \|", l))]
        r = {
            "trigger": trigger,
            "max_records": max_records,
            "rate": rate,
            "seconds": seconds,
            "produced": produced,
            "written": s["written_total"],
            "batches": s["batches"],
            "latency": s["latency"],
            "batch_ms": quantiles(durations),
            "cpu_seconds": ember.cpu,
            "peak_rss_mb": ember.max_rss_mb,
        }
        lat = s["latency"] or {}
        log(f"latency {trigger}: p50 {lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms, "
            f"max {lat.get('max_ms')} ms over {lat.get('count')} records")
        if s["written_total"] != produced:
            raise RuntimeError(f"latency run wrote {s['written_total']} of {produced} records")
        self.results.setdefault("latency", []).append(r)

    # --- output ------------------------------------------------------------------------------
    def finish(self):
        res = self.results
        e, best = res.get("ember"), None
        ceilings = [res[k]["rows_per_sec"] for k in ("ceiling_before", "ceiling_after") if k in res]
        if ceilings:
            best = max(ceilings)
        ratios = {}
        if e and best:
            ratios["ember_vs_best_ceiling"] = e["rows_per_sec"] / best
        if e and "spark" in res:
            ratios["ember_vs_spark"] = e["rows_per_sec"] / res["spark"]["rows_per_sec"]
        others = {o["engine"]: o for o in res.get("other_builds", [])}
        if e and "ember_metrics" in others:
            # Served and scraped vs the mean of the plain runs before and after it.
            plain = [e] + [others[k] for k in ("ember_again",) if k in others]
            mean = lambda key: sum(p[key] for p in plain) / len(plain)
            m = others["ember_metrics"]
            ratios["metrics_throughput_vs_plain"] = m["rows_per_sec"] / mean("rows_per_sec")
            ratios["metrics_cpu_vs_plain"] = m["cpu_seconds"] / mean("cpu_seconds")
        res["ratios"] = ratios
        out = HERE / "results"
        out.mkdir(exist_ok=True)
        day = dt.date.today().isoformat()
        path = out / f"{day}.json"
        path.write_text(json.dumps(res, indent=2) + "\n")
        log(f"wrote {path.relative_to(REPO)}")
        chart = out / f"{day}.png"
        if draw_chart(res, chart):
            log(f"wrote {chart.relative_to(REPO)}")
        md = HERE / "RESULTS.md"
        md.write_text(results_markdown(res, f"results/{day}.json", f"results/{day}.png"))
        log(f"wrote {md.relative_to(REPO)}")
        print(json.dumps({"ratios": ratios, "json": str(path)}))

    def cleanup(self):
        shutil.rmtree(self.scratch, ignore_errors=True)


def check_landed(engine, landed, expected):
    present = landed.get("found")
    if present != expected:
        raise RuntimeError(f"{engine}: {present} of {expected} rows are in Cassandra: {landed}")


def quantiles(values):
    if not values:
        return None
    v = sorted(values)
    q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
    return {"count": len(v), "p50": q(0.5), "p99": q(0.99), "max": v[-1]}


def machine():
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        kb = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")))
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "memory": mem, "kernel": platform.release(),
            "note": "Kafka, Cassandra and the engines share these cores"}


def draw_chart(res, path):
    venv = subprocess.run(["bash", str(HERE / "report/venv.sh")], capture_output=True, text=True)
    if venv.returncode != 0:
        log(f"no chart: the report venv failed:\n{venv.stderr[-2000:]}")
        return False
    python = Path(venv.stdout.strip()) / "bin/python"
    data = json.dumps(res)
    c = subprocess.run([str(python), str(HERE / "report/chart.py"), str(path)], input=data,
                       text=True, capture_output=True)
    if c.returncode != 0:
        log(f"no chart: {c.stderr[-2000:]}")
        return False
    return True


def fmt(v, digits=0):
    return "–" if v is None else f"{v:,.{digits}f}"


def results_markdown(res, json_name, png_name):
    e, s = res.get("ember", {}), res.get("spark", {})
    cb, ca = res.get("ceiling_before", {}), res.get("ceiling_after", {})
    r = res.get("ratios", {})
    m = res["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Run `{res['run_id']}` on {res['date']}: {res['records']:,} seed-shaped records over "
        f"{res['partitions']} partitions, one Kafka broker and one Cassandra node on the same box "
        f"({m['cores']} cores, {m['cpu']}, {m['memory']}). Made by `make bench` "
        f"(`{res['command']}`); raw figures in [`{json_name}`]({json_name}).",
        "",
        f"![throughput and latency]({png_name})",
        "",
        "## Throughput (each engine into a fresh table, the same topic)",
        "",
        "| run | rows/s | wall s | CPU s per 1M rows | peak RSS MB | first batch s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    if cb:
        lines.append(f"| sink ceiling before (batches of {cb['batch_rows']}, {cb['concurrency']} in flight) "
                     f"| {fmt(cb['rows_per_sec'])} | {fmt(cb['seconds'], 1)} | | | |")
    if e:
        lines.append(f"| **Ember** `run --trigger available-now` | **{fmt(e['rows_per_sec'])}** "
                     f"| {fmt(e['wall_seconds'], 1)} | {fmt(e['cpu_seconds_per_million'], 2)} "
                     f"| {fmt(e['peak_rss_mb'])} | {fmt(e['first_batch_seconds'], 2)} |")
    for o in res.get("other_builds", []):
        lines.append(f"| {o['engine']} (`{o['binary']}`) | {fmt(o['rows_per_sec'])} "
                     f"| {fmt(o['wall_seconds'], 1)} | {fmt(o['cpu_seconds_per_million'], 2)} "
                     f"| {fmt(o['peak_rss_mb'])} | {fmt(o['first_batch_seconds'], 2)} |")
    if ca:
        lines.append(f"| sink ceiling after | {fmt(ca['rows_per_sec'])} | {fmt(ca['seconds'], 1)} | | | |")
    if s:
        lines.append(f"| Spark {s.get('spark_version', '')} Structured Streaming, AvailableNow "
                     f"| {fmt(s['rows_per_sec'])} | {fmt(s['wall_seconds'], 1)} | | "
                     f"{fmt(s.get('jvm_peak_rss_mb'))} (JVM) | {fmt(s.get('first_batch_seconds'), 1)} |")
    lines += ["", "Ratios from this run: " + ", ".join(
        f"{k.replace('_', ' ')} **{v:.2f}**" for k, v in r.items()) if r else "", ""]
    sweep = res.get("ceiling_sweep")
    if sweep:
        lines += ["### The ceiling sweep (rows/s, "
                  f"{sweep[0]['rows']:,} rows each)", "", "| rows per request | in flight | rows/s |",
                  "|---:|---:|---:|"]
        lines += [f"| {x['batch_rows']} | {x['concurrency']} | {fmt(x['rows_per_sec'])} |" for x in sweep]
        lines.append("")
    lat = res.get("latency")
    if lat:
        lines += ["## Latency under load (sink acknowledgement − Kafka timestamp, every record)", "",
                  "| trigger | max_records | rate/s | records | p50 ms | p90 ms | p99 ms | max ms | batch ms p50 / p99 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for x in lat:
            l, b = x["latency"] or {}, x["batch_ms"] or {}
            lines.append(f"| `{x['trigger']}` | {x['max_records']:,} | {x['rate']:,} | {fmt(l.get('count'))} "
                         f"| {fmt(l.get('p50_ms'), 1)} | {fmt(l.get('p90_ms'), 1)} | {fmt(l.get('p99_ms'), 1)} "
                         f"| {fmt(l.get('max_ms'), 1)} | {b.get('p50', '–')} / {b.get('p99', '–')} |")
        if s.get("batch_durations_ms"):
            d = s["batch_durations_ms"]
            lines += ["", f"Spark's batches in the throughput run took {', '.join(f'{x:,}' for x in d[:10])} ms"
                      f"{' …' if len(d) > 10 else ''} (its latency is at least one batch)."]
        lines.append("")
    lines += ["## How to reproduce", "", "```sh", "make bench            # the whole run (about 15 minutes)",
              "make bench BENCH_ARGS='--skip-spark --records 200000'", "cargo bench -p ember-benches   # the stage benchmarks",
              "```", ""]
    return "\n".join(lines)


class Scraper:
    """GETs /metrics and /metrics.json once a second on a thread of its own."""

    def __init__(self):
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = None

    def start(self, address):
        def loop():
            import urllib.request
            while not self._stop.wait(1.0):
                try:
                    for path in ("/metrics", "/metrics.json"):
                        with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as r:
                            r.read()
                    self.scrapes += 1
                except OSError:
                    pass  # the run is over or not serving yet
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)


def parse_sweep(text):
    out = []
    for part in text.split(","):
        b, c = part.split("x")
        out.append((int(b), int(c)))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ember", default=os.environ.get("EMBER_BIN"), help="the release ember binary")
    p.add_argument("--sink-ceiling", default=os.environ.get("SINK_CEILING_BIN"))
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--sweep", type=parse_sweep, default=parse_sweep("1x128,1x256,50x32,100x16,100x32,100x48,100x64"),
                   help="ceiling settings to sweep: ROWSxINFLIGHT,... (1 = single-row inserts; "
                        "batches above ~150 of these rows pass Cassandra's 50 KiB "
                        "batch_size_fail_threshold and are refused)")
    p.add_argument("--sweep-rows", type=int, default=100_000)
    p.add_argument("--latency-rate", type=int, default=10_000)
    p.add_argument("--latency-seconds", type=int, default=60)
    p.add_argument("--latency-profiles", default="500ms:20000,20ms:2000",
                   help="TRIGGER:MAX_RECORDS,... for the latency runs")
    p.add_argument("--also-ember", action="append", default=[], metavar="LABEL=PATH",
                   help="another ember binary (say, another build profile) run on the same topic "
                        "right after the main one, between the two ceiling runs")
    p.add_argument("--with-metrics", action="store_true",
                   help="run Ember twice more, with its metrics served and scraped every second "
                        "(ember_metrics) and without (ember_again), for the metrics' overhead")
    p.add_argument("--skip-spark", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    a = p.parse_args()
    if not a.ember or not a.sink_ceiling:
        p.error("--ember and --sink-ceiling (or EMBER_BIN, SINK_CEILING_BIN) are needed")
    b = Bench(a)
    try:
        b.step_produce()
        b.step_sweep()
        b.step_ceiling("before")
        b.step_ember()
        for other in a.also_ember:
            label, _, path = other.partition("=")
            b.step_ember(f"ember_{re.sub(r'[^a-z0-9]', '_', label.lower())}", path)
        if a.with_metrics:
            b.step_ember("ember_metrics", scrape_metrics=True)
            b.step_ember("ember_again")
        b.step_ceiling("after")
        if not a.skip_spark:
            b.step_spark()
        if not a.skip_latency:
            for prof in a.latency_profiles.split(","):
                trigger, max_records = prof.split(":")
                b.step_latency(trigger, int(max_records))
        b.finish()
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
