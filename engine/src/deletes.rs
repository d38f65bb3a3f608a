//! Kafka tombstones as deletes, for sinks with `deletes = true`.
//!
//! A tombstone (a record with a key and no value) is not a row, so it never
//! reaches the SQL: the transforms run over decoded values, and a tombstone
//! has none to transform. It is applied instead, as a delete, to every sink
//! that asked for it, as Kafka Connect's Cassandra sink does. Its key says
//! which row: like the DataStax connector, Ember maps the record key to the
//! sink table's primary key.
//!
//! # The key
//!
//! - A key that is a JSON object (its first non-blank byte is `{`) is
//!   decoded with the same rules as values ([`JsonDecoder`]), against a
//!   schema of the sink's primary-key columns, every one of them required:
//!   `{"id": "6f1c…"}`. Other fields are ignored; a missing or null key
//!   column, a non-UUID for a `uuid` column, a duplicate field are refused.
//! - Any other key is the value of the primary key when that key is one
//!   column: a JSON string (`"6f1c…"`, as Kafka Connect's `JsonConverter`
//!   writes a string key), or else its UTF-8 text as it is, the plain key
//!   `ember produce` (and Kafka Connect's `StringConverter`) writes.
//!
//! A tombstone without a key, or whose key does not name the whole primary
//! key of every sink with deletes, is dead-lettered
//! (`tombstone_without_key`, `tombstone_invalid_key`), and nothing of it is
//! deleted anywhere. A pipeline without such a sink dead-letters every
//! tombstone as `tombstone`, as before.
//!
//! # Write times
//!
//! A delete carries `USING TIMESTAMP` like every upsert, so a replay is
//! idempotent and a replayed older insert cannot bring the row back. The
//! batch owns the write times `[W, W + N]` (`W` its planned write time, `N`
//! its records; the next batch starts above) and its upserts use
//! `W + position`. A tombstone that is the last record of its key in the
//! batch is deleted at `W + N`, above every upsert of the batch. One that a
//! later record of the same key follows (compared as key bytes, the
//! identity Kafka's compaction uses) is deleted at `W - 1`: above every
//! earlier batch's upserts, below this batch's, so the later record wins.
//!
//! Whether a later record follows is a question about the whole planned
//! batch, and a replay may write a plan in pieces (see [`crate::pipeline`]):
//! so tombstones are collected over every piece ([`PlanTombstones`], keys
//! only) and applied once the plan's last piece is written, when `N` and
//! every later key are known. A plan written in one piece is the same case.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use ember_decode::{DecodeBug, JsonDecoder, SourceSchema};

use crate::dead_letter::DeadLetterReason;
use crate::error::SinkFailure;
use crate::source::RawRecord;
use crate::write_time::WriteTime;

/// A sink that applies tombstones as deletes.
#[async_trait]
pub trait DeleteSink: Send + Sync {
    /// Names the sink in logs and dead-letter details.
    fn describe(&self) -> String;
    /// The primary-key columns in order, each with the type its value
    /// decodes as; [`KeyDecoder`] marks them all required.
    fn key_schema(&self) -> SourceSchema;
    /// Deletes the row named by each row of `keys` (columns as
    /// [`Self::key_schema`]), row `i` at `write_times[i]`, and returns once
    /// every delete is acknowledged. Rows the sink refuses come back as
    /// `(row, message)`; an unreachable sink is an error.
    async fn delete(
        &self,
        keys: RecordBatch,
        write_times: Vec<WriteTime>,
    ) -> Result<Vec<(usize, String)>, SinkFailure>;
}

/// A record set aside: its index in the batch, the reason, the detail.
pub(crate) type Letter = (usize, DeadLetterReason, String);

/// Decodes tombstone keys into one sink's primary-key rows.
#[derive(Debug, Clone)]
pub struct KeyDecoder {
    decoder: JsonDecoder,
    /// The column a plain (non-JSON-object) key is the value of, when the
    /// primary key is a single column.
    single: Option<String>,
}

/// The keys of a batch's tombstones, decoded for one sink.
#[derive(Debug)]
pub struct DecodedKeys {
    /// One row per key that named the whole primary key.
    pub batch: RecordBatch,
    /// For each row, the index of its key in the input.
    pub rows: Vec<usize>,
    /// The keys that did not: index and why.
    pub rejects: Vec<(usize, String)>,
}

impl KeyDecoder {
    pub fn new(key_schema: SourceSchema) -> Self {
        let mut schema = key_schema;
        for f in &mut schema.fields {
            f.required = true;
        }
        let single = match schema.fields.as_slice() {
            [only] => Some(only.name.clone()),
            _ => None,
        };
        KeyDecoder {
            decoder: JsonDecoder::new(schema),
            single,
        }
    }

    /// Decodes every key; each becomes a row or a reject, in input order.
    pub fn decode(&self, keys: &[&[u8]]) -> Result<DecodedKeys, DecodeBug> {
        let mut payloads: Vec<Option<std::borrow::Cow<'_, [u8]>>> = Vec::with_capacity(keys.len());
        let mut early: Vec<(usize, String)> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match self.as_object(key) {
                Ok(object) => payloads.push(Some(object)),
                Err(e) => {
                    early.push((i, e.to_string()));
                    payloads.push(None);
                }
            }
        }
        let inputs: Vec<Option<&[u8]>> = payloads.iter().map(|p| p.as_deref()).collect();
        let decoded = self.decoder.decode(&inputs)?;
        let mut rejects = early;
        for r in decoded.rejects {
            if !rejects.iter().any(|(i, _)| *i == r.index) {
                rejects.push((r.index, format!("{}: {}", r.reason.code(), r.detail)));
            }
        }
        rejects.sort_by_key(|(i, _)| *i);
        Ok(DecodedKeys {
            batch: decoded.batch,
            rows: decoded.rows,
            rejects,
        })
    }

    /// The key as a JSON object: itself if it is one, else, for a
    /// single-column primary key, `{"<column>": <key>}` for a JSON string
    /// key, `{"<column>": "<key text>"}` for any other.
    fn as_object<'k>(&self, key: &'k [u8]) -> Result<std::borrow::Cow<'k, [u8]>, PlainKeyError> {
        let first = key.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            return Ok(std::borrow::Cow::Borrowed(key));
        }
        let Some(column) = &self.single else {
            return Err(PlainKeyError::SeveralColumns);
        };
        let text = std::str::from_utf8(key).map_err(PlainKeyError::NotUtf8)?;
        let value = match first {
            Some(b'"') => text.to_string(),
            _ => json_string(text),
        };
        let object = format!("{{{}:{}}}", json_string(column), value);
        Ok(std::borrow::Cow::Owned(object.into_bytes()))
    }
}

/// A Kafka key that is not a JSON object and cannot stand for one.
#[derive(Debug, thiserror::Error)]
enum PlainKeyError {
    #[error("the primary key has several columns: the key must be a JSON object naming each")]
    SeveralColumns,
    #[error("a plain key must be UTF-8 text: {0}")]
    NotUtf8(#[source] std::str::Utf8Error),
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The sinks with `deletes = true`, each with its key decoder.
pub(crate) struct Deletes {
    sinks: Vec<(Arc<dyn DeleteSink>, KeyDecoder)>,
}

/// What applying a batch's tombstones did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Tombstones deleted in every sink with deletes.
    pub deleted: usize,
    /// Tombstones set aside.
    pub letters: Vec<Letter>,
}

impl Deletes {
    pub(crate) fn new(sinks: Vec<Arc<dyn DeleteSink>>) -> Self {
        Deletes {
            sinks: sinks
                .into_iter()
                .map(|s| {
                    let keys = KeyDecoder::new(s.key_schema());
                    (s, keys)
                })
                .collect(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Applies the tombstones among `records` (by index) as deletes in
    /// every sink, record `i` at `times[i]`.
    pub(crate) async fn apply(
        &self,
        records: &[RawRecord],
        tombstones: &[usize],
        times: &[WriteTime],
    ) -> Result<Applied, SinkFailure> {
        let mut applied = Applied::default();
        // Keys of the tombstones that can be applied, with their index.
        let mut keyed: Vec<(usize, &[u8])> = Vec::with_capacity(tombstones.len());
        for &i in tombstones {
            match records[i].key.as_deref() {
                Some(key) => keyed.push((i, key)),
                None => applied.letters.push((
                    i,
                    DeadLetterReason::TombstoneWithoutKey,
                    "a tombstone without a key names no row to delete".into(),
                )),
            }
        }
        // A key must fit every sink, or the tombstone is deleted nowhere.
        let keys: Vec<&[u8]> = keyed.iter().map(|(_, k)| *k).collect();
        let decoded: Vec<DecodedKeys> = self
            .sinks
            .iter()
            .map(|(_, d)| d.decode(&keys))
            .collect::<Result<_, _>>()
            .map_err(|e| SinkFailure(e.to_string()))?;
        let mut refused: Vec<Option<String>> = vec![None; keys.len()];
        for ((sink, _), d) in self.sinks.iter().zip(&decoded) {
            for (k, message) in &d.rejects {
                refused[*k].get_or_insert_with(|| {
                    format!(
                        "the key does not name the primary key of {}: {message}",
                        sink.describe()
                    )
                });
            }
        }
        let mut failed: Vec<Option<String>> = vec![None; keys.len()];
        for ((sink, _), d) in self.sinks.iter().zip(decoded) {
            let take: Vec<u32> = (0..d.rows.len() as u32)
                .filter(|&r| refused[d.rows[r as usize]].is_none())
                .collect();
            if take.is_empty() {
                continue;
            }
            let rows = arrow::array::UInt32Array::from(take.clone());
            let batch = arrow::compute::take_record_batch(&d.batch, &rows)
                .map_err(|e| SinkFailure(format!("selecting the keys to delete: {e}")))?;
            let key_index: Vec<usize> = take.iter().map(|&r| d.rows[r as usize]).collect();
            let at: Vec<WriteTime> = key_index.iter().map(|&k| times[keyed[k].0]).collect();
            for (row, message) in sink.delete(batch, at).await? {
                failed[key_index[row]].get_or_insert_with(|| {
                    format!("{} refused the delete: {message}", sink.describe())
                });
            }
        }
        for (k, (i, _)) in keyed.iter().enumerate() {
            if let Some(detail) = refused[k].take() {
                applied
                    .letters
                    .push((*i, DeadLetterReason::TombstoneInvalidKey, detail));
            } else if let Some(detail) = failed[k].take() {
                applied
                    .letters
                    .push((*i, DeadLetterReason::DeleteFailed, detail));
            } else {
                applied.deleted += 1;
            }
        }
        Ok(applied)
    }
}

/// The tombstones of one planned batch, gathered piece by piece (keys
/// only, values are `None` anyway) so that their write times can be decided
/// over the whole plan (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct PlanTombstones {
    /// The tombstones, in plan order.
    records: Vec<RawRecord>,
    /// Per tombstone: a later record of the plan has the same key.
    superseded: Vec<bool>,
    /// Per key, the tombstones no later record has superseded yet.
    open: HashMap<bytes::Bytes, Vec<usize>>,
}

impl PlanTombstones {
    /// Takes in the plan's next piece, in order: every record with a key
    /// supersedes the tombstones of that key before it, and the records at
    /// `tombstones` (indices into `piece`, ascending) are kept.
    pub(crate) fn observe(&mut self, piece: &[RawRecord], tombstones: &[usize]) {
        let mut next = tombstones.iter().peekable();
        for (i, r) in piece.iter().enumerate() {
            if let Some(key) = r.key.as_deref() {
                if let Some(earlier) = self.open.remove(key) {
                    for t in earlier {
                        self.superseded[t] = true;
                    }
                }
            }
            if next.peek() == Some(&&i) {
                next.next();
                let t = self.records.len();
                if let Some(key) = &r.key {
                    self.open.entry(key.clone()).or_default().push(t);
                }
                self.records.push(RawRecord {
                    value: None,
                    ..r.clone()
                });
                self.superseded.push(false);
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The tombstones gathered, in plan order.
    pub(crate) fn records(&self) -> &[RawRecord] {
        &self.records
    }

    /// The write time of each tombstone's delete in a plan of `records`
    /// records at `write_time`: `W + N`, or `W - 1` when superseded.
    pub(crate) fn times(&self, write_time: WriteTime, records: usize) -> Vec<WriteTime> {
        let top = write_time.after_rows(records);
        self.superseded
            .iter()
            .map(|&s| if s { write_time.just_before() } else { top })
            .collect()
    }
}

/// The write time of a delete for each tombstone of a batch in one piece
/// (`W + N` for the other records).
#[cfg(test)]
fn write_times(records: &[RawRecord], write_time: WriteTime) -> Vec<WriteTime> {
    let tombstones: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].value.is_none())
        .collect();
    let mut plan = PlanTombstones::default();
    plan.observe(records, &tombstones);
    let mut times = vec![write_time.after_rows(records.len()); records.len()];
    for (t, at) in tombstones.iter().zip(plan.times(write_time, records.len())) {
        times[*t] = at;
    }
    times
}

#[cfg(test)]
mod tests;
