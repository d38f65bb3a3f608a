"""Draws make bench's chart from its results (JSON on stdin) into the PNG named by argv[1]:
throughput bars per engine with the sink's ceiling as a line, and the latency distribution of
each latency profile."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

res = json.load(sys.stdin)
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))

bars = []
for key, label in (("ember", "Ember"), ("spark", "Spark 3.5.7")):
    if key in res:
        bars.append((label, res[key]["rows_per_sec"]))
names = [b[0] for b in bars]
values = [b[1] for b in bars]
left.bar(names, values, color=["#d9480f", "#495057"][: len(bars)])
for i, v in enumerate(values):
    left.text(i, v, f"{v:,.0f}", ha="center", va="bottom")
for key, style in (("ceiling_before", "--"), ("ceiling_after", ":")):
    if key in res:
        c = res[key]
        left.axhline(c["rows_per_sec"], color="#1971c2", linestyle=style,
                     label=f"sink ceiling {key.split('_')[1]} ({c['rows_per_sec']:,.0f}; "
                           f"batches of {c['batch_rows']}, {c['concurrency']} in flight)")
left.set_ylabel("rows/s (whole run)")
left.set_title(f"{res['records']:,} records, {res['partitions']} partitions, one node")
left.legend(loc="upper right", fontsize=8)
left.set_ylim(0, max(values + [res.get(k, {}).get("rows_per_sec", 0) for k in ("ceiling_before", "ceiling_after")]) * 1.25)

for run in res.get("latency", []):
    lat = run.get("latency")
    if not lat:
        continue
    xs = [b[0] for b in lat["histogram"]]
    total = sum(b[1] for b in lat["histogram"]) or 1
    ys = [b[1] / total * 100 for b in lat["histogram"]]
    right.step(xs, ys, where="pre",
               label=f"trigger {run['trigger']}: p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms")
right.set_xscale("log")
right.set_xlabel("sink ack − Kafka timestamp (ms, bucket upper bound)")
right.set_ylabel("% of records")
rate = res.get("latency", [{}])[0].get("rate") if res.get("latency") else None
right.set_title(f"latency at {rate:,} records/s" if rate else "latency")
right.legend(fontsize=8)
fig.tight_layout()
fig.savefig(sys.argv[1], dpi=110)
