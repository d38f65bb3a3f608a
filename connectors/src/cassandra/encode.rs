//! The sink's serialisation on its own, without a connection: the CQL bytes
//! of every row exactly as [`super::writer::Writer`] puts them into a request
//! (the prepared `INSERT`'s columns, then `USING TIMESTAMP`).
//!
//! It exists so the cost of turning Arrow arrays into CQL values can be
//! measured and profiled apart from the network (`benches/`), and so that a
//! test can look at what would be sent.

use datafusion::arrow::array::RecordBatch;
use scylla::frame::response::result::{ColumnSpec, ColumnType, NativeType, TableSpec};
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::writers::RowWriter;
use scylla::serialize::SerializationError;

use ember_engine::WriteTime;

use super::row::ArrowRow;
use super::schema::CqlKind;

/// Serialises the rows of batches whose columns are `cql_types` (CQL type
/// names as `system_schema` spells them: `uuid`, `text`, `bigint`, …).
#[derive(Debug)]
pub struct RowEncoder {
    kinds: Vec<CqlKind>,
    specs: Vec<ColumnSpec<'static>>,
}

/// A CQL type the sink cannot write.
#[derive(Debug, thiserror::Error)]
#[error("the Cassandra sink cannot write CQL type `{0}`")]
pub struct UnsupportedType(pub String);

impl RowEncoder {
    pub fn new(cql_types: &[&str]) -> Result<Self, UnsupportedType> {
        let table = TableSpec::borrowed("bench", "bench");
        let mut kinds = Vec::with_capacity(cql_types.len());
        let mut specs = Vec::with_capacity(cql_types.len() + 1);
        for (i, ty) in cql_types.iter().enumerate() {
            let kind = CqlKind::parse(ty).ok_or_else(|| UnsupportedType(ty.to_string()))?;
            kinds.push(kind);
            specs.push(ColumnSpec::owned(
                format!("c{i}"),
                ColumnType::Native(native(kind)),
                table.clone(),
            ));
        }
        // The bound `USING TIMESTAMP ?`.
        specs.push(ColumnSpec::owned(
            "[timestamp]".into(),
            ColumnType::Native(NativeType::BigInt),
            table,
        ));
        Ok(RowEncoder { kinds, specs })
    }

    /// Appends every row of `batch` (row `i` at `base_ts.after_rows(i)`) to `out`;
    /// returns the bytes appended.
    pub fn encode(
        &self,
        batch: &RecordBatch,
        base_ts: WriteTime,
        out: &mut Vec<u8>,
    ) -> Result<usize, SerializationError> {
        let before = out.len();
        let ctx = RowSerializationContext::from_specs(&self.specs);
        for row in 0..batch.num_rows() {
            let mut writer = RowWriter::new(out);
            ArrowRow {
                batch,
                kinds: &self.kinds,
                row,
                timestamp: base_ts.after_rows(row),
                ignore_nulls: false,
            }
            .serialize(&ctx, &mut writer)?;
        }
        Ok(out.len() - before)
    }
}

fn native(kind: CqlKind) -> NativeType {
    match kind {
        CqlKind::Text => NativeType::Text,
        CqlKind::Uuid => NativeType::Uuid,
        CqlKind::BigInt => NativeType::BigInt,
        CqlKind::Int => NativeType::Int,
        CqlKind::Double => NativeType::Double,
        CqlKind::Float => NativeType::Float,
        CqlKind::Boolean => NativeType::Boolean,
        CqlKind::Timestamp => NativeType::Timestamp,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(ids: &[&str]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]);
        let n: Vec<Option<i64>> = (0..ids.len() as i64).map(Some).collect();
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(Int64Array::from(n)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rows_are_their_cells_then_the_timestamp() {
        let encoder = RowEncoder::new(&["uuid", "bigint"]).unwrap();
        let mut out = Vec::new();
        let id = "c0a80121-7ac0-4e1c-9c6e-1d5e5b0f3f41";
        let n = encoder
            .encode(&batch(&[id]), WriteTime::from_micros(7), &mut out)
            .unwrap();
        // Each cell: a 4-byte length, then the value.
        let mut expected = Vec::new();
        expected.extend_from_slice(&16i32.to_be_bytes());
        expected.extend_from_slice(uuid::Uuid::parse_str(id).unwrap().as_bytes());
        expected.extend_from_slice(&8i32.to_be_bytes());
        expected.extend_from_slice(&0i64.to_be_bytes());
        expected.extend_from_slice(&8i32.to_be_bytes());
        expected.extend_from_slice(&7i64.to_be_bytes());
        assert_eq!(out, expected);
        assert_eq!(n, expected.len());
    }

    #[test]
    fn a_bad_uuid_and_an_unknown_type_are_errors() {
        let encoder = RowEncoder::new(&["uuid", "bigint"]).unwrap();
        let err = encoder
            .encode(&batch(&["nope"]), WriteTime::default(), &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("not a UUID"), "{err}");
        assert_eq!(
            RowEncoder::new(&["map<text,int>"]).unwrap_err().to_string(),
            "the Cassandra sink cannot write CQL type `map<text,int>`"
        );
    }

    /// Arrow columns of other types than their CQL columns are written
    /// from: an error naming the column, not a panic.
    #[test]
    fn a_column_of_the_wrong_arrow_type_is_an_error_naming_it() {
        for types in [["text", "bigint"], ["uuid", "int"], ["uuid", "double"]] {
            let encoder = RowEncoder::new(&types).unwrap();
            let err = encoder
                .encode(
                    &batch(&["c0a80121-7ac0-4e1c-9c6e-1d5e5b0f3f41"]),
                    WriteTime::default(),
                    &mut Vec::new(),
                )
                .map(|_| ())
                .err()
                .map(|e| e.to_string());
            if types[0] == "text" {
                assert_eq!(err, None, "a string column is text");
                continue;
            }
            let err = err.unwrap_or_default();
            assert!(
                err.contains("column `c1`") && err.contains("Int64"),
                "{types:?}: {err}"
            );
        }
        // Fewer Arrow columns than CQL columns.
        let encoder = RowEncoder::new(&["uuid", "bigint", "text"]).unwrap();
        let err = encoder
            .encode(
                &batch(&["c0a80121-7ac0-4e1c-9c6e-1d5e5b0f3f41"]),
                WriteTime::default(),
                &mut Vec::new(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("engine bug"), "{err}");
    }
}
