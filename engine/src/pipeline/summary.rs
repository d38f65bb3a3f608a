//! The totals of a run, summed from its batch reports.

use std::time::Duration;

use crate::latency::LatencySummary;
use crate::report::{BatchReport, PerSink};

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    pub batches: u64,
    /// Batches replayed from the checkpoint: planned by an earlier run or
    /// by an instance whose partitions this one took over.
    pub replayed: u64,
    pub rows_in: u64,
    pub decoded: u64,
    /// Records dead-lettered (or, without a dead-letter sink, counted).
    pub rejected: u64,
    /// Tombstones applied as deletes (see [`crate::deletes`]).
    pub deleted: u64,
    /// Offsets deleted before they were processed (skipped by configuration).
    pub lost: u64,
    /// Rows acknowledged per sink table.
    pub written: PerSink,
    /// Records each sink's transform failed on (see
    /// [`BatchReport::dead_lettered_by_sink`]).
    pub dead_lettered_by_sink: PerSink,
    pub duration: Duration,
    /// Sink acknowledgement − Kafka timestamp, over every record (see
    /// [`crate::latency`]); `None` when no record carried a timestamp.
    pub latency: Option<LatencySummary>,
}

/// Adds one batch's per-sink counts to the run's.
fn add_per_sink(totals: &mut PerSink, batch: &PerSink) {
    for (sink, n) in batch {
        *totals.entry(sink.clone()).or_default() += n;
    }
}

impl RunSummary {
    pub(super) fn add(&mut self, r: &BatchReport) {
        self.batches += 1;
        self.replayed += u64::from(r.replay);
        self.rows_in += r.rows_in as u64;
        self.decoded += r.decoded as u64;
        self.rejected += r.rejected as u64;
        self.deleted += r.deleted as u64;
        add_per_sink(&mut self.written, &r.written);
        add_per_sink(&mut self.dead_lettered_by_sink, &r.dead_lettered_by_sink);
    }

    /// Per sink: decoded records its SQL left out (neither written nor
    /// dead-lettered by it). Meaningful for transforms that write each row
    /// they keep once; 0 where a transform writes more rows than it reads.
    pub fn filtered_by_sink(&self) -> PerSink {
        self.written
            .iter()
            .map(|(sink, written)| {
                let failed = self
                    .dead_lettered_by_sink
                    .get(sink)
                    .copied()
                    .unwrap_or_default();
                (sink.clone(), self.decoded.saturating_sub(written + failed))
            })
            .collect()
    }

    /// Rows written by all sinks together.
    pub fn total_written(&self) -> u64 {
        self.written.values().sum()
    }
}
