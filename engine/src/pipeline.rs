//! The micro-batch loop, top to bottom:
//!
//! 0. on start, read the checkpoint and tell the source where each partition
//!    continues (its committed end; [`recovery`]);
//! 1. collect a batch from the [`Source`] (closes at `max_records`,
//!    `max_bytes` or one trigger interval after the previous batch closed,
//!    at once if that is past: [`BatchBounds`], [`Trigger::next_close`]) and admit it
//!    ([`admission`]): records the checkpoint already committed are dropped,
//!    a partition delivered from elsewhere is moved to where its checkpoint
//!    continues, deleted offsets are detected (data loss), and a batch
//!    planned but never committed on partitions this instance now owns (it
//!    crashed, or their previous owner did) is replayed first — exactly its
//!    ranges, at exactly its write time, in pieces no larger than the bounds;
//! 2. plan it in the checkpoint: its ranges and its write time, written only
//!    where the state is still what this instance read (a partition another
//!    instance changed leaves the batch: the fencing of a previous owner);
//! 3. decode the payload bytes into one Arrow batch; records that do not
//!    decode are set aside with a reason (tombstones too, unless a sink has
//!    `deletes = true`: then they are kept for step 4);
//! 4. run every SQL transform on it, each on its own; each writes into its
//!    sink table and returns once the sink acknowledged every row; rows that
//!    make a transform fail are narrowed down and set aside too. Tombstones
//!    are then applied as deletes ([`crate::deletes`]);
//! 5. send what was set aside to the dead-letter topic and wait for acks;
//! 6. commit the checkpoint, then the source's group offsets (a mirror);
//! 7. report. `rows in = decoded + deleted + dead-lettered`, every batch.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use datafusion::catalog::TableProvider;
use ember_decode::{JsonDecoder, SourceSchema};
use tokio::sync::watch;

use crate::checkpoint::{Checkpoint, PlanId};
use crate::dead_letter::DeadLetterSink;
use crate::deletes::PlanTombstones;
use crate::deletes::{DeleteSink, Deletes};
use crate::error::EngineError;
use crate::latency::LatencyRecorder;
use crate::narrow::FailureStreak;
use crate::report::{BatchReport, Reporter, StageTimings};
use crate::source::{ranges_of, BatchBounds, OffsetRanges, RawRecord, Source};
use crate::sql::SqlEngine;
use crate::trigger::Trigger;
use crate::write_time::WriteTime;

mod admission;
mod execute;
mod recovery;
mod summary;
mod tracker;
use execute::{Executed, Executor};
pub use summary::RunSummary;
use tracker::PartitionTracker;

/// Everything the engine needs to know about a pipeline, independent of the
/// connectors.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub name: String,
    /// The table name the SQL reads the decoded batch from.
    pub source_table: String,
    pub schema: SourceSchema,
    /// `max_records` and `max_bytes`: where a batch, or a piece of a
    /// replay, closes.
    pub bounds: BatchBounds,
    pub trigger: Trigger,
    pub sql_files: Vec<PathBuf>,
    /// Stop when records were deleted before they were processed (like
    /// Spark's `failOnDataLoss`); false skips them with a warning.
    pub fail_on_data_loss: bool,
}

/// A planned batch once every sink acknowledged it, for step 6.
struct Processed {
    batch_id: u64,
    /// What the checkpoint planned (a replay may have found less of it).
    ranges: OffsetRanges,
    rows: usize,
    write_time: WriteTime,
    replay: bool,
    /// How many pieces it was executed in (1 unless a replay was split).
    pieces: usize,
}

/// A planned pipeline bound to its source, sinks, checkpoint and dead-letter sink.
pub struct Pipeline {
    spec: PipelineSpec,
    source: Box<dyn Source>,
    /// Steps 3–5.
    executor: Executor,
    checkpoint: Checkpoint,
    /// Expected offsets, moves of the source, the next batch id and write time.
    tracker: PartitionTracker,
    lost: u64,
    /// Fetch and plan times of the batch about to be processed, for its
    /// report (taken by `commit`).
    collected: StageTimings,
}

impl Pipeline {
    /// Plans the SQL against the sinks; fails before reading anything if a
    /// file does not parse or plan.
    pub async fn new(
        spec: PipelineSpec,
        source: Box<dyn Source>,
        sinks: Vec<(String, Arc<dyn TableProvider>)>,
        checkpoint: Checkpoint,
        dead_letters: Option<Box<dyn DeadLetterSink>>,
    ) -> Result<Self, EngineError> {
        let decoder = JsonDecoder::new(spec.schema.clone());
        let sql = SqlEngine::plan(
            &spec.source_table,
            decoder.schema().clone(),
            sinks,
            &spec.sql_files,
        )
        .await?;
        Ok(Pipeline {
            spec,
            source,
            executor: Executor {
                decoder,
                sql,
                dead_letters,
                deletes: Deletes::new(Vec::new()),
                latency: LatencyRecorder::new(),
                streak: FailureStreak::new(FailureStreak::DEFAULT_LIMIT),
            },
            checkpoint,
            tracker: PartitionTracker::default(),
            lost: 0,
            collected: StageTimings::default(),
        })
    }

    /// Applies tombstones as deletes to these sinks (`deletes = true`)
    /// instead of dead-lettering them.
    pub fn with_deletes(mut self, sinks: Vec<Arc<dyn DeleteSink>>) -> Self {
        self.executor.deletes = Deletes::new(sinks);
        self
    }

    /// Stops the pipeline once this many records in a row failed a
    /// transform or were rejected by a sink (0: no limit; default
    /// 100).
    pub fn with_max_consecutive_failures(mut self, limit: usize) -> Self {
        self.executor.streak = FailureStreak::new(limit);
        self
    }

    pub fn spec(&self) -> &PipelineSpec {
        &self.spec
    }

    /// Runs until the source is finished (available-now) or `shutdown`
    /// becomes true. A shutdown request lets the batch in flight finish and
    /// commit; only the wait for new records is cut short.
    pub async fn run(
        &mut self,
        reporter: &mut dyn Reporter,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<RunSummary, EngineError> {
        let started = Instant::now();
        let mut summary = RunSummary::default();
        for report in self.recover().await? {
            summary.add(&report);
            reporter.batch_done(&report);
        }
        let mut last_close = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            // 1. Collect and admit.
            let close = self.spec.trigger.next_close(last_close, Instant::now());
            let fetching = Instant::now();
            let records = tokio::select! {
                next = self.source.next_batch(self.spec.bounds, close) => next?,
                _ = shutdown.changed() => break,
            };
            // A batch that filled up before its close starts the schedule
            // again from when it did.
            last_close = Some(close.min(Instant::now()));
            let Some(records) = records else { break };
            let fetch = fetching.elapsed();
            let admitted = self.admit(records).await?;
            for (
                PlanId {
                    batch_id,
                    write_time,
                },
                ranges,
            ) in admitted.taken_over
            {
                let report = self.replay(batch_id, write_time, &ranges).await?;
                summary.add(&report);
                reporter.batch_done(&report);
            }
            let records = admitted.records;
            if records.is_empty() {
                reporter.idle();
                continue;
            }
            // 2. Plan.
            let batch_id = self.tracker.next_batch_id();
            let mut ranges = ranges_of(&records);
            let write_time = self.plan_write_time(&ranges, records.len());
            let planning = Instant::now();
            let changed = self
                .checkpoint
                .plan(batch_id, &ranges, write_time, records.len())
                .await?;
            let records = if changed.is_empty() {
                records
            } else {
                let records = self.step_aside(&changed, records).await?;
                ranges = ranges_of(&records);
                if records.is_empty() {
                    continue;
                }
                records
            };
            self.collected = StageTimings {
                fetch,
                plan: planning.elapsed(),
                ..StageTimings::default()
            };
            tracing::debug!(
                batch = batch_id,
                plan_ms = planning.elapsed().as_secs_f64() * 1e3,
                "batch planned"
            );
            // 3–6. Process and commit. The source is not read meanwhile:
            // a consumer polled mid-batch would answer a rebalance and hand
            // its partitions over while this batch is in flight, and the new
            // owner would replay it beside this one. Rejoining only between
            // batches keeps that from happening; the conditional checkpoint
            // writes (step 2, and the commit) fence an owner too slow to
            // rejoin at all.
            let report = self.process(batch_id, ranges, records, write_time).await?;
            summary.add(&report);
            reporter.batch_done(&report);
        }
        summary.lost = self.lost;
        summary.duration = started.elapsed();
        summary.latency = self.executor.latency.summary();
        Ok(summary)
    }

    /// Whether this instance processes only what its consumer group assigns
    /// it (a continuous job in a group): an available-now run, or a source
    /// without a group, processes everything it reads.
    fn follows_assignment(&self) -> bool {
        matches!(self.spec.trigger, Trigger::ProcessingTime(_))
            && self.source.assignment().is_some()
    }

    /// Steps 3–6 for a batch as it was collected and planned, in one piece
    /// (it is within the bounds): `ranges` is what the checkpoint planned.
    async fn process(
        &mut self,
        batch_id: u64,
        ranges: OffsetRanges,
        records: Vec<RawRecord>,
        write_time: WriteTime,
    ) -> Result<BatchReport, EngineError> {
        let started = Instant::now();
        let mut tombstones = PlanTombstones::default();
        let mut executed = self
            .executor
            .execute_piece(batch_id, &records, write_time, &mut tombstones)
            .await?;
        let deleted = self
            .executor
            .finish(batch_id, tombstones, write_time, records.len())
            .await?;
        executed.add(deleted);
        let batch = Processed {
            batch_id,
            ranges,
            rows: records.len(),
            write_time,
            replay: false,
            pieces: 1,
        };
        self.commit(batch, executed, started).await
    }

    /// Step 6, for a batch every sink acknowledged: commit the checkpoint
    /// (the authority), then the source's group offsets (a mirror).
    async fn commit(
        &mut self,
        batch: Processed,
        executed: Executed,
        started: Instant,
    ) -> Result<BatchReport, EngineError> {
        let Processed {
            batch_id,
            ranges,
            rows,
            write_time,
            replay,
            pieces,
        } = batch;
        let executed_after = started.elapsed();
        self.checkpoint.commit(&ranges).await?;
        let checkpointed_after = started.elapsed();
        if let Err(e) = self.source.commit(&ranges).await {
            tracing::warn!(batch = batch_id, error = %e, "group offset commit failed; the checkpoint has the batch");
        }
        tracing::debug!(
            batch = batch_id,
            rows,
            pieces,
            executed_ms = executed_after.as_secs_f64() * 1e3,
            checkpoint_ms = (checkpointed_after - executed_after).as_secs_f64() * 1e3,
            group_commit_ms = (started.elapsed() - checkpointed_after).as_secs_f64() * 1e3,
            "batch committed"
        );
        self.tracker.committed(batch_id, write_time, rows);
        let mut stages = std::mem::take(&mut self.collected);
        stages.add(&executed.stages);
        stages.checkpoint = checkpointed_after - executed_after;
        stages.group_commit = started.elapsed() - checkpointed_after;

        Ok(BatchReport {
            batch_id,
            replay,
            ranges,
            write_time,
            pieces,
            rows_in: rows,
            decoded: executed.decoded,
            rejected: executed.rejected,
            deleted: executed.deleted,
            written: executed.written,
            dead_lettered_by_sink: executed.dead_lettered_by_sink,
            dead_lettered_by_reason: executed.dead_lettered_by_reason,
            lost_total: self.lost,
            stages,
            latency: self.executor.latency.take_recent(),
            duration: started.elapsed(),
        })
    }

    /// The batch's base write timestamp: the wall clock, but never at or
    /// below any earlier batch's rows, in this process or (through the
    /// checkpoint) in another instance that owned these partitions.
    /// A clock set before 1970 counts as 1970: write times then still grow
    /// from the checkpoint's floor.
    fn plan_write_time(&mut self, ranges: &OffsetRanges, rows: usize) -> WriteTime {
        let floor = ranges
            .keys()
            .filter_map(|p| self.checkpoint.state(*p))
            .map(|s| s.write_time_end)
            .max()
            .unwrap_or_default();
        self.tracker.plan_write_time(WriteTime::now(), floor, rows)
    }
}

#[cfg(test)]
mod tests;
