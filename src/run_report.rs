//! What `ember run` prints: a line per batch, the totals, and the one-line
//! JSON summary schedulers read.

use ember_engine::{BatchReport, Reporter, RunSummary};

/// One line per batch on stdout.
pub struct LineReporter;

impl Reporter for LineReporter {
    fn batch_done(&mut self, r: &BatchReport) {
        println!(
            "batch {:>5} | in {:>7} | written {:>7} | rejected {:>5} | {:>6} ms | {:>9.0} rows/s{}",
            r.batch_id,
            r.rows_in,
            r.total_written(),
            r.rejected,
            r.duration.as_millis(),
            r.rows_per_sec(),
            if r.replay { " | replayed" } else { "" }
        );
    }
}

pub fn print_run_summary(s: &RunSummary) {
    let secs = s.duration.as_secs_f64().max(1e-9);
    println!(
        "done: {} batch(es) ({} replayed), {} record(s) in, {} decoded, {} rejected, {} row(s) written in {:.1} s ({:.0} rows/s)",
        s.batches,
        s.replayed,
        s.rows_in,
        s.decoded,
        s.rejected,
        s.total_written(),
        secs,
        s.rows_in as f64 / secs
    );
    for (sink, n) in &s.written {
        println!("  {sink}: {n} row(s)");
    }
    if let Some(l) = &s.latency {
        println!(
            "  latency (sink ack - Kafka timestamp, {} record(s)): p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
    }
}

pub fn summary_json_line(s: &RunSummary) -> String {
    let written: serde_json::Map<String, serde_json::Value> = s
        .written
        .iter()
        .map(|(k, v)| (k.clone(), (*v).into()))
        .collect();
    serde_json::json!({
        "batches": s.batches,
        "replayed": s.replayed,
        "lost": s.lost,
        "rows_in": s.rows_in,
        "decoded": s.decoded,
        "rejected": s.rejected,
        "written": written,
        "written_total": s.total_written(),
        "seconds": s.duration.as_secs_f64(),
        "latency": s.latency,
    })
    .to_string()
}
