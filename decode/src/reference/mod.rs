//! The previous decoder, kept only for tests and fuzzing as a reference:
//! [`crate::fuzzing`] checks that the one-pass decoder accepts and rejects
//! exactly the records this one did, for the same reasons, with identical
//! cells. It is slow for the reasons it was replaced: a serde_json validation
//! pass with a SipHash set of keys, then arrow-json's tape decoder, bisected
//! to isolate records of the wrong type, then the constraints column by
//! column.

mod escapes;
mod validate;

use std::borrow::Cow;

use arrow::array::{Array, BooleanBufferBuilder, RecordBatch, StringArray};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow_array::BooleanArray;
use arrow_json::ReaderBuilder;
use arrow_schema::{ArrowError, SchemaRef};

use crate::{truncate, ColumnType, Decoded, Reject, RejectReason, SourceSchema};

/// Decodes `payloads` the way Ember did before the one-pass decoder.
pub fn decode(spec: &SourceSchema, payloads: &[Option<&[u8]>]) -> Decoded {
    let schema = spec.arrow_schema();
    let mut rejects = Vec::new();
    let mut candidates = Vec::with_capacity(payloads.len());
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
    decode_isolating(&schema, &texts, &candidates, &mut parts, &mut rejects);

    let mut rows = Vec::with_capacity(candidates.len());
    let mut batches = Vec::with_capacity(parts.len());
    for (indices, batch) in parts {
        rows.extend(indices);
        batches.push(batch);
    }
    let batch = concat_batches(&schema, &batches)
        .unwrap_or_else(|_| RecordBatch::new_empty(schema.clone()));
    let (batch, rows) = enforce_constraints(spec, &schema, batch, rows, &mut rejects);
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
    schema: &SchemaRef,
    texts: &[Cow<'_, [u8]>],
    indices: &[usize],
    parts: &mut Vec<(Vec<usize>, RecordBatch)>,
    rejects: &mut Vec<Reject>,
) {
    if indices.is_empty() {
        return;
    }
    match decode_all(schema, texts, indices) {
        Ok(batch) => parts.push((indices.to_vec(), batch)),
        Err(err) if indices.len() == 1 => {
            let detail = err
                .to_string()
                .trim_start_matches("Json error: ")
                .to_string();
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
            decode_isolating(schema, texts, left, parts, rejects);
            decode_isolating(schema, texts, right, parts, rejects);
        }
    }
}

/// One arrow-json pass over records already known to be single objects.
fn decode_all(
    schema: &SchemaRef,
    texts: &[Cow<'_, [u8]>],
    indices: &[usize],
) -> Result<RecordBatch, ArrowError> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(indices.len().max(1))
        .with_coerce_primitive(true)
        .build_decoder()?;
    for &i in indices {
        let bytes: &[u8] = &texts[i];
        let before = decoder.len();
        let used = decoder.decode(bytes)?;
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
    spec: &SourceSchema,
    schema: &SchemaRef,
    batch: RecordBatch,
    rows: Vec<usize>,
    rejects: &mut Vec<Reject>,
) -> (RecordBatch, Vec<usize>) {
    let n = batch.num_rows();
    let mut keep = BooleanBufferBuilder::new(n);
    keep.append_n(n, true);
    let mut dropped = false;
    for (col, field) in spec.fields.iter().enumerate() {
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
        .unwrap_or_else(|_| RecordBatch::new_empty(schema.clone()));
    (batch, rows)
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
