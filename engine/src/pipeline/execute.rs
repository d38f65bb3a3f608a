//! Steps 3–5 of a planned batch: decode, transform and write, dead letters.
//!
//! They touch neither the source nor the checkpoint, so they live apart from
//! the loop, which plans before them and commits after them.

use std::collections::BTreeMap;

use ember_decode::JsonDecoder;

use crate::dead_letter::{DeadLetter, DeadLetterSink};
use crate::error::EngineError;
use crate::latency::LatencyRecorder;
use crate::narrow::run_narrowing;
use crate::source::RawRecord;
use crate::sql::SqlEngine;

/// Decodes, transforms and writes batches, and sets aside what fails.
pub(super) struct Executor {
    pub(super) decoder: JsonDecoder,
    pub(super) sql: SqlEngine,
    pub(super) dead_letters: Option<Box<dyn DeadLetterSink>>,
    pub(super) latency: LatencyRecorder,
}

/// What steps 3–5 did with one batch: every sink and the dead-letter sink
/// acknowledged it.
pub(super) struct Executed {
    pub(super) decoded: usize,
    pub(super) rejected: usize,
    pub(super) written: BTreeMap<String, u64>,
}

impl Executor {
    pub(super) async fn execute(
        &mut self,
        batch_id: u64,
        records: &[RawRecord],
        write_time: i64,
    ) -> Result<Executed, EngineError> {
        // 3. Decode.
        let payloads: Vec<Option<&[u8]>> = records.iter().map(|r| r.value.as_deref()).collect();
        let decoded = self.decoder.decode(&payloads);
        let mut letters: Vec<(usize, String, String)> = decoded
            .rejects
            .iter()
            .map(|r| (r.index, r.reason.code().to_string(), r.detail.clone()))
            .collect();

        // 4. Transform and write.
        let decoded_rows = decoded.batch.num_rows();
        let outcome = run_narrowing(&self.sql, batch_id, decoded.batch, write_time).await?;
        self.latency
            .record_batch(records.iter().map(|r| r.timestamp_ms), now_millis());
        for (row, message) in &outcome.failed {
            letters.push((
                decoded.rows[*row],
                "transform_failed".into(),
                message.clone(),
            ));
        }

        // 5. Dead letters, acknowledged before anything is committed.
        letters.sort_by_key(|(i, _, _)| *i);
        self.send_dead_letters(batch_id, records, &letters).await?;
        Ok(Executed {
            decoded: decoded_rows,
            rejected: letters.len(),
            written: outcome.written,
        })
    }

    async fn send_dead_letters(
        &self,
        batch_id: u64,
        records: &[RawRecord],
        letters: &[(usize, String, String)],
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
                    reason: reason.clone(),
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

fn now_millis() -> i64 {
    super::now_micros() / 1000
}
