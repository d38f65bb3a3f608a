//! What `ember run` prints: a line per batch (or, on a terminal, one
//! status line redrawn in place), the totals, and the one-line JSON summary
//! schedulers read.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ember::observe::Observer;
use ember_engine::{BatchReport, PerSink, Reporter, RunSummary};

/// One line per batch on stdout.
pub struct LineReporter;

impl Reporter for LineReporter {
    fn batch_done(&mut self, r: &BatchReport) {
        println!(
            "batch {:>5} | in {:>7} | written {:>7} | deleted {:>5} | rejected {:>5} | {:>6} ms | {:>9.0} rows/s{}",
            r.batch_id,
            r.rows_in,
            r.total_written(),
            r.deleted,
            r.rejected,
            r.duration.as_millis(),
            r.rows_per_sec(),
            match (r.replay, r.pieces) {
                (false, _) => String::new(),
                (true, 0 | 1) => " | replayed".to_string(),
                (true, n) => format!(" | replayed in {n} pieces"),
            }
        );
    }
}

/// On a terminal: one line, redrawn in place after every batch and idle
/// interval (rate over the last seconds, lag, the last batch), instead of
/// a line per batch scrolling the screen. Not used when stdout is a file or
/// a pipe (Airflow's logs, tests): those get [`LineReporter`]'s lines.
pub struct StatusLine {
    observer: Arc<Observer>,
    started: Instant,
    /// (when, rows) of the batches of the last [`RATE_WINDOW`].
    recent: VecDeque<(Instant, usize)>,
    batches: u64,
    rows: u64,
    rejected: u64,
    last: Option<String>,
    drawn_at: Option<Instant>,
}

/// The window the status line's rate is computed over.
const RATE_WINDOW: Duration = Duration::from_secs(5);
/// Redraws no more often than this (a 10 ms trigger would flicker).
const REDRAW_EVERY: Duration = Duration::from_millis(100);

impl StatusLine {
    pub fn new(observer: Arc<Observer>) -> Self {
        StatusLine {
            observer,
            started: Instant::now(),
            recent: VecDeque::new(),
            batches: 0,
            rows: 0,
            rejected: 0,
            last: None,
            drawn_at: None,
        }
    }

    fn rate(&mut self, now: Instant) -> f64 {
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            self.recent.pop_front();
        }
        let rows: usize = self.recent.iter().map(|(_, n)| n).sum();
        let over = now.duration_since(self.started).min(RATE_WINDOW);
        rows as f64 / over.as_secs_f64().max(1e-3)
    }

    fn draw(&mut self, force: bool) {
        let now = Instant::now();
        if !force
            && self
                .drawn_at
                .is_some_and(|t| now.duration_since(t) < REDRAW_EVERY)
        {
            return;
        }
        self.drawn_at = Some(now);
        let lag: i64 = self.observer.lag().values().sum();
        let line = format!(
            "{:>9.0} rows/s | lag {:>8} | {} batch(es), {} in, {} rejected | last: {}",
            self.rate(now),
            lag,
            self.batches,
            self.rows,
            self.rejected,
            self.last.as_deref().unwrap_or("waiting for records"),
        );
        // \r and "erase line": the line is redrawn where it is.
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[2K{line}");
        let _ = out.flush();
    }

    /// Ends the status line so what follows starts on a line of its own.
    pub fn finish(&mut self) {
        self.draw(true);
        println!();
    }
}

impl Reporter for StatusLine {
    fn batch_done(&mut self, r: &BatchReport) {
        self.recent.push_back((Instant::now(), r.rows_in));
        self.batches += 1;
        self.rows += r.rows_in as u64;
        self.rejected += r.rejected as u64;
        self.last = Some(format!(
            "batch {} ({} rows, {} ms{})",
            r.batch_id,
            r.rows_in,
            r.duration.as_millis(),
            if r.replay { ", replayed" } else { "" }
        ));
        self.draw(false);
    }

    fn idle(&mut self) {
        self.draw(false);
    }
}

pub fn print_run_summary(s: &RunSummary) {
    let secs = s.duration.as_secs_f64().max(1e-9);
    println!(
        "done: {} batch(es) ({} replayed), {} record(s) in, {} decoded, {} deleted, {} rejected, {} row(s) written in {:.1} s ({:.0} rows/s)",
        s.batches,
        s.replayed,
        s.rows_in,
        s.decoded,
        s.deleted,
        s.rejected,
        s.total_written(),
        secs,
        s.rows_in as f64 / secs
    );
    let filtered = s.filtered_by_sink();
    for (sink, n) in &s.written {
        let failed = per_sink(&s.dead_lettered_by_sink, sink);
        let left_out = per_sink(&filtered, sink);
        println!("  {sink}: {n} row(s), {left_out} filtered out, {failed} dead-lettered");
    }
    if let Some(l) = &s.latency {
        println!(
            "  latency (sink ack - Kafka timestamp, {} record(s)): p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
    }
}

fn per_sink(counts: &PerSink, sink: &str) -> u64 {
    counts.get(sink).copied().unwrap_or_default()
}

pub fn summary_json_line(s: &RunSummary) -> String {
    let written: serde_json::Map<String, serde_json::Value> = s
        .written
        .iter()
        .map(|(k, v)| (k.clone(), (*v).into()))
        .collect();
    let filtered = s.filtered_by_sink();
    let sinks: serde_json::Map<String, serde_json::Value> = s
        .written
        .iter()
        .map(|(sink, n)| {
            let counts = serde_json::json!({
                "written": n,
                "filtered": per_sink(&filtered, sink),
                "dead_lettered": per_sink(&s.dead_lettered_by_sink, sink),
            });
            (sink.clone(), counts)
        })
        .collect();
    serde_json::json!({
        "batches": s.batches,
        "replayed": s.replayed,
        "lost": s.lost,
        "rows_in": s.rows_in,
        "decoded": s.decoded,
        "rejected": s.rejected,
        "deleted": s.deleted,
        "written": written,
        "written_total": s.total_written(),
        "sinks": sinks,
        "seconds": s.duration.as_secs_f64(),
        "latency": s.latency,
    })
    .to_string()
}
