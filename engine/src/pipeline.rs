//! The micro-batch loop, top to bottom:
//!
//! 0. on start, read the checkpoint;
//! 1. collect a batch from the [`Source`] (closes at `max_records` or at the
//!    trigger interval) and admit it: records the checkpoint already
//!    committed are dropped, deleted offsets are detected (data loss), and
//!    a batch planned but never committed on partitions this instance now
//!    owns (it crashed, or their previous owner did) is replayed first —
//!    exactly its ranges, at exactly its write time;
//! 2. plan it in the checkpoint: its ranges and its write time;
//! 3. decode the payload bytes into one Arrow batch; records that do not
//!    decode are set aside with a reason;
//! 4. run every SQL transform on it; each writes into its sink table and
//!    returns once the sink acknowledged every row; rows that make a
//!    transform fail are narrowed down and set aside too;
//! 5. send what was set aside to the dead-letter topic and wait for acks;
//! 6. commit the checkpoint, then the source's group offsets (a mirror);
//! 7. report. `rows in = rows written + dead-lettered`, every batch.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use datafusion::catalog::TableProvider;
use ember_decode::{JsonDecoder, SourceSchema};
use tokio::sync::watch;

use crate::checkpoint::{add_plan, Checkpoint, Plans};
use crate::dead_letter::DeadLetterSink;
use crate::error::EngineError;
use crate::latency::LatencyRecorder;
use crate::report::{BatchReport, Reporter};
use crate::source::{ranges_of, OffsetRanges, RawRecord, Source};
use crate::sql::SqlEngine;
use crate::trigger::Trigger;

mod execute;
mod summary;
use execute::{Executed, Executor};
pub use summary::RunSummary;

/// Everything the engine needs to know about a pipeline, independent of the
/// connectors.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub name: String,
    /// The table name the SQL reads the decoded batch from.
    pub source_table: String,
    pub schema: SourceSchema,
    pub max_records: usize,
    pub trigger: Trigger,
    pub sql_files: Vec<PathBuf>,
    /// Stop when records were deleted before they were processed (like
    /// Spark's `failOnDataLoss`); false skips them with a warning.
    pub fail_on_data_loss: bool,
}

/// A collected batch after admission.
struct Admitted {
    /// The records to process as the next batch.
    records: Vec<RawRecord>,
    /// Uncommitted plans found on partitions first seen in this batch, to
    /// replay before it: per (batch id, write time), their ranges.
    taken_over: Plans,
}

/// A planned pipeline bound to its source, sinks, checkpoint and dead-letter sink.
pub struct Pipeline {
    spec: PipelineSpec,
    source: Box<dyn Source>,
    /// Steps 3–5.
    executor: Executor,
    checkpoint: Checkpoint,
    next_batch_id: u64,
    /// The first write timestamp the next batch may use.
    next_write_time: i64,
    /// Per partition, the offset the next record should have. A record
    /// elsewhere means the partition moved or records vanished: re-read
    /// its checkpoint state.
    expected: BTreeMap<i32, i64>,
    lost: u64,
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
                latency: LatencyRecorder::new(),
            },
            checkpoint,
            next_batch_id: 0,
            next_write_time: 0,
            expected: BTreeMap::new(),
            lost: 0,
        })
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
        loop {
            if *shutdown.borrow() {
                break;
            }
            // 1. Collect and admit.
            let close = self.spec.trigger.close_from(Instant::now());
            let records = tokio::select! {
                next = self.source.next_batch(self.spec.max_records, close) => next?,
                _ = shutdown.changed() => break,
            };
            let Some(records) = records else { break };
            let admitted = self.admit(records).await?;
            for ((batch_id, write_time), ranges) in admitted.taken_over {
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
            let batch_id = self.next_batch_id;
            let ranges = ranges_of(&records);
            let write_time = self.plan_write_time(&ranges, records.len());
            let planning = Instant::now();
            self.checkpoint
                .plan(batch_id, &ranges, write_time, records.len())
                .await?;
            tracing::debug!(
                batch = batch_id,
                plan_ms = planning.elapsed().as_secs_f64() * 1e3,
                "batch planned"
            );
            // 3–6. Process and commit. The source is not read meanwhile:
            // a consumer polled mid-batch would answer a rebalance and hand
            // its partitions over while this batch is in flight, and the new
            // owner would replay it beside this one. Rejoining only between
            // batches is what fences a partition's previous owner.
            let report = self.process(batch_id, records, write_time, false).await?;
            summary.add(&report);
            reporter.batch_done(&report);
        }
        summary.lost = self.lost;
        summary.duration = started.elapsed();
        summary.latency = self.executor.latency.summary();
        Ok(summary)
    }

    /// Reads the checkpoint before anything else. A batch planned but not
    /// committed is replayed by the instance that owns its partitions. For
    /// a continuous job in a consumer group (a source that knows its
    /// assignment) the group decides that, so the plan is left for `admit`,
    /// which replays it when its partitions turn up here — after a restart
    /// as after a takeover, and never by an instance that merely joined
    /// while another was mid-batch. An available-now run, or a source
    /// without a group, replays every plan now: it is the only reader, and
    /// it must not finish with a plan left over.
    async fn recover(&mut self) -> Result<Vec<BatchReport>, EngineError> {
        let states = self.checkpoint.load_all().await?.clone();
        let by_assignment = matches!(self.spec.trigger, Trigger::ProcessingTime(_))
            && self.source.assignment().is_some();
        let mut pending = Plans::new();
        for (&p, state) in &states {
            self.next_write_time = self.next_write_time.max(state.write_time_end);
            let Some(plan) = state.pending else {
                if let Some(end) = state.committed_end {
                    self.expected.insert(p, end);
                }
                continue;
            };
            // Not in `expected`: the partition's first record here is a
            // first sight, which finds the plan (or its replay's commit).
            self.next_batch_id = self.next_batch_id.max(plan.batch_id + 1);
            if !by_assignment {
                add_plan(&mut pending, p, &plan);
            }
        }
        let mut reports = Vec::new();
        for ((batch_id, write_time), ranges) in pending {
            reports.push(self.replay(batch_id, write_time, &ranges).await?);
        }
        Ok(reports)
    }

    /// Processes a planned batch again: exactly its ranges, read afresh from
    /// the source, at exactly its write time.
    async fn replay(
        &mut self,
        batch_id: u64,
        write_time: i64,
        ranges: &OffsetRanges,
    ) -> Result<BatchReport, EngineError> {
        tracing::info!(
            batch = batch_id,
            partitions = ranges.len(),
            "replaying an uncommitted batch"
        );
        let mut records = self.source.fetch_ranges(ranges).await?;
        records.sort_by_key(|r| (r.partition, r.offset));
        let report = self.process(batch_id, records, write_time, true).await?;
        // The group consumer may still deliver the replayed records (its
        // position came from group offsets fetched before the replay
        // committed): expecting the replay's end makes them a jump, which
        // `admit` resolves against the checkpoint and drops.
        for (&p, r) in ranges {
            let expected = self.expected.entry(p).or_insert(r.end);
            *expected = (*expected).max(r.end);
        }
        Ok(report)
    }

    /// Orders the batch by partition and offset (so a replay sees the rows
    /// in the same order), drops what the checkpoint already committed, and
    /// detects offsets deleted before they were processed. A partition whose
    /// checkpoint holds an uncommitted plan (its planner died, or lost the
    /// partition mid-batch) is handed back in `taken_over` to be replayed
    /// first; the records it covers are dropped here.
    async fn admit(&mut self, mut records: Vec<RawRecord>) -> Result<Admitted, EngineError> {
        if let Some(assigned) = self.source.assignment() {
            // A partition that left this instance may come back exactly
            // where it left (its other owner planned a batch and died before
            // committing anything): forgetting it makes its return a first
            // sight, which re-reads its checkpoint and finds that plan.
            self.expected.retain(|p, _| assigned.contains(p));
        }
        records.sort_by_key(|r| (r.partition, r.offset));
        let mut first_of: BTreeMap<i32, i64> = BTreeMap::new();
        for r in &records {
            first_of.entry(r.partition).or_insert(r.offset);
        }
        let mut floor: BTreeMap<i32, i64> = BTreeMap::new();
        let mut taken_over = Plans::new();
        for (&p, &first) in &first_of {
            if self.expected.get(&p) == Some(&first) {
                floor.insert(p, first);
                continue;
            }
            // First sight of this partition, or a jump: its state may have
            // moved on under another instance.
            let state = self.checkpoint.load(p).await?.clone();
            self.next_write_time = self.next_write_time.max(state.write_time_end);
            if let Some(plan) = state.pending {
                // Same range, same write time: the replay is the batch its
                // planner (an earlier run, or another instance) would have
                // committed. This run's own plans are committed before it
                // admits again, so a plan found here is never its own.
                add_plan(&mut taken_over, p, &plan);
                floor.insert(p, plan.end);
                self.expected.insert(p, plan.end);
                if first > plan.end {
                    self.check_data_loss(p, plan.end, first).await?;
                }
                continue;
            }
            let Some(committed) = state.committed_end else {
                continue;
            };
            floor.insert(p, committed);
            if first > committed {
                self.check_data_loss(p, committed, first).await?;
            }
        }
        if !taken_over.is_empty() {
            self.gather_taken_over(&mut taken_over, &first_of).await?;
        }
        records.retain(|r| floor.get(&r.partition).is_none_or(|&f| r.offset >= f));
        for r in &records {
            self.expected.insert(r.partition, r.offset + 1);
        }
        Ok(Admitted {
            records,
            taken_over,
        })
    }

    /// A plan usually spans several partitions, which need not all deliver
    /// a record in the same batch here. The rest of it is gathered from the
    /// other partitions this instance now owns, so the plan is replayed
    /// once, whole, as it was planned.
    async fn gather_taken_over(
        &mut self,
        taken_over: &mut Plans,
        seen: &BTreeMap<i32, i64>,
    ) -> Result<(), EngineError> {
        let Some(assigned) = self.source.assignment() else {
            return Ok(());
        };
        for q in assigned.into_iter().filter(|q| !seen.contains_key(q)) {
            let Some(plan) = self.checkpoint.load(q).await?.pending else {
                continue;
            };
            if taken_over.contains_key(&(plan.batch_id, plan.write_time)) {
                add_plan(taken_over, q, &plan);
                // When its records come, any below the replayed end make a
                // jump: `admit` re-reads the committed state and drops them.
                self.expected.insert(q, plan.end);
            }
        }
        Ok(())
    }

    /// A gap between the committed end and the first record is data loss
    /// only if the log no longer starts before the gap (compaction and
    /// transaction markers also leave gaps).
    async fn check_data_loss(
        &mut self,
        p: i32,
        committed: i64,
        first: i64,
    ) -> Result<(), EngineError> {
        let earliest = self.source.earliest_offset(p).await?;
        if earliest <= committed {
            return Ok(());
        }
        let lost = earliest.min(first) - committed;
        let message = format!(
            "partition {p}: offsets {committed}..{} were deleted before they were processed ({lost} record(s))",
            earliest.min(first)
        );
        if self.spec.fail_on_data_loss {
            return Err(EngineError::DataLoss(message));
        }
        tracing::warn!(
            partition = p,
            lost,
            "{message}; skipping them (fail_on_data_loss = false)"
        );
        self.lost += lost as u64;
        Ok(())
    }

    /// Steps 3–6 for one planned batch.
    async fn process(
        &mut self,
        batch_id: u64,
        records: Vec<RawRecord>,
        write_time: i64,
        replay: bool,
    ) -> Result<BatchReport, EngineError> {
        let started = Instant::now();
        let executed = self
            .executor
            .execute(batch_id, &records, write_time)
            .await?;
        self.commit(batch_id, &records, write_time, executed, replay, started)
            .await
    }

    /// Step 6, for a batch every sink acknowledged: commit the checkpoint
    /// (the authority), then the source's group offsets (a mirror).
    async fn commit(
        &mut self,
        batch_id: u64,
        records: &[RawRecord],
        write_time: i64,
        executed: Executed,
        replay: bool,
        started: Instant,
    ) -> Result<BatchReport, EngineError> {
        let ranges = ranges_of(records);
        let executed_after = started.elapsed();
        self.checkpoint.commit(&ranges).await?;
        let checkpointed_after = started.elapsed();
        if let Err(e) = self.source.commit(&ranges).await {
            tracing::warn!(batch = batch_id, error = %e, "group offset commit failed; the checkpoint has the batch");
        }
        tracing::debug!(
            batch = batch_id,
            rows = records.len(),
            executed_ms = executed_after.as_secs_f64() * 1e3,
            checkpoint_ms = (checkpointed_after - executed_after).as_secs_f64() * 1e3,
            group_commit_ms = (started.elapsed() - checkpointed_after).as_secs_f64() * 1e3,
            "batch committed"
        );
        self.next_batch_id = self.next_batch_id.max(batch_id + 1);
        self.next_write_time = self
            .next_write_time
            .max(write_time + records.len() as i64 + 1);

        Ok(BatchReport {
            batch_id,
            replay,
            ranges,
            write_time,
            rows_in: records.len(),
            decoded: executed.decoded,
            rejected: executed.rejected,
            written: executed.written.into_iter().collect(),
            duration: started.elapsed(),
        })
    }

    /// The batch's base write timestamp: the wall clock, but never at or
    /// below any earlier batch's rows, in this process or (through the
    /// checkpoint) in another instance that owned these partitions.
    fn plan_write_time(&mut self, ranges: &OffsetRanges, rows: usize) -> i64 {
        let now = now_micros();
        let floor = ranges
            .keys()
            .filter_map(|p| self.checkpoint.state(*p))
            .map(|s| s.write_time_end)
            .max()
            .unwrap_or(0);
        let base = now.max(self.next_write_time).max(floor);
        self.next_write_time = base + rows as i64 + 1;
        base
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
