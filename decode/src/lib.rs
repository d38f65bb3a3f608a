//! Payload bytes → Arrow rows + dead letters.
//!
//! This is the first step of every micro-batch and the one that sees hostile
//! input, so it is kept in a crate of its own that needs only arrow and
//! arrow-json: the fuzz target builds fast, and nothing in here can touch a
//! sink.
//!
//! The decoder never fails as a whole and never panics on input: every record
//! either becomes exactly one row of the output batch or a [`Reject`] naming
//! why. `input = rows + rejects` holds for every call.
//!
//! How: each payload is first checked on its own (UTF-8, a single JSON
//! object, no key twice) — cheap, and it guarantees record boundaries. The
//! survivors are decoded together by arrow-json in one pass. If that pass
//! fails (a value of the wrong type), the set is halved and each half decoded
//! again until the failing records are isolated, so the common all-good batch
//! costs one pass and a bad record costs `O(log n)` extra passes.

mod escapes;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod schema;
mod validate;

use std::borrow::Cow;
use std::fmt;

use arrow::array::{Array, BooleanBufferBuilder, RecordBatch, StringArray};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow_array::BooleanArray;
use arrow_json::ReaderBuilder;
use arrow_schema::{ArrowError, SchemaRef};

pub use schema::{ColumnType, FieldSpec, SourceSchema};

/// Why a record was dead-lettered. The code is what goes into the
/// `ember.reason` header: stable, short, machine-readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The record has no value (a Kafka tombstone).
    Tombstone,
    /// The value is zero bytes long.
    Empty,
    /// The value is not valid UTF-8.
    InvalidUtf8,
    /// The value is not JSON, or is truncated, or has trailing bytes.
    InvalidJson,
    /// The value nests deeper than the decoder accepts.
    TooDeep,
    /// The value is JSON but not an object.
    NotAnObject,
    /// The same key appears twice in the object: which one is meant is ambiguous.
    DuplicateKey,
    /// A field's value has a type that cannot be safely coerced to its column.
    WrongType,
    /// A required field is missing or null.
    MissingRequired,
    /// A `uuid` field does not hold a UUID.
    InvalidUuid,
}

impl RejectReason {
    /// The stable code written to dead-letter headers and reports.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Tombstone => "tombstone",
            RejectReason::Empty => "empty_value",
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::TooDeep => "nesting_too_deep",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::DuplicateKey => "duplicate_key",
            RejectReason::WrongType => "wrong_type",
            RejectReason::MissingRequired => "missing_required_field",
            RejectReason::InvalidUuid => "invalid_uuid",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A record that did not become a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Position of the record in the input slice.
    pub index: usize,
    pub reason: RejectReason,
    /// A human-readable explanation (which field, what was wrong).
    pub detail: String,
}

/// The result of decoding one batch of payloads.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The good records, one row each, in input order.
    pub batch: RecordBatch,
    /// For each row of `batch`, the index of the input record it came from.
    pub rows: Vec<usize>,
    /// The records that did not decode, in input order.
    pub rejects: Vec<Reject>,
}

/// Decodes JSON payloads into Arrow record batches of a fixed schema.
#[derive(Debug, Clone)]
pub struct JsonDecoder {
    spec: SourceSchema,
    schema: SchemaRef,
}

impl JsonDecoder {
    pub fn new(spec: SourceSchema) -> Self {
        let schema = spec.arrow_schema();
        JsonDecoder { spec, schema }
    }

    /// The Arrow schema of the decoded batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes every payload; `None` is a tombstone.
    pub fn decode(&self, payloads: &[Option<&[u8]>]) -> Decoded {
        let mut rejects = Vec::new();
        let mut candidates = Vec::with_capacity(payloads.len());
        // What arrow-json reads, by input index: an accepted payload with its
        // escaped surrogate pairs made raw (see `escapes`), computed once
        // rather than on every bisection pass; nothing for the others.
        let mut texts: Vec<Cow<'_, [u8]>> = Vec::with_capacity(payloads.len());
        for (index, payload) in payloads.iter().enumerate() {
            match validate::check_record(*payload) {
                Ok(()) => {
                    candidates.push(index);
                    texts.push(escapes::unescape_surrogate_pairs(
                        payload.unwrap_or_default(),
                    ));
                }
                Err((reason, detail)) => {
                    rejects.push(Reject {
                        index,
                        reason,
                        detail,
                    });
                    texts.push(Cow::Borrowed(&[]));
                }
            }
        }

        let mut parts = Vec::new();
        self.decode_isolating(&texts, &candidates, &mut parts, &mut rejects);

        let mut rows = Vec::with_capacity(candidates.len());
        let mut batches = Vec::with_capacity(parts.len());
        for (indices, batch) in parts {
            rows.extend(indices);
            batches.push(batch);
        }
        let batch = concat_batches(&self.schema, &batches)
            .unwrap_or_else(|_| RecordBatch::new_empty(self.schema.clone()));
        let (batch, rows) = self.enforce_constraints(batch, rows, &mut rejects);
        rejects.sort_by_key(|r| r.index);
        Decoded {
            batch,
            rows,
            rejects,
        }
    }

    /// Decodes `indices` in one pass, or splits them until the records that
    /// fail are isolated. Parts are pushed in input order.
    fn decode_isolating(
        &self,
        texts: &[Cow<'_, [u8]>],
        indices: &[usize],
        parts: &mut Vec<(Vec<usize>, RecordBatch)>,
        rejects: &mut Vec<Reject>,
    ) {
        if indices.is_empty() {
            return;
        }
        match self.decode_all(texts, indices) {
            Ok(batch) => parts.push((indices.to_vec(), batch)),
            Err(err) if indices.len() == 1 => {
                let detail = err
                    .to_string()
                    .trim_start_matches("Json error: ")
                    .to_string();
                // arrow-json names the field when a value has the wrong
                // type; any other failure is its tokenizer refusing text the
                // validator let through (a lone surrogate escape, say).
                let reason = if detail.contains("whilst decoding field") {
                    RejectReason::WrongType
                } else {
                    RejectReason::InvalidJson
                };
                rejects.push(Reject {
                    index: indices[0],
                    reason,
                    detail,
                })
            }
            Err(_) => {
                let (left, right) = indices.split_at(indices.len() / 2);
                self.decode_isolating(texts, left, parts, rejects);
                self.decode_isolating(texts, right, parts, rejects);
            }
        }
    }

    /// One arrow-json pass over records already known to be single objects.
    fn decode_all(
        &self,
        texts: &[Cow<'_, [u8]>],
        indices: &[usize],
    ) -> Result<RecordBatch, ArrowError> {
        let mut decoder = ReaderBuilder::new(self.schema.clone())
            .with_batch_size(indices.len().max(1))
            .with_coerce_primitive(true)
            .build_decoder()?;
        for &i in indices {
            let bytes: &[u8] = &texts[i];
            let before = decoder.len();
            let used = decoder.decode(bytes)?;
            // Belt and braces: the validator guarantees one object per
            // record, so anything else here is a decoder disagreement.
            if used != bytes.len() || decoder.len() != before + 1 || decoder.has_partial_record() {
                return Err(ArrowError::JsonError(
                    "record is not exactly one JSON object".into(),
                ));
            }
        }
        decoder
            .flush()?
            .ok_or_else(|| ArrowError::JsonError("no rows decoded".into()))
    }

    /// Dead-letters rows whose required fields are null or whose `uuid`
    /// fields are not UUIDs, column by column.
    fn enforce_constraints(
        &self,
        batch: RecordBatch,
        rows: Vec<usize>,
        rejects: &mut Vec<Reject>,
    ) -> (RecordBatch, Vec<usize>) {
        let n = batch.num_rows();
        let mut keep = BooleanBufferBuilder::new(n);
        keep.append_n(n, true);
        let mut dropped = false;
        for (col, field) in self.spec.fields.iter().enumerate() {
            let array = batch.column(col);
            for (row, &index) in rows.iter().enumerate() {
                if !keep.get_bit(row) {
                    continue;
                }
                let problem = if array.is_null(row) {
                    field.required.then(|| {
                        (
                            RejectReason::MissingRequired,
                            format!("required field `{}` is missing or null", field.name),
                        )
                    })
                } else if field.ty == ColumnType::Uuid {
                    uuid_problem(array.as_ref(), row, &field.name)
                } else {
                    None
                };
                if let Some((reason, detail)) = problem {
                    keep.set_bit(row, false);
                    dropped = true;
                    rejects.push(Reject {
                        index,
                        reason,
                        detail,
                    });
                }
            }
        }
        if !dropped {
            return (batch, rows);
        }
        let mask = BooleanArray::new(keep.finish(), None);
        let rows = rows
            .into_iter()
            .zip(mask.values().iter())
            .filter_map(|(r, k)| k.then_some(r))
            .collect();
        let batch = filter_record_batch(&batch, &mask)
            .unwrap_or_else(|_| RecordBatch::new_empty(self.schema.clone()));
        (batch, rows)
    }
}

fn uuid_problem(array: &dyn Array, row: usize, name: &str) -> Option<(RejectReason, String)> {
    let text = array.as_any().downcast_ref::<StringArray>()?.value(row);
    match uuid::Uuid::try_parse(text) {
        Ok(_) => None,
        Err(_) => Some((
            RejectReason::InvalidUuid,
            format!("field `{name}` is not a UUID: {:?}", truncate(text, 64)),
        )),
    }
}

/// Shortens user data quoted in error details, on a char boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests;
