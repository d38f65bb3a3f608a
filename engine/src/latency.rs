//! End-to-end latency: for every record, the time its batch's sinks had all
//! acknowledged it minus the record's Kafka timestamp (CreateTime: when the
//! producer made it). That is what a reader of the sink table waits for, the
//! number Spark's and Flink's users compare, measured where it happens rather
//! than reconstructed from `WRITETIME` afterwards.
//!
//! The acknowledgement time is taken once per batch, when the last sink
//! returned: a row acknowledged earlier in its batch is counted as late as
//! the batch's last one, so the figures are an upper bound per row.
//!
//! Counts go into an HDR histogram (two significant digits, so 1% precision
//! at any scale, a few kilobytes whatever the run's length).

use hdrhistogram::Histogram;

/// Latencies up to an hour are kept exactly to 1%; longer ones are clamped
/// (an available-now run over an old backlog measures the backlog's age).
const MAX_MICROS: u64 = 3_600_000_000;

/// The latency of every record of a run.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    micros: Histogram<u64>,
    /// The same, since the last [`LatencyRecorder::take_recent`]: one
    /// batch's figures for `/metrics` and `/progress`.
    recent: Histogram<u64>,
}

/// Quantiles and a log-spaced histogram, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LatencySummary {
    /// Records measured (those with a Kafka timestamp).
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// `(upper bound in ms, records)` per bucket, each bucket twice as wide
    /// as the one before, from 1 ms; empty buckets at the end left out.
    pub histogram: Vec<(f64, u64)>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    pub fn new() -> Self {
        let histogram = || {
            Histogram::new_with_bounds(1, MAX_MICROS, 2)
                .expect("constant histogram bounds are valid")
        };
        LatencyRecorder {
            micros: histogram(),
            recent: histogram(),
        }
    }

    /// Records `acked_ms − timestamp_ms` for every record that has a
    /// timestamp. A timestamp in the future (clock skew between producer and
    /// this host) counts as zero.
    pub fn record_batch(
        &mut self,
        timestamps_ms: impl Iterator<Item = Option<i64>>,
        acked_ms: i64,
    ) {
        for ts in timestamps_ms.flatten() {
            let micros = (acked_ms.saturating_sub(ts)).max(0) as u64 * 1000;
            let micros = micros.clamp(1, MAX_MICROS);
            self.micros.saturating_record(micros);
            self.recent.saturating_record(micros);
        }
    }

    pub fn summary(&self) -> Option<LatencySummary> {
        summarize(&self.micros)
    }

    /// The summary of what was recorded since the last call, and a fresh
    /// start for the next one.
    pub fn take_recent(&mut self) -> Option<LatencySummary> {
        let summary = summarize(&self.recent);
        self.recent.reset();
        summary
    }
}

fn summarize(h: &Histogram<u64>) -> Option<LatencySummary> {
    if h.is_empty() {
        return None;
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    let mut histogram: Vec<(f64, u64)> = h
        .iter_log(1000, 2.0)
        .enumerate()
        // The bucket's nominal bound (1, 2, 4 … ms), not the histogram's
        // last distinguishable value below it (0.999 ms).
        .map(|(i, v)| (2f64.powi(i as i32), v.count_since_last_iteration()))
        .collect();
    while histogram.last().is_some_and(|(_, n)| *n == 0) {
        histogram.pop();
    }
    Some(LatencySummary {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
        histogram,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_records_within_one_percent() {
        let mut r = LatencyRecorder::new();
        // 100 records acknowledged at t = 1000 ms, made at 999, 998, … 900 ms:
        // latencies 1..=100 ms.
        r.record_batch((900..1000).map(Some), 1000);
        let s = r.summary().unwrap();
        assert_eq!(s.count, 100);
        for (got, want) in [
            (s.p50_ms, 50.0),
            (s.p90_ms, 90.0),
            (s.p99_ms, 99.0),
            (s.max_ms, 100.0),
        ] {
            assert!((got - want).abs() <= want * 0.01, "{got} vs {want}");
        }
        assert_eq!(s.histogram.iter().map(|(_, n)| n).sum::<u64>(), 100);
        assert_eq!(s.histogram.first().map(|b| b.0), Some(1.0));
    }

    #[test]
    fn recent_figures_start_afresh_after_each_take() {
        let mut r = LatencyRecorder::new();
        r.record_batch((900..1000).map(Some), 1000);
        assert_eq!(r.take_recent().map(|s| s.count), Some(100));
        assert_eq!(r.take_recent(), None);
        r.record_batch([Some(500)].into_iter(), 1000);
        let recent = r.take_recent().unwrap();
        assert_eq!(recent.count, 1);
        assert!((recent.max_ms - 500.0).abs() < 5.0, "{recent:?}");
        assert_eq!(
            r.summary().map(|s| s.count),
            Some(101),
            "the run's figures keep everything"
        );
    }

    #[test]
    fn records_without_timestamps_or_from_the_future_do_not_distort() {
        let mut r = LatencyRecorder::new();
        assert_eq!(r.summary(), None);
        r.record_batch([None, Some(2000), Some(990)].into_iter(), 1000);
        let s = r.summary().unwrap();
        assert_eq!(s.count, 2);
        assert!(s.p50_ms < 0.01, "a future timestamp counts as zero: {s:?}");
        assert!((s.max_ms - 10.0).abs() < 0.1, "{s:?}");
    }
}
