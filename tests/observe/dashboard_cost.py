"""What a browser attached to the dashboard costs the engine: the CPU time of
one `ember run --metrics` process (utime + stime from /proc/<pid>/stat) over
equal windows with and without headless Chromium showing the dashboard,
alternated (A B A B …) under the same `ember produce --rate` traffic.

    python dashboard_cost.py EMBER_BIN [--rate 1000] [--window 30] [--rounds 2]

Needs the local stack (Kafka 127.0.0.1:9092, Cassandra 127.0.0.1:9042).
Prints one JSON line: CPU seconds per window, with and without.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ember")
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--window", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tag = f"cost_{os.getpid()}_{int(time.time())}"
    env = dict(os.environ,
               EMBER_SOURCE__TOPIC=f"t_{tag}", EMBER_SOURCE__GROUP_ID=f"g_{tag}",
               EMBER_SINKS__CREATED_USERS__KEYSPACE=f"ks_{tag}", EMBER_LOG="warn")
    pipeline = os.path.join(REPO, "pipelines/users.toml")
    subprocess.run([args.ember, "produce", "--topic", f"t_{tag}", "--partitions", "2",
                    "--count", "0"], env=env, check=True, stdout=subprocess.DEVNULL)
    out = tempfile.NamedTemporaryFile("w+", delete=False, suffix=".out")
    run = subprocess.Popen([args.ember, "run", pipeline, "--metrics", "127.0.0.1:0"],
                           env=env, stdout=out, stderr=subprocess.DEVNULL, cwd=REPO)
    address = None
    for _ in range(600):
        m = re.search(r"metrics http://([0-9.:]+)/", open(out.name).read())
        if m:
            address = m.group(1)
            break
        time.sleep(0.1)
    if not address:
        run.kill()
        sys.exit("ember run printed no metrics address")
    total = args.rounds * 2 * (args.window + 15) + 30
    produce = subprocess.Popen([args.ember, "produce", "--topic", f"t_{tag}", "--rate",
                                str(args.rate), "--duration", f"{int(total)}s"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    python = sys.executable
    results = {"without": [], "with": []}
    try:
        time.sleep(10)  # warm up: the first batches, the sink's connections
        for _ in range(args.rounds):
            before = cpu_seconds(run.pid)
            time.sleep(args.window)
            results["without"].append(cpu_seconds(run.pid) - before)
            browser = subprocess.Popen(
                [python, os.path.join(HERE, "dashboard.py"), f"http://{address}/",
                 os.path.join(tempfile.gettempdir(), f"{tag}.png"), "--hold", str(args.window + 5)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(8)  # the page loaded and its checks ran; now it only refreshes
            before = cpu_seconds(run.pid)
            time.sleep(args.window)
            results["with"].append(cpu_seconds(run.pid) - before)
            browser.wait(60)
    finally:
        produce.terminate()
        run.terminate()
        run.wait(30)
    mean = {k: sum(v) / len(v) for k, v in results.items()}
    print(json.dumps({
        "rate": args.rate, "window_s": args.window, "cpu_s": results,
        "mean_cpu_s": mean,
        "browser_cost_cpu_ms_per_s": (mean["with"] - mean["without"]) / args.window * 1000,
        "relative": (mean["with"] - mean["without"]) / mean["without"] if mean["without"] else None,
    }))


if __name__ == "__main__":
    main()
