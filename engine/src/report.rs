//! What the engine tells its caller after each batch.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::latency::LatencySummary;
use crate::source::OffsetRanges;
use crate::write_time::WriteTime;

/// A count per sink table, by the name the SQL writes it under.
pub type PerSink = BTreeMap<String, u64>;

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
    /// The batch's base write time: row `i` of a sink's input is written
    /// at `write_time.after_rows(i)`.
    pub write_time: WriteTime,
    /// How many pieces the batch was executed in: 1, unless it is a replay
    /// of a plan larger than the bounds in force (see
    /// [`crate::pipeline::Pipeline`]'s replay). The counts are the whole
    /// batch's, over every piece.
    pub pieces: usize,
    /// Records read from the source (for a replay in pieces, all of them).
    pub rows_in: usize,
    /// Records decoded into rows.
    pub decoded: usize,
    /// Records set aside — not decodable, or failing a transform — and
    /// sent to the dead-letter topic. `rows_in = decoded + deleted + rejected`
    /// (and, for a transform that writes each row once, `decoded` = written).
    pub rejected: usize,
    /// Tombstones applied as deletes to every sink with `deletes = true`.
    pub deleted: usize,
    /// Rows acknowledged by each sink.
    pub written: PerSink,
    /// Per sink, the decoded records its transform failed on (dead-lettered,
    /// naming the file). Transforms are independent, so a record another
    /// transform failed on may still be in this sink: per sink, `decoded =
    /// written + filtered out by its SQL + dead-lettered by it` (for a
    /// transform that writes each row it keeps once).
    pub dead_lettered_by_sink: PerSink,
    /// Records set aside, by reason (`invalid_json`, `transform_failed` …,
    /// the reason header of the dead letter); sums to `rejected`.
    pub dead_lettered_by_reason: PerReason,
    /// Offsets found deleted before they were processed, over the whole
    /// run so far (skipped because `fail_on_data_loss = false`).
    pub lost_total: u64,
    /// Where the batch's time went, stage by stage.
    pub stages: StageTimings,
    /// End-to-end latency (sink ack − Kafka timestamp) of this batch's
    /// records alone; `None` when none carried a timestamp.
    pub latency: Option<LatencySummary>,
    pub duration: Duration,
}

/// A count per dead-letter reason.
pub type PerReason = BTreeMap<&'static str, u64>;

/// Wall time per stage of one batch, measured where each stage runs (for a
/// replay in pieces, summed over them). Observability reads them (`/metrics`,
/// `/progress`); nothing in the engine depends on them.
///
/// `fetch` is the time spent waiting for the source, the trigger's wait
/// included, so it is outside `duration`; the others are inside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTimings {
    /// Collecting the batch from the source (for a replay: reading its ranges).
    pub fetch: Duration,
    /// Writing the plan (ranges and write time) to the checkpoint.
    pub plan: Duration,
    /// Payload bytes to one Arrow batch.
    pub decode: Duration,
    /// Computing the transforms' `SELECT`s: the CPU time DataFusion's
    /// operators report (`elapsed_compute`). An `INSERT INTO` runs its
    /// `SELECT` and its sink in one plan, the sink pulling rows as it
    /// writes, so the two are told apart by the operators' own timers.
    pub sql: Duration,
    /// The rest of the transforms' wall time: the sink's writes and the
    /// wait for their acknowledgements (narrowing of failures included).
    pub write: Duration,
    /// Tombstones applied as deletes.
    pub deletes: Duration,
    /// Sending set-aside records to the dead-letter topic, until acked.
    pub dead_letters: Duration,
    /// Committing the checkpoint (the authority).
    pub checkpoint: Duration,
    /// Committing the source's group offsets (the mirror).
    pub group_commit: Duration,
}

impl StageTimings {
    /// The stages by their metric label, in pipeline order.
    pub fn labelled(&self) -> [(&'static str, Duration); 9] {
        [
            ("fetch", self.fetch),
            ("plan", self.plan),
            ("decode", self.decode),
            ("sql", self.sql),
            ("write", self.write),
            ("deletes", self.deletes),
            ("dead_letters", self.dead_letters),
            ("checkpoint", self.checkpoint),
            ("group_commit", self.group_commit),
        ]
    }

    /// Adds a later piece's times.
    pub fn add(&mut self, other: &StageTimings) {
        self.fetch += other.fetch;
        self.plan += other.plan;
        self.decode += other.decode;
        self.sql += other.sql;
        self.write += other.write;
        self.deletes += other.deletes;
        self.dead_letters += other.dead_letters;
        self.checkpoint += other.checkpoint;
        self.group_commit += other.group_commit;
    }
}

impl BatchReport {
    /// Rows written by all sinks together.
    pub fn total_written(&self) -> u64 {
        self.written.values().sum()
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
