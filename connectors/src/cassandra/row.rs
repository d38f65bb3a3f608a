//! Serialising a row straight from Arrow arrays into the CQL frame, with no
//! intermediate values: the columns of a prepared `INSERT … USING TIMESTAMP ?`
//! in order, then the write timestamp.

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, RecordBatch, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{Float32Type, Float64Type, Int32Type, Int64Type};
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::RowWriter;
use scylla::serialize::SerializationError;
use scylla::value::CqlTimestamp;

use super::schema::CqlKind;

/// Row `row` of `batch`, written at `timestamp` (microseconds).
pub(crate) struct ArrowRow<'a> {
    pub batch: &'a RecordBatch,
    pub kinds: &'a [CqlKind],
    pub row: usize,
    pub timestamp: i64,
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
        for (i, kind) in self.kinds.iter().enumerate() {
            let typ = specs[i].typ();
            let cell = writer.make_cell_writer();
            let array = self.batch.column(i);
            if array.is_null(self.row) {
                None::<i32>.serialize(typ, cell)?;
                continue;
            }
            let r = self.row;
            match kind {
                CqlKind::Text => array.as_string::<i32>().value(r).serialize(typ, cell)?,
                CqlKind::Uuid => {
                    let text = array.as_string::<i32>().value(r);
                    let uuid = uuid::Uuid::try_parse(text).map_err(|e| {
                        SerializationError::new(CellError {
                            column: specs[i].name().to_string(),
                            message: format!("{text:?} is not a UUID: {e}"),
                        })
                    })?;
                    uuid.serialize(typ, cell)?
                }
                CqlKind::BigInt => array
                    .as_primitive::<Int64Type>()
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Int => array
                    .as_primitive::<Int32Type>()
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Double => array
                    .as_primitive::<Float64Type>()
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Float => array
                    .as_primitive::<Float32Type>()
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Boolean => downcast::<BooleanArray>(array)?
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Timestamp => {
                    let ms = downcast::<TimestampMillisecondArray>(array)?.value(r);
                    CqlTimestamp(ms).serialize(typ, cell)?
                }
            };
        }
        let ts_spec = &specs[self.kinds.len()];
        self.timestamp
            .serialize(ts_spec.typ(), writer.make_cell_writer())?;
        Ok(())
    }

    fn is_empty(&self) -> bool {
        false
    }
}

fn downcast<T: 'static>(array: &dyn Array) -> Result<&T, SerializationError> {
    array.as_any().downcast_ref::<T>().ok_or_else(|| {
        SerializationError::new(CellError {
            column: String::new(),
            message: format!("unexpected Arrow type {}", array.data_type()),
        })
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
