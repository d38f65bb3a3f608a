//! The totals of a run, summed from its batch reports.

use std::time::Duration;

use crate::latency::LatencySummary;
use crate::report::BatchReport;

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
    /// Offsets deleted before they were processed (skipped by configuration).
    pub lost: u64,
    /// Rows acknowledged per sink table.
    pub written: Vec<(String, u64)>,
    pub duration: Duration,
    /// Sink acknowledgement − Kafka timestamp, over every record (see
    /// [`crate::latency`]); `None` when no record carried a timestamp.
    pub latency: Option<LatencySummary>,
}

impl RunSummary {
    pub(super) fn add(&mut self, r: &BatchReport) {
        self.batches += 1;
        self.replayed += u64::from(r.replay);
        self.rows_in += r.rows_in as u64;
        self.decoded += r.decoded as u64;
        self.rejected += r.rejected as u64;
        for (sink, n) in &r.written {
            match self.written.iter_mut().find(|(s, _)| s == sink) {
                Some((_, total)) => *total += n,
                None => self.written.push((sink.clone(), *n)),
            }
        }
    }

    /// Rows written by all sinks together.
    pub fn total_written(&self) -> u64 {
        self.written.iter().map(|(_, n)| n).sum()
    }
}
