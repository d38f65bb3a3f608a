//! Serialising a row straight from Arrow arrays into the CQL frame, with no
//! intermediate values: the columns of a prepared `INSERT … USING TIMESTAMP ?`
//! in order, then the write timestamp.
//!
//! A null cell is bound as null, which Cassandra stores as a cell tombstone
//! (the column is cleared), or, with `ignore_nulls`, as *unset* (protocol v4's
//! "not set" value): the prepared statement stays the same, and the column
//! keeps whatever it held, as the DataStax sink's and the Spark connector's
//! `ignoreNulls` do.

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMillisecondArray,
};
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::RowWriter;
use scylla::serialize::SerializationError;
use scylla::value::{CqlTimestamp, Unset};

use ember_engine::WriteTime;

use super::schema::CqlKind;

/// Row `row` of `batch`, written at `timestamp` (microseconds).
pub(crate) struct ArrowRow<'a> {
    pub batch: &'a RecordBatch,
    pub kinds: &'a [CqlKind],
    pub row: usize,
    pub timestamp: WriteTime,
    /// Null cells unset rather than null.
    pub ignore_nulls: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("column `{column}`: {message}")]
struct CellError {
    column: String,
    message: String,
}

impl SerializeRow for ArrowRow<'_> {
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter,
    ) -> Result<(), SerializationError> {
        let specs = ctx.columns();
        if specs.len() != self.kinds.len() + 1 || self.batch.num_columns() < self.kinds.len() {
            return Err(cell_error(
                "",
                format!(
                    "{} Arrow column(s) and {} bound value(s) for {} CQL column(s) plus the \
                     timestamp (an engine bug)",
                    self.batch.num_columns(),
                    specs.len(),
                    self.kinds.len()
                ),
            ));
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            let (spec, array) = (&specs[i], self.batch.column(i));
            let (typ, column) = (spec.typ(), spec.name());
            let cell = writer.make_cell_writer();
            if array.is_null(self.row) {
                if self.ignore_nulls {
                    Unset.serialize(typ, cell)?;
                } else {
                    None::<i32>.serialize(typ, cell)?;
                }
                continue;
            }
            let r = self.row;
            match kind {
                CqlKind::Text => downcast::<StringArray>(array, column)?
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Uuid => {
                    let text = downcast::<StringArray>(array, column)?.value(r);
                    let uuid = uuid::Uuid::try_parse(text)
                        .map_err(|e| cell_error(column, format!("{text:?} is not a UUID: {e}")))?;
                    uuid.serialize(typ, cell)?
                }
                CqlKind::BigInt => downcast::<Int64Array>(array, column)?
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Int => downcast::<Int32Array>(array, column)?
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Double => downcast::<Float64Array>(array, column)?
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Float => downcast::<Float32Array>(array, column)?
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Boolean => downcast::<BooleanArray>(array, column)?
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Timestamp => {
                    let ms = downcast::<TimestampMillisecondArray>(array, column)?.value(r);
                    CqlTimestamp(ms).serialize(typ, cell)?
                }
            };
        }
        let ts_spec = &specs[self.kinds.len()];
        self.timestamp
            .as_micros()
            .serialize(ts_spec.typ(), writer.make_cell_writer())?;
        Ok(())
    }

    fn is_empty(&self) -> bool {
        false
    }
}

fn cell_error(column: &str, message: String) -> SerializationError {
    SerializationError::new(CellError {
        column: column.to_string(),
        message,
    })
}

/// The column's array as the Arrow type its CQL type is written from. The
/// SQL's `INSERT` casts to the sink's schema, so a mismatch is an engine
/// bug: an error naming the column, never a panic.
fn downcast<'a, T: 'static>(
    array: &'a dyn Array,
    column: &str,
) -> Result<&'a T, SerializationError> {
    array.as_any().downcast_ref::<T>().ok_or_else(|| {
        cell_error(
            column,
            format!(
                "the Arrow column is {}, not the type its CQL type is written from (an engine bug)",
                array.data_type()
            ),
        )
    })
}

/// Bytes a row adds to a request, estimated from its values: what the
/// batch size limit is measured against.
pub(crate) fn estimated_size(batch: &RecordBatch, kinds: &[CqlKind], row: usize) -> usize {
    let mut size = 8 + 4; // timestamp + per-row framing
    for (i, kind) in kinds.iter().enumerate() {
        let array = batch.column(i);
        size += 4 + match kind {
            _ if array.is_null(row) => 0,
            CqlKind::Text => array.as_string::<i32>().value(row).len(),
            CqlKind::Uuid => 16,
            CqlKind::BigInt | CqlKind::Double | CqlKind::Timestamp => 8,
            CqlKind::Int | CqlKind::Float => 4,
            CqlKind::Boolean => 1,
        };
    }
    size
}
