// Ember's live dashboard: every second it reads /progress (the last batches)
// and /metrics.json (the Prometheus metrics as JSON) and redraws hand-written
// canvas charts. No library and no network beyond this binary.
//
// window.emberDashboard holds what each chart last drew, so a browser test
// can check the values behind the pixels.
"use strict";

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const STAGES = ["plan", "decode", "sql", "write", "deletes", "dead_letters", "checkpoint", "group_commit"];
const LAG_SAMPLES = 120;

const state = { refreshes: 0, errors: 0, charts: {}, lagHistory: [] };
window.emberDashboard = state;

function fmt(n) {
  if (!isFinite(n)) return "–";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Math.abs(n) >= 100 || Number.isInteger(n) ? n.toFixed(0) : n.toFixed(1);
}

function legend(id, names) {
  const el = document.getElementById(id);
  if (!el) return;
  el.innerHTML = names.map((n, i) => `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${n}</span>`).join("");
}

// Axes and scale; returns a function mapping (index, value) to pixels.
function frame(canvas, count, max) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 48, bottom = 20;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = "#ccc";
  ctx.fillStyle = "#555";
  ctx.font = "11px sans-serif";
  const top = max > 0 ? max * 1.1 : 1;
  for (let i = 0; i <= 4; i++) {
    const y = (h - bottom) - (h - bottom - 8) * i / 4;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w, y); ctx.stroke();
    ctx.fillText(fmt(top * i / 4), 2, y + 4);
  }
  const x = (i) => left + (w - left - 6) * (count <= 1 ? 1 : i / (count - 1));
  const y = (v) => (h - bottom) - (h - bottom - 8) * (v / top);
  return { ctx, x, y, left, bottom, w, h };
}

function lineChart(id, series) {
  const canvas = document.getElementById(id);
  const count = Math.max(0, ...series.map((s) => s.values.length));
  const max = Math.max(0, ...series.flatMap((s) => s.values.filter(isFinite)));
  const f = frame(canvas, count, max);
  series.forEach((s, i) => {
    f.ctx.strokeStyle = COLORS[i % COLORS.length];
    f.ctx.lineWidth = 2;
    f.ctx.beginPath();
    s.values.forEach((v, j) => (j === 0 ? f.ctx.moveTo(f.x(j), f.y(v)) : f.ctx.lineTo(f.x(j), f.y(v))));
    f.ctx.stroke();
  });
  legend(id + "-legend", series.map((s) => `${s.name} ${fmt(s.values[s.values.length - 1])}`));
  state.charts[id] = Object.fromEntries(series.map((s) => [s.name, s.values.slice(-20)]));
}

function stackedBars(id, batches) {
  const canvas = document.getElementById(id);
  const totals = batches.map((b) => STAGES.reduce((t, s) => t + (b.duration_ms[s] || 0), 0));
  const f = frame(canvas, batches.length + 1, Math.max(0, ...totals));
  const width = Math.max(1, (f.w - f.left) / (batches.length + 1) - 1);
  batches.forEach((b, j) => {
    let base = 0;
    STAGES.forEach((s, i) => {
      const v = b.duration_ms[s] || 0;
      f.ctx.fillStyle = COLORS[i % COLORS.length];
      f.ctx.fillRect(f.x(j), f.y(base + v), width, f.y(base) - f.y(base + v));
      base += v;
    });
  });
  const last = batches[batches.length - 1];
  legend(id + "-legend", STAGES.map((s) => `${s} ${last ? fmt(last.duration_ms[s] || 0) : "–"}`));
  state.charts[id] = { total_ms: totals.slice(-20) };
}

function barChart(id, entries) {
  const canvas = document.getElementById(id);
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  ctx.font = "12px sans-serif";
  const max = Math.max(1, ...entries.map((e) => e[1]));
  if (entries.length === 0) {
    ctx.fillStyle = "#555";
    ctx.fillText("no dead letters", 10, 20);
  }
  entries.forEach(([reason, n], i) => {
    const y = 10 + i * 24;
    ctx.fillStyle = COLORS[(i + 3) % COLORS.length];
    ctx.fillRect(170, y, (w - 240) * n / max, 18);
    ctx.fillStyle = "#1d2430";
    ctx.fillText(reason, 4, y + 13);
    ctx.fillText(fmt(n), 176 + (w - 240) * n / max, y + 13);
  });
  state.charts[id] = Object.fromEntries(entries);
}

function samples(metrics, name) {
  return metrics[name] || [];
}

function total(metrics, name) {
  return samples(metrics, name).reduce((t, s) => t + (s.value || 0), 0);
}

function renderTotals(metrics, progress) {
  const last = progress[progress.length - 1];
  const items = [
    ["read", total(metrics, "ember_records_read_total")],
    ["decoded", total(metrics, "ember_records_decoded_total")],
    ["written", total(metrics, "ember_rows_written_total")],
    ["dead-lettered", total(metrics, "ember_records_dead_lettered_total")],
    ["lag", Object.values(metrics.lag_by_partition || {}).reduce((a, b) => a + b, 0)],
    ["batches", total(metrics, "ember_batches_total")],
    ["RSS MB", total(metrics, "process_resident_memory_bytes") / 1048576],
    ["CPU s", total(metrics, "process_cpu_seconds_total")],
  ];
  document.getElementById("totals").innerHTML = items.map(([k, v]) => `<div>${k}<b>${fmt(v)}</b></div>`).join("");
  state.totals = Object.fromEntries(items);
  const ready = total(metrics, "ember_ready") === 1;
  const status = document.getElementById("status");
  status.textContent = (ready ? "ready" : "NOT READY") + (last ? ` · batch ${last.batch_id} · ${fmt(last.rows_in)} rows · ${fmt(last.duration_ms.total)} ms` : " · no batch yet");
  status.className = "status" + (ready ? "" : " bad");
}

function renderPipeline(info) {
  document.getElementById("name").textContent = `${info.name}: ${info.topic} → ${info.sinks.map((s) => s.name).join(", ")} · trigger ${info.trigger}`;
  const esc = (t) => t.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
  document.getElementById("sinks").innerHTML = "<table><tr><th>sink</th><th>Cassandra table</th></tr>" +
    info.sinks.map((s) => `<tr><td>${esc(s.name)}</td><td>${esc(s.table)}</td></tr>`).join("") + "</table>";
  document.getElementById("sql").innerHTML = info.sql.map((f) => `<div>${esc(f.file)}</div><pre>${esc(f.text)}</pre>`).join("");
  state.pipeline = info;
}

async function refresh() {
  try {
    const [progress, metrics] = await Promise.all([
      fetch("/progress").then((r) => r.json()),
      fetch("/metrics.json").then((r) => r.json()),
    ]);
    const fresh = progress;
    lineChart("rates", [
      { name: "input", values: fresh.map((b) => b.input_rows_per_second) },
      { name: "processing", values: fresh.map((b) => b.processed_rows_per_second) },
    ]);
    stackedBars("stages", fresh.slice(-60));
    const measured = fresh.filter((b) => b.latency_ms);
    lineChart("latency", [
      { name: "p50", values: measured.map((b) => b.latency_ms.p50) },
      { name: "p99", values: measured.map((b) => b.latency_ms.p99) },
    ]);
    state.lagHistory.push(metrics.lag_by_partition || {});
    if (state.lagHistory.length > LAG_SAMPLES) state.lagHistory.shift();
    const partitions = [...new Set(state.lagHistory.flatMap((l) => Object.keys(l)))].sort((a, b) => a - b);
    lineChart("lag", partitions.map((p) => ({ name: `partition ${p}`, values: state.lagHistory.map((l) => l[p] || 0) })));
    barChart("dead-letters", samples(metrics, "ember_records_dead_lettered_total")
      .map((s) => [s.labels.reason, s.value]).sort((a, b) => b[1] - a[1]));
    renderTotals(metrics, progress);
    state.lastBatch = progress.length ? progress[progress.length - 1].batch_id : null;
    state.refreshes += 1;
  } catch (e) {
    state.errors += 1;
    const status = document.getElementById("status");
    status.textContent = "unreachable: " + e;
    status.className = "status bad";
  }
}

fetch("/pipeline").then((r) => r.json()).then(renderPipeline).catch(() => {});
refresh();
setInterval(refresh, 1000);
