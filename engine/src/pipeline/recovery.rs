//! Step 0, and replays: reading the checkpoint at start, and processing a
//! planned batch again, exactly as it was planned.

use std::collections::BTreeMap;
use std::time::Instant;

use super::execute::Executed;
use super::{Pipeline, Processed};
use crate::checkpoint::{add_plan, PlanId, Plans};
use crate::deletes::PlanTombstones;
use crate::error::EngineError;
use crate::report::BatchReport;
use crate::source::{ranges_after, OffsetRanges};
use crate::write_time::WriteTime;

impl Pipeline {
    /// Reads the checkpoint before anything else. A batch planned but not
    /// committed is replayed by the instance that owns its partitions. For
    /// a continuous job in a consumer group (a source that knows its
    /// assignment) the group decides that, so the plan is left for `admit`,
    /// which replays it when its partitions turn up here — after a restart
    /// as after a takeover, and never by an instance that merely joined
    /// while another was mid-batch. An available-now run, or a source
    /// without a group, replays every plan now: it is the only reader, and
    /// it must not finish with a plan left over.
    pub(super) async fn recover(&mut self) -> Result<Vec<BatchReport>, EngineError> {
        let states = self.checkpoint.load_all().await?.clone();
        let by_assignment = self.follows_assignment();
        let mut pending = Plans::new();
        let mut resume = BTreeMap::new();
        for (&p, state) in &states {
            self.tracker.saw_write_time_end(state.write_time_end);
            // Where the partition continues: its committed end (a pending
            // plan starts there), or the start of a first plan never
            // committed. The source's own positions (group offsets, which
            // vanish or expire, or `starting_offsets`) do not decide it.
            if let Some(at) = state.committed_end.or(state.pending.map(|plan| plan.start)) {
                resume.insert(p, at);
            }
            let Some(plan) = state.pending else {
                if let Some(end) = state.committed_end {
                    self.tracker.expect(p, end);
                }
                continue;
            };
            // Not in `expected`: the partition's first record here is a
            // first sight, which finds the plan (or its replay's commit).
            self.tracker.saw_batch(plan.batch_id);
            if !by_assignment {
                add_plan(&mut pending, p, &plan);
            }
        }
        self.resume_within_retention(&mut resume, &states).await?;
        self.source.resume_at(&resume).await?;
        self.tracker.started_at(resume);
        let mut reports = Vec::new();
        for (
            PlanId {
                batch_id,
                write_time,
            },
            ranges,
        ) in pending
        {
            reports.push(self.replay(batch_id, write_time, &ranges).await?);
        }
        Ok(reports)
    }

    /// Processes a planned batch again: exactly its ranges, read afresh from
    /// the source, at exactly its write time. Offsets of the plan deleted
    /// since (retention) are data loss, as on the main path: the job stops,
    /// or (`fail_on_data_loss = false`) the rest of the plan is replayed and
    /// the whole plan committed, even when nothing of it is left.
    ///
    /// # Pieces
    ///
    /// A plan's ranges are fixed, but its records need not fit the bounds
    /// in force now (it was planned under larger ones, which may be exactly
    /// why the job crashed; or a single record is larger than `max_bytes`).
    /// So the plan is read in (partition, offset) order, the order its rows
    /// had when it was first processed, one piece at a time, each bounded by
    /// `max_records` and `max_bytes` like a batch, and each piece is
    /// executed before the next is read. The rule is *same records, same
    /// order, same per-record write time*: a piece's base write time is the
    /// plan's write time plus the rows the plan decoded before the piece
    /// (records actually present, not offsets, as the first attempt counted
    /// them: compacted offsets and dead-lettered records take no row), so
    /// with a transform that writes one row per input row, every row gets
    /// the write time it had in the first attempt, whatever the piece size.
    /// (A transform that filters rows writes a piece's rows at or above
    /// their first-attempt times, still in order and inside the plan's
    /// range, so the later record of a key still wins; one that aggregates
    /// across records sees each piece apart.) Tombstones are applied once,
    /// after the last piece, at the plan's times (see [`crate::deletes`]).
    /// The plan is committed once, after every piece was written: a crash
    /// between pieces leaves it pending, and the next attempt replays it
    /// whole again, writing the same rows at the same times.
    pub(super) async fn replay(
        &mut self,
        batch_id: u64,
        write_time: WriteTime,
        ranges: &OffsetRanges,
    ) -> Result<BatchReport, EngineError> {
        tracing::info!(
            batch = batch_id,
            partitions = ranges.len(),
            "replaying an uncommitted batch"
        );
        let mut readable = OffsetRanges::new();
        for (&p, r) in ranges {
            let earliest = self.source.earliest_offset(p).await?;
            if earliest > r.start {
                self.count_loss(p, r.start, earliest.min(r.end))?;
            }
            if earliest < r.end {
                let start = r.start.max(earliest);
                readable.insert(p, crate::source::OffsetRange { start, end: r.end });
            }
        }
        let started = Instant::now();
        let mut executed = Executed::default();
        let mut tombstones = PlanTombstones::default();
        let (mut rows, mut pieces) = (0, 0);
        while !readable.is_empty() {
            let fetching = Instant::now();
            let mut piece = self
                .source
                .fetch_ranges(&readable, self.spec.bounds)
                .await?;
            executed.stages.fetch += fetching.elapsed();
            piece.sort_by_key(|r| (r.partition, r.offset));
            let Some(last) = piece.last() else { break };
            if let Some(stray) = piece.iter().find(|r| {
                readable
                    .get(&r.partition)
                    .is_none_or(|range| r.offset < range.start || r.offset >= range.end)
            }) {
                return Err(EngineError::Internal(format!(
                    "replay of batch {batch_id}: the source returned partition {} offset {} outside the ranges asked for ({readable:?})",
                    stray.partition, stray.offset
                )));
            }
            readable = ranges_after(&readable, last);
            pieces += 1;
            if pieces > 1 || !readable.is_empty() {
                tracing::info!(
                    batch = batch_id,
                    piece = pieces,
                    records = piece.len(),
                    first_row = rows,
                    "replaying a piece of the batch"
                );
            }
            let base = write_time.after_rows(executed.decoded);
            let done = self
                .executor
                .execute_piece(batch_id, &piece, base, &mut tombstones)
                .await?;
            executed.add(done);
            rows += piece.len();
        }
        let deleted = self
            .executor
            .finish(batch_id, tombstones, write_time, rows)
            .await?;
        executed.add(deleted);
        let batch = Processed {
            batch_id,
            ranges: ranges.clone(),
            rows,
            write_time,
            replay: true,
            pieces: pieces.max(1),
        };
        let report = self.commit(batch, executed, started).await?;
        // The group consumer may still deliver the replayed records (its
        // position came from group offsets fetched before the replay
        // committed): expecting the replay's end makes them a jump, which
        // `admit` resolves against the checkpoint and drops.
        for (&p, r) in ranges {
            self.tracker.expect_at_least(p, r.end);
        }
        Ok(report)
    }
}
