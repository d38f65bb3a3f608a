//! The fuzz harness: turns arbitrary bytes into a decode call and checks
//! every property the decoder promises.
//!
//! It lives in the crate (behind the `fuzzing` feature, and in unit tests)
//! rather than in `fuzz/` so the `cargo fuzz` targets and the stable-toolchain
//! corpus replay (`fuzzing::tests`) run the exact same checks: a crash the
//! fuzzer found stays fixed because its reproducer is replayed by `make test`.
//!
//! Input format, chosen so hand-written seeds stay readable and every payload
//! shape the broker can deliver is expressible:
//! - records are separated by a NUL byte ([`SEPARATOR`]); raw NUL is never
//!   valid inside JSON text, so no interesting payload is lost;
//! - a record that is exactly [`TOMBSTONE`] (`0x01`) is a tombstone (`None`);
//! - an empty segment is an empty (zero-byte) value;
//! - for [`any_schema`] the first segment describes the schema, one byte per
//!   field (see [`schema_from_bytes`]).
//!
//! Assertions panic: that is how libFuzzer learns about a failure.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type};
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::{ColumnType, Decoded, FieldSpec, JsonDecoder, RejectReason, SourceSchema};

/// Separates records in a fuzz input.
pub const SEPARATOR: u8 = 0x00;
/// A record with exactly these bytes is a tombstone.
pub const TOMBSTONE: &[u8] = b"\x01";
/// Records beyond this are ignored: the batch-vs-single check decodes every
/// record twice, and long inputs slow the fuzzer without adding coverage.
pub const MAX_RECORDS: usize = 128;

/// Splits a fuzz input into payloads (see the module docs).
pub fn split_records(data: &[u8]) -> Vec<Option<&[u8]>> {
    data.split(|&b| b == SEPARATOR)
        .take(MAX_RECORDS)
        .map(|r| (r != TOMBSTONE).then_some(r))
        .collect()
}

/// Fuzz entry point: the records decoded as one batch with the real
/// `users_created` schema.
pub fn users_created(data: &[u8]) {
    let spec = SourceSchema::users_created();
    check(&spec, &split_records(data));
}

/// Fuzz entry point: the first segment is a schema, the rest are records.
/// Inputs whose schema would fail [`SourceSchema::validate`] are skipped:
/// the pipeline refuses such a schema before it builds a decoder.
pub fn any_schema(data: &[u8]) {
    let (head, rest) = match data.iter().position(|&b| b == SEPARATOR) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let spec = schema_from_bytes(head);
    if spec.validate().is_err() {
        return;
    }
    check(&spec, &split_records(rest));
}

/// Field names the schema target draws from: short ones the fuzzer can
/// guess, plus two of the real contract's.
const NAMES: [&str; 8] = ["id", "a", "b", "c", "n", "x", "first_name", "post_code"];

/// One field per byte (at most 8): bits 4..7 pick the name (a name already
/// taken drops the field), bits 0..2 the type (mod 5), bit 3 `required`.
pub fn schema_from_bytes(bytes: &[u8]) -> SourceSchema {
    const TYPES: [ColumnType; 5] = [
        ColumnType::String,
        ColumnType::Uuid,
        ColumnType::Int,
        ColumnType::Double,
        ColumnType::Boolean,
    ];
    let mut fields: Vec<FieldSpec> = Vec::new();
    for &b in bytes.iter().take(NAMES.len()) {
        let name = NAMES[usize::from(b >> 4) % NAMES.len()];
        if fields.iter().any(|f| f.name == name) {
            continue;
        }
        fields.push(FieldSpec {
            name: name.into(),
            ty: TYPES[usize::from(b & 7) % TYPES.len()],
            required: b & 8 != 0,
        });
    }
    SourceSchema { fields }
}

/// Decodes `payloads` as one batch and asserts the decoder's contract:
///
/// 1. accounting: every input index is either a row or a reject, exactly
///    once; both lists are strictly ascending (input order);
/// 2. the batch has the decoder's schema and one row per entry of `rows`;
/// 3. reasons that are decided by the bytes alone are right: `None` is a
///    tombstone (and only `None`), zero bytes are `Empty`, non-UTF-8 is
///    `InvalidUtf8`;
/// 4. accepted rows keep the schema's constraints: required columns are
///    non-null, `uuid` columns hold UUIDs;
/// 5. accepted records are valid JSON per serde_json, and the cells agree
///    with serde_json's reading of the object (strings byte-exact, ints,
///    booleans, nulls and missing keys) — unless a number is out of range
///    for serde_json's `Value` (`1e400`), which the decoder accepts;
/// 6. batch-vs-single: each record decoded alone has the same outcome as in
///    the batch — accepted with an identical row, or rejected with the same
///    reason and detail. This holds by design: each record is read on its
///    own and appended only once it passed every check;
/// 7. the previous decoder (serde_json's check, then arrow-json; kept in
///    `reference`) decides every record the same way: the same rows with
///    identical cells, the same reject reasons (details are worded anew).
pub fn check(spec: &SourceSchema, payloads: &[Option<&[u8]>]) {
    let decoder = JsonDecoder::new(spec.clone());
    let batch = decoder.decode(payloads).unwrap_or_else(|e| panic!("{e}"));
    check_accounting(&decoder, payloads, &batch);
    check_rows(spec, payloads, &batch);
    check_same_as_reference(spec, payloads, &batch);

    let rejected: HashMap<usize, (RejectReason, &str)> = batch
        .rejects
        .iter()
        .map(|r| (r.index, (r.reason, r.detail.as_str())))
        .collect();
    let position: HashMap<usize, usize> = batch
        .rows
        .iter()
        .enumerate()
        .map(|(pos, &index)| (index, pos))
        .collect();
    for (index, payload) in payloads.iter().enumerate() {
        let alone = decoder
            .decode(std::slice::from_ref(payload))
            .unwrap_or_else(|e| panic!("{e}"));
        check_accounting(&decoder, std::slice::from_ref(payload), &alone);
        match (alone.rejects.first(), rejected.get(&index)) {
            (Some(single), Some(&(reason, detail))) => {
                assert_eq!(
                    (single.reason, single.detail.as_str()),
                    (reason, detail),
                    "record {index} is rejected differently alone and in the batch"
                );
            }
            (None, None) => {
                let pos = position[&index];
                for col in 0..batch.batch.num_columns() {
                    let in_batch = batch.batch.column(col).slice(pos, 1);
                    let single = alone.batch.column(col);
                    assert!(
                        in_batch.as_ref() == single.as_ref(),
                        "record {index}, column {col}: {in_batch:?} in the batch, {single:?} alone"
                    );
                }
            }
            (alone_reject, batch_reject) => panic!(
                "record {index}: alone {alone_reject:?}, in the batch {batch_reject:?} \
                 (None = accepted)"
            ),
        }
    }
}

/// Property 7 of [`check`].
fn check_same_as_reference(spec: &SourceSchema, payloads: &[Option<&[u8]>], d: &Decoded) {
    let old = crate::reference::decode(spec, payloads);
    let reasons = |d: &Decoded| -> Vec<(usize, RejectReason)> {
        d.rejects.iter().map(|r| (r.index, r.reason)).collect()
    };
    if reasons(d) != reasons(&old) {
        let shown = |d: &Decoded| -> Vec<String> {
            d.rejects
                .iter()
                .map(|r| format!("{}: {} ({})", r.index, r.reason, r.detail))
                .collect()
        };
        panic!(
            "rejects differ from the previous decoder\n now: {:#?}\n was: {:#?}",
            shown(d),
            shown(&old)
        );
    }
    assert_eq!(d.rows, old.rows, "rows differ from the previous decoder");
    for col in 0..d.batch.num_columns() {
        let (now, was) = (d.batch.column(col), old.batch.column(col));
        assert!(
            now.as_ref() == was.as_ref(),
            "column {col} differs from the previous decoder: {now:?} now, {was:?} before"
        );
    }
}

/// Properties 1–3 of [`check`].
fn check_accounting(decoder: &JsonDecoder, payloads: &[Option<&[u8]>], d: &Decoded) {
    let n = payloads.len();
    assert_eq!(d.rows.len() + d.rejects.len(), n, "rows + rejects != input");
    let mut seen = vec![false; n];
    for &i in d.rows.iter().chain(d.rejects.iter().map(|r| &r.index)) {
        assert!(i < n, "index {i} out of range for {n} records");
        assert!(!seen[i], "record {i} is accounted for twice");
        seen[i] = true;
    }
    assert!(d.rows.windows(2).all(|w| w[0] < w[1]), "rows not in order");
    assert!(
        d.rejects.windows(2).all(|w| w[0].index < w[1].index),
        "rejects not in order"
    );
    assert_eq!(d.batch.num_rows(), d.rows.len(), "batch size != rows");
    assert_eq!(d.batch.schema(), *decoder.schema(), "batch schema differs");

    for r in &d.rejects {
        let payload = payloads[r.index];
        let expected = match payload {
            None => Some(RejectReason::Tombstone),
            Some([]) => Some(RejectReason::Empty),
            Some(bytes) if std::str::from_utf8(bytes).is_err() => Some(RejectReason::InvalidUtf8),
            Some(_) => None,
        };
        if let Some(expected) = expected {
            assert_eq!(r.reason, expected, "record {}: wrong reason", r.index);
        } else {
            assert!(
                !matches!(
                    r.reason,
                    RejectReason::Tombstone | RejectReason::InvalidUtf8
                ),
                "record {}: {:?} for a non-empty UTF-8 value",
                r.index,
                r.reason
            );
        }
        assert!(!r.detail.is_empty(), "record {}: empty detail", r.index);
    }
    for &i in &d.rows {
        assert!(payloads[i].is_some(), "tombstone {i} became a row");
    }
}

/// Properties 4–5 of [`check`].
fn check_rows(spec: &SourceSchema, payloads: &[Option<&[u8]>], d: &Decoded) {
    for (pos, &index) in d.rows.iter().enumerate() {
        let bytes = payloads[index].unwrap_or_default();
        if let Err(e) = serde_json::from_slice::<IgnoredAny>(bytes) {
            panic!("record {index} was accepted but serde_json says: {e}");
        }
        let object: Map<String, Value> = match serde_json::from_slice(bytes) {
            Ok(object) => object,
            // Valid JSON that serde_json cannot hold as a `Value` (1e400):
            // no reference reading to compare the cells with.
            Err(e) if e.to_string().starts_with("number out of range") => continue,
            Err(e) => panic!("record {index} was accepted but serde_json says: {e}"),
        };
        for (col, field) in spec.fields.iter().enumerate() {
            let array = d.batch.column(col);
            let name = &field.name;
            if array.is_null(pos) {
                assert!(!field.required, "record {index}: required `{name}` is null");
                assert!(
                    matches!(object.get(name), None | Some(Value::Null)),
                    "record {index}: `{name}` is null but the JSON has {:?}",
                    object.get(name)
                );
                continue;
            }
            let value = object.get(name);
            match field.ty {
                ColumnType::String | ColumnType::Uuid => {
                    let cell = array.as_string::<i32>().value(pos);
                    if field.ty == ColumnType::Uuid {
                        assert!(
                            uuid::Uuid::try_parse(cell).is_ok(),
                            "record {index}: `{name}` = {cell:?} is not a UUID"
                        );
                    }
                    match value {
                        Some(Value::String(s)) => assert_eq!(cell, s, "record {index}: `{name}`"),
                        Some(Value::Bool(b)) => {
                            assert_eq!(cell, b.to_string(), "record {index}: `{name}`")
                        }
                        Some(Value::Number(_)) => {}
                        other => panic!("record {index}: `{name}` = {cell:?} from {other:?}"),
                    }
                }
                ColumnType::Int => {
                    let cell = array.as_primitive::<Int64Type>().value(pos);
                    if let Some(Value::Number(n)) = value {
                        if let Some(i) = n.as_i64() {
                            assert_eq!(cell, i, "record {index}: `{name}`");
                        }
                    }
                }
                ColumnType::Double => {
                    // serde_json's default float parser is not always
                    // correctly rounded, so only the presence is compared.
                    let _ = array.as_primitive::<Float64Type>().value(pos);
                    assert!(value.is_some(), "record {index}: `{name}` from nothing");
                }
                ColumnType::Boolean => {
                    let cell = array.as_boolean().value(pos);
                    if let Some(Value::Bool(b)) = value {
                        assert_eq!(cell, *b, "record {index}: `{name}`");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
