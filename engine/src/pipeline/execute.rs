//! Steps 3–5 of a planned batch: decode, transform and write (tombstones
//! applied as deletes where a sink asked for it), dead letters.
//!
//! They touch neither the source nor the checkpoint, so they live apart from
//! the loop, which plans before them and commits after them.
//!
//! A planned batch is executed as one or more pieces, in plan order (a
//! batch as it was collected is one piece; a replay of a plan larger than
//! the bounds is several, see [`super::Pipeline::replay`]): every piece is
//! decoded, transformed, written and its dead letters sent on its own, at
//! the write time its first row had in the whole plan, and the plan's
//! tombstones are applied once its last piece is written
//! ([`Executor::finish`]).

use std::time::Instant;

use ember_decode::{JsonDecoder, RejectReason};

use crate::dead_letter::{DeadLetter, DeadLetterReason, DeadLetterSink};
use crate::deletes::{Deletes, Letter, PlanTombstones};
use crate::error::EngineError;
use crate::latency::LatencyRecorder;
use crate::narrow::{run_narrowing, FailureStreak};
use crate::report::{PerReason, PerSink, StageTimings};
use crate::source::RawRecord;
use crate::sql::SqlEngine;
use crate::write_time::WriteTime;

/// Decodes, transforms and writes batches, and sets aside what fails.
pub(super) struct Executor {
    pub(super) decoder: JsonDecoder,
    pub(super) sql: SqlEngine,
    pub(super) dead_letters: Option<Box<dyn DeadLetterSink>>,
    /// Sinks with `deletes = true`; empty: tombstones are dead-lettered.
    pub(super) deletes: Deletes,
    pub(super) latency: LatencyRecorder,
    /// Records failing in a row, across batches.
    pub(super) streak: FailureStreak,
}

/// What steps 3–5 did with one batch, or one piece of it: every sink and
/// the dead-letter sink acknowledged it.
#[derive(Debug, Default)]
pub(super) struct Executed {
    pub(super) decoded: usize,
    pub(super) rejected: usize,
    /// Tombstones applied as deletes.
    pub(super) deleted: usize,
    pub(super) written: PerSink,
    /// Per sink, records its transform failed on.
    pub(super) dead_lettered_by_sink: PerSink,
    /// Records set aside, by reason.
    pub(super) dead_lettered_by_reason: PerReason,
    /// Decode, transform, deletes and dead letters (the loop adds fetch,
    /// plan and commit).
    pub(super) stages: StageTimings,
}

impl Executed {
    /// Adds a later piece's counts.
    pub(super) fn add(&mut self, other: Executed) {
        self.decoded += other.decoded;
        self.rejected += other.rejected;
        self.deleted += other.deleted;
        for (sink, n) in other.written {
            *self.written.entry(sink).or_default() += n;
        }
        for (sink, n) in other.dead_lettered_by_sink {
            *self.dead_lettered_by_sink.entry(sink).or_default() += n;
        }
        for (reason, n) in other.dead_lettered_by_reason {
            *self.dead_lettered_by_reason.entry(reason).or_default() += n;
        }
        self.stages.add(&other.stages);
    }
}

impl Executor {
    /// Steps 3–5 for the next piece of a planned batch, `records` in plan
    /// order; `write_time` is the write time of its first decoded row in the
    /// whole plan (the plan's write time plus the rows decoded before the
    /// piece). Its tombstones are kept in `tombstones` when deletes are on,
    /// for [`Executor::finish`].
    pub(super) async fn execute_piece(
        &mut self,
        batch_id: u64,
        records: &[RawRecord],
        write_time: WriteTime,
        tombstones: &mut PlanTombstones,
    ) -> Result<Executed, EngineError> {
        // 3. Decode. Tombstones are not rows: with deletes on, they are
        // kept apart and applied after the SQL.
        let mut stages = StageTimings::default();
        let started = Instant::now();
        let payloads: Vec<Option<&[u8]>> = records.iter().map(|r| r.value.as_deref()).collect();
        let decoded = self.decoder.decode(&payloads)?;
        stages.decode = started.elapsed();
        let mut kept = Vec::new();
        let mut letters: Vec<Letter> = Vec::with_capacity(decoded.rejects.len());
        for r in &decoded.rejects {
            if r.reason == RejectReason::Tombstone && !self.deletes.is_empty() {
                kept.push(r.index);
            } else {
                letters.push((
                    r.index,
                    DeadLetterReason::Undecodable(r.reason),
                    r.detail.clone(),
                ));
            }
        }

        // 4. Transform and write; deletes wait for the plan's last piece.
        if !self.deletes.is_empty() {
            kept.sort_unstable();
            tombstones.observe(records, &kept);
        }
        let decoded_rows = decoded.batch.num_rows();
        let started = Instant::now();
        let _ = self.sql.take_select_time();
        let outcome = run_narrowing(&self.sql, batch_id, decoded.batch, write_time).await?;
        let transform = started.elapsed();
        stages.sql = self.sql.take_select_time().min(transform);
        stages.write = transform - stages.sql;
        self.streak
            .observe(batch_id, decoded_rows, &outcome.failed)?;
        self.latency
            .record_batch(records.iter().map(|r| r.timestamp_ms), now_millis());
        for (row, message) in &outcome.failed {
            letters.push((
                decoded.rows[*row],
                DeadLetterReason::TransformFailed,
                message.clone(),
            ));
        }

        // 5. Dead letters, acknowledged before anything is committed.
        letters.sort_by_key(|(i, _, _)| *i);
        let started = Instant::now();
        self.send_dead_letters(batch_id, records, &letters).await?;
        stages.dead_letters = started.elapsed();
        Ok(Executed {
            decoded: decoded_rows,
            rejected: letters.len(),
            deleted: 0,
            written: outcome.written,
            dead_lettered_by_sink: outcome.failed_by_sink,
            dead_lettered_by_reason: by_reason(&letters),
            stages,
        })
    }

    /// The end of step 4 for a plan whose every piece is written: its
    /// tombstones are applied as deletes at the plan's write time `write_time`
    /// and record count `records` (see [`crate::deletes`]), and those that
    /// cannot be are dead-lettered.
    pub(super) async fn finish(
        &mut self,
        batch_id: u64,
        tombstones: PlanTombstones,
        write_time: WriteTime,
        records: usize,
    ) -> Result<Executed, EngineError> {
        if tombstones.is_empty() {
            return Ok(Executed::default());
        }
        let gathered = tombstones.records();
        let all: Vec<usize> = (0..gathered.len()).collect();
        let started = Instant::now();
        let applied = self
            .deletes
            .apply(gathered, &all, &tombstones.times(write_time, records))
            .await
            .map_err(|e| EngineError::Sink {
                batch_id,
                message: e.0,
            })?;
        let mut stages = StageTimings {
            deletes: started.elapsed(),
            ..StageTimings::default()
        };
        let mut letters = applied.letters;
        letters.sort_by_key(|(i, _, _)| *i);
        let started = Instant::now();
        self.send_dead_letters(batch_id, gathered, &letters).await?;
        stages.dead_letters = started.elapsed();
        Ok(Executed {
            rejected: letters.len(),
            deleted: applied.deleted,
            dead_lettered_by_reason: by_reason(&letters),
            stages,
            ..Executed::default()
        })
    }

    async fn send_dead_letters(
        &self,
        batch_id: u64,
        records: &[RawRecord],
        letters: &[Letter],
    ) -> Result<(), EngineError> {
        if letters.is_empty() {
            return Ok(());
        }
        let letters: Vec<DeadLetter> = letters
            .iter()
            .map(|(i, reason, detail)| {
                let r = &records[*i];
                DeadLetter {
                    partition: r.partition,
                    offset: r.offset,
                    key: r.key.clone(),
                    value: r.value.clone(),
                    reason: *reason,
                    detail: detail.clone(),
                }
            })
            .collect();
        for l in &letters {
            tracing::warn!(batch = batch_id, partition = l.partition, offset = l.offset, reason = %l.reason, detail = %l.detail, "record set aside");
        }
        match &self.dead_letters {
            Some(sink) => Ok(sink.send(&letters).await?),
            None => Ok(()),
        }
    }
}

/// How many of `letters` there are of each reason.
fn by_reason(letters: &[Letter]) -> PerReason {
    let mut counts = PerReason::new();
    for (_, reason, _) in letters {
        *counts.entry(reason.code()).or_default() += 1;
    }
    counts
}

fn now_millis() -> i64 {
    WriteTime::now().as_micros() / 1000
}
