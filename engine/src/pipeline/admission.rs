//! Step 1's second half: admitting a collected batch. What the checkpoint
//! already committed is dropped, a partition delivered from anywhere but
//! where its checkpoint continues is moved there, offsets deleted before
//! they were processed are data loss, and a plan found uncommitted on a
//! partition this instance now owns is handed back to be replayed first.

use std::collections::BTreeMap;

use super::Pipeline;
use crate::checkpoint::{add_plan, PartitionState, Plans};
use crate::error::EngineError;
use crate::source::RawRecord;
use crate::trigger::Trigger;

/// A collected batch after admission.
pub(super) struct Admitted {
    /// The records to process as the next batch.
    pub(super) records: Vec<RawRecord>,
    /// Uncommitted plans found on partitions first seen in this batch, to
    /// replay before it: per (batch id, write time), their ranges.
    pub(super) taken_over: Plans,
}

impl Pipeline {
    /// Orders the batch by partition and offset (so a replay sees the rows
    /// in the same order), drops what the checkpoint already committed, and
    /// detects offsets deleted before they were processed. A partition whose
    /// checkpoint holds an uncommitted plan (its planner died, or lost the
    /// partition mid-batch) is handed back in `taken_over` to be replayed
    /// first; the records it covers are dropped here.
    pub(super) async fn admit(
        &mut self,
        mut records: Vec<RawRecord>,
    ) -> Result<Admitted, EngineError> {
        if let Some(assigned) = self.source.assignment() {
            // A partition that left this instance may come back exactly
            // where it left (its other owner planned a batch and died before
            // committing anything): forgetting it makes its return a first
            // sight, which re-reads its checkpoint and finds that plan.
            self.tracker.keep_only(&assigned);
            // Records collected just before a revoke are their new
            // owner's to process: planning them here would race it. (An
            // available-now run processes everything it reads.)
            if matches!(self.spec.trigger, Trigger::ProcessingTime(_)) {
                records.retain(|r| assigned.contains(&r.partition));
            }
        }
        records.sort_by_key(|r| (r.partition, r.offset));
        let mut first_of: BTreeMap<i32, i64> = BTreeMap::new();
        let mut last_of: BTreeMap<i32, i64> = BTreeMap::new();
        for r in &records {
            first_of.entry(r.partition).or_insert(r.offset);
            last_of.insert(r.partition, r.offset);
        }
        let mut floor: BTreeMap<i32, i64> = BTreeMap::new();
        let mut taken_over = Plans::new();
        // Partitions the source must move: where each continues.
        let mut moves: BTreeMap<i32, i64> = BTreeMap::new();
        for (&p, &first) in &first_of {
            if self.tracker.expects(p, first) {
                floor.insert(p, first);
                continue;
            }
            // First sight of this partition, or a jump: its state may have
            // moved on under another instance.
            let state = self.checkpoint.load(p).await?.clone();
            self.tracker.saw_write_time_end(state.write_time_end);
            let resume = match (state.pending, state.committed_end) {
                // Same range, same write time: the replay is the batch its
                // planner (an earlier run, or another instance) would have
                // committed. This run's own plans are committed before it
                // admits again, so a plan found here is never its own.
                (Some(plan), _) => {
                    add_plan(&mut taken_over, p, &plan);
                    plan.end
                }
                (None, Some(committed)) => committed,
                // Never seen by the checkpoint: `starting_offsets` decided.
                (None, None) => continue,
            };
            floor.insert(p, resume);
            self.tracker.expect(p, resume);
            if first > resume {
                match self.tracker.read_from_move(p, resume, first) {
                    // Read from where this instance moved it: the gap is
                    // in the log (compaction, transaction markers,
                    // retention), and the move already accounted for what
                    // lies before `at`.
                    Some(at) => {
                        if let Some(earliest) = self.check_gap(p, at, first).await? {
                            moves.insert(p, earliest);
                        }
                    }
                    // The source started elsewhere (its group offsets are
                    // gone, `starting_offsets = "latest"`): the records in
                    // between were never read. Move it back.
                    _ => {
                        moves.insert(p, resume);
                    }
                }
            } else if last_of[&p] < resume {
                // All behind what another owner committed meanwhile: skip
                // ahead rather than read the rest of its work only to drop it.
                moves.insert(p, resume);
            }
        }
        if !moves.is_empty() {
            tracing::info!(partitions = ?moves, "moving partitions to where the checkpoint continues");
            self.source.resume_at(&moves).await?;
            for (&p, &at) in &moves {
                self.tracker.moved(p, at);
            }
            records.retain(|r| !moves.contains_key(&r.partition));
        }
        if !taken_over.is_empty() {
            self.gather_taken_over(&mut taken_over, &first_of).await?;
        }
        records.retain(|r| floor.get(&r.partition).is_none_or(|&f| r.offset >= f));
        for r in &records {
            self.tracker.delivered(r.partition, r.offset);
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
    pub(super) async fn gather_taken_over(
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
            if taken_over.contains_key(&plan.id()) {
                add_plan(taken_over, q, &plan);
                // When its records come, any below the replayed end make a
                // jump: `admit` re-reads the committed state and drops them.
                self.tracker.expect(q, plan.end);
            }
        }
        Ok(())
    }

    /// A gap between `from`, where the source was told to continue, and
    /// the first record it delivered is data loss only if the log no longer
    /// starts at or before `from` (compaction and transaction markers also
    /// leave gaps). Returns where the partition must continue instead when
    /// the source skipped records that still exist (it jumped to
    /// `starting_offsets` past the deleted ones).
    pub(super) async fn check_gap(
        &mut self,
        p: i32,
        from: i64,
        first: i64,
    ) -> Result<Option<i64>, EngineError> {
        let earliest = self.source.earliest_offset(p).await?;
        if earliest <= from {
            return Ok(None);
        }
        self.count_loss(p, from, earliest.min(first))?;
        Ok((first > earliest).then_some(earliest))
    }

    /// Offsets `from..to` of `p` were deleted before they were processed:
    /// stop, or (`fail_on_data_loss = false`) count them and go on.
    pub(super) fn count_loss(&mut self, p: i32, from: i64, to: i64) -> Result<(), EngineError> {
        let lost = to - from;
        let message = format!(
            "partition {p}: offsets {from}..{to} were deleted before they were processed ({lost} record(s))"
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

    /// Records deleted (retention) below where a partition continues are
    /// data loss, found at start rather than when the source would jump
    /// past them on its own (to `starting_offsets`, which for `latest`
    /// skips everything after them too). The partition then continues at
    /// the log's start. What a pending plan covers is counted by its replay.
    pub(super) async fn resume_within_retention(
        &mut self,
        resume: &mut BTreeMap<i32, i64>,
        states: &BTreeMap<i32, PartitionState>,
    ) -> Result<(), EngineError> {
        for (&p, at) in resume.iter_mut() {
            let earliest = self.source.earliest_offset(p).await?;
            if earliest <= *at {
                continue;
            }
            let uncounted = states
                .get(&p)
                .and_then(|s| s.pending)
                .map_or(*at, |plan| plan.end);
            if earliest > uncounted {
                self.count_loss(p, uncounted, earliest)?;
            }
            *at = earliest;
        }
        Ok(())
    }

    /// Partitions another instance changed in the checkpoint since this one
    /// read them: it owns them now, or owned them and planned or committed
    /// meanwhile. Their records leave the batch, unplanned; the source is
    /// moved back to where their checkpoint continues, so that if they are
    /// (or come back) here, their next records are a first sight that finds
    /// the state as it is now.
    pub(super) async fn step_aside(
        &mut self,
        changed: &std::collections::BTreeSet<i32>,
        mut records: Vec<RawRecord>,
    ) -> Result<Vec<RawRecord>, EngineError> {
        tracing::warn!(
            partitions = ?changed,
            "checkpoint changed by another instance since this one read it; leaving those partitions' records to their owner"
        );
        records.retain(|r| !changed.contains(&r.partition));
        let mut moves = BTreeMap::new();
        for &p in changed {
            self.tracker.forget(p);
            let state = self.checkpoint.state(p);
            if let Some(at) =
                state.and_then(|s| s.committed_end.or(s.pending.map(|plan| plan.start)))
            {
                moves.insert(p, at);
            }
        }
        self.source.resume_at(&moves).await?;
        for (p, at) in moves {
            self.tracker.moved_unchecked(p, at);
        }
        Ok(records)
    }
}
