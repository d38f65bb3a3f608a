//! Payload bytes → Arrow rows + dead letters.
//!
//! This is the first step of every micro-batch and the one that sees hostile
//! input, so it is kept in a crate of its own that needs only arrow: the fuzz
//! target builds fast, and nothing in here can touch a sink.
//!
//! The decoder never fails as a whole and never panics on input: every record
//! either becomes exactly one row of the output batch or a [`Reject`] naming
//! why. `input = rows + rejects` holds for every call.
//!
//! How: each payload is read once, left to right (`record`, on the
//! grammar of `scan`): the JSON is checked, top-level keys are matched to
//! the schema's fields and checked for repeats (`keys`), and the fields'
//! values are kept as slices of the payload. The record's values are then
//! converted for their columns and checked against the schema (required
//! fields, UUIDs) and, only if all is well, appended to the Arrow builders
//! (`columns`). Records are independent: a bad one costs no more than a
//! good one and cannot affect its neighbours.
//!
//! This replaced a serde_json validation pass followed by arrow-json (30–35%
//! of Ember's CPU between them, see `benches/RESULTS.md`); that decoder is
//! kept as the reference the fuzz harness compares against (`reference`).

mod columns;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod keys;
mod record;
#[cfg(any(test, feature = "fuzzing"))]
mod reference;
mod scan;
mod schema;

use std::fmt;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;

use crate::columns::{Column, Problem};
use crate::keys::FieldLookup;
use crate::record::Record;

pub use schema::{ColumnType, FieldSpec, SchemaError, SourceSchema};

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

/// The decoder broke one of its own invariants: its columns do not make a
/// batch of its schema. An engine bug, never a record's fault, so it stops
/// the pipeline rather than dropping or dead-lettering the records.
#[derive(Debug, thiserror::Error)]
#[error("decoder bug: the decoded columns do not make a batch of the schema: {0}")]
pub struct DecodeBug(#[source] pub arrow_schema::ArrowError);

/// Decodes JSON payloads into Arrow record batches of a fixed schema.
#[derive(Debug, Clone)]
pub struct JsonDecoder {
    spec: SourceSchema,
    schema: SchemaRef,
    lookup: FieldLookup,
}

impl JsonDecoder {
    pub fn new(spec: SourceSchema) -> Self {
        let schema = spec.arrow_schema();
        let lookup = FieldLookup::new(spec.fields.iter().map(|f| f.name.as_str()));
        JsonDecoder {
            spec,
            schema,
            lookup,
        }
    }

    /// The Arrow schema of the decoded batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes every payload; `None` is a tombstone.
    pub fn decode(&self, payloads: &[Option<&[u8]>]) -> Result<Decoded, DecodeBug> {
        let mut columns = self.columns(payloads);
        let mut record = Record::new(self.spec.fields.len());
        let mut rows = Vec::with_capacity(payloads.len());
        let mut rejects = Vec::new();
        for (index, payload) in payloads.iter().enumerate() {
            match self.decode_one(*payload, &mut record, &mut columns) {
                Ok(()) => rows.push(index),
                Err((reason, detail)) => rejects.push(Reject {
                    index,
                    reason,
                    detail,
                }),
            }
        }
        let arrays = columns.into_iter().map(Column::finish).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        // Fails only on a bug: each column's builder is made from its
        // field's type, every column is nullable, and each gets exactly one
        // cell per row.
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map_err(DecodeBug)?;
        Ok(Decoded {
            batch,
            rows,
            rejects,
        })
    }

    /// Empty columns for `payloads`, their text buffers sized from the
    /// payloads' total length so that they rarely grow.
    fn columns<'p>(&self, payloads: &[Option<&'p [u8]>]) -> Vec<Column<'p>> {
        let bytes: usize = payloads.iter().flatten().map(|p| p.len()).sum();
        let text_columns = self
            .spec
            .fields
            .iter()
            .filter(|f| matches!(f.ty, ColumnType::String | ColumnType::Uuid))
            .count();
        let text_bytes = bytes / text_columns.max(1) / 2;
        self.spec
            .fields
            .iter()
            .map(|f| Column::new(f.ty, payloads.len(), text_bytes))
            .collect()
    }

    /// One record: read, converted, checked, then appended to `columns`
    /// (nothing is appended unless every check passed).
    fn decode_one<'p>(
        &self,
        payload: Option<&'p [u8]>,
        record: &mut Record<'p>,
        columns: &mut [Column<'p>],
    ) -> Result<(), Problem> {
        let bytes = payload.ok_or_else(|| {
            (
                RejectReason::Tombstone,
                "record has no value (tombstone)".to_string(),
            )
        })?;
        if bytes.is_empty() {
            return Err((RejectReason::Empty, "record value is empty".into()));
        }
        // UTF-8 is checked up front by std's validator (word at a time on
        // ASCII, a few percent of the scan): `invalid_utf8` must win wherever
        // the bad byte is, and a `&str` lets the scan slice cells safely.
        let text = std::str::from_utf8(bytes).map_err(|e| {
            (
                RejectReason::InvalidUtf8,
                format!("value is not valid UTF-8: {e}"),
            )
        })?;
        record.read(text, &self.lookup)?;
        let fields = &self.spec.fields;
        for ((field, column), value) in fields.iter().zip(columns.iter_mut()).zip(&record.values) {
            column.stage(field, value, &record.decoded)?;
        }
        for (field, column) in fields.iter().zip(columns.iter()) {
            column.check(field, &record.decoded)?;
        }
        for column in columns.iter_mut() {
            column.commit(&record.decoded);
        }
        Ok(())
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
