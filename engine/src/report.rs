//! What the engine tells its caller after each batch.

use std::time::Duration;

use crate::source::OffsetRanges;

/// The outcome of one micro-batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchReport {
    pub batch_id: u64,
    /// True for a batch replayed from the checkpoint: planned but not
    /// committed before a restart, or by an instance whose partitions this
    /// one took over.
    pub replay: bool,
    /// The offsets the batch covered, per partition.
    pub ranges: OffsetRanges,
    /// The batch's base write time (microseconds): row `i` of a sink's
    /// input is written at `write_time + i`.
    pub write_time: i64,
    /// Records read from the source.
    pub rows_in: usize,
    /// Records decoded into rows.
    pub decoded: usize,
    /// Records set aside — not decodable, or failing a transform — and
    /// sent to the dead-letter topic. `rows_in = rows written + rejected`.
    pub rejected: usize,
    /// Rows acknowledged by each sink, by SQL file, in file order.
    pub written: Vec<(String, u64)>,
    pub duration: Duration,
}

impl BatchReport {
    /// Rows written by all sinks together.
    pub fn total_written(&self) -> u64 {
        self.written.iter().map(|(_, n)| n).sum()
    }

    /// Input records per second of wall time for this batch.
    pub fn rows_per_sec(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.rows_in as f64 / secs
        } else {
            0.0
        }
    }
}

/// Receives a report after every batch (the CLI prints a progress line).
pub trait Reporter: Send {
    fn batch_done(&mut self, report: &BatchReport);
    /// The source had nothing for a whole trigger interval.
    fn idle(&mut self) {}
}
