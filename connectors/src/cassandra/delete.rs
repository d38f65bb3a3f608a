//! Deleting rows by primary key, for the tombstones of a sink with
//! `deletes = true` (see `ember_engine::deletes` for how a Kafka key names
//! a row): one prepared `DELETE FROM ks.t USING TIMESTAMP ? WHERE "k" = ? …`,
//! sent in unlogged batches with the upserts' limits and retries.
//!
//! The write time is the engine's, never the clock's: a replayed older
//! insert (at a lower write time) cannot bring a deleted row back, and a
//! later insert (at a higher one) wins over the delete.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use ember_decode::{ColumnType, FieldSpec, SourceSchema};
use futures::stream::{self, StreamExt, TryStreamExt};
use scylla::client::session::Session;
use scylla::errors::ExecutionError;
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::RowWriter;
use scylla::serialize::SerializationError;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use ember_engine::WriteTime;

use super::activity::SinkActivity;
use super::config::quote_identifier;
use super::fault::Fault;
use super::schema::CqlKind;
use super::writer::{with_retries, WriteError};

/// Everything needed to delete rows of one table by primary key.
#[derive(Debug)]
pub(crate) struct Deleter {
    pub session: Arc<Session>,
    pub statement: PreparedStatement,
    /// The primary-key columns' kinds, in key order.
    pub kinds: Vec<CqlKind>,
    pub batch_max_rows: usize,
    pub concurrency: usize,
    pub retry_for: Duration,
    pub activity: Arc<SinkActivity>,
}

/// A primary key the sink cannot delete by.
#[derive(Debug, thiserror::Error)]
#[error("primary-key column `{column}` has type {kind:?}, which a Kafka key cannot name (deletes = true needs text, uuid, int, bigint, double, float or boolean key columns)")]
pub struct UnsupportedKey {
    pub(crate) column: String,
    pub(crate) kind: CqlKind,
}

/// The schema a tombstone's key decodes with: the primary-key columns.
pub(crate) fn key_schema(
    names: &[String],
    kinds: &[CqlKind],
) -> Result<SourceSchema, UnsupportedKey> {
    let fields = names
        .iter()
        .zip(kinds)
        .map(|(name, &kind)| {
            let ty = match kind {
                CqlKind::Text => ColumnType::String,
                CqlKind::Uuid => ColumnType::Uuid,
                CqlKind::BigInt | CqlKind::Int => ColumnType::Int,
                CqlKind::Double | CqlKind::Float => ColumnType::Double,
                CqlKind::Boolean => ColumnType::Boolean,
                CqlKind::Timestamp => {
                    return Err(UnsupportedKey {
                        column: name.clone(),
                        kind,
                    })
                }
            };
            Ok(FieldSpec {
                name: name.clone(),
                ty,
                required: true,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SourceSchema { fields })
}

/// The `DELETE` for a table whose primary key is `key`.
pub(crate) fn delete_cql(keyspace: &str, table: &str, key: &[String]) -> String {
    let wheres: Vec<String> = key
        .iter()
        .map(|k| format!("{} = ?", quote_identifier(k)))
        .collect();
    format!(
        "DELETE FROM {keyspace}.{table} USING TIMESTAMP ? WHERE {}",
        wheres.join(" AND ")
    )
}

impl Deleter {
    /// Deletes the row of each row of `keys` (decoded as [`key_schema`]),
    /// row `i` at `times[i]`. Returns the rows Cassandra refused, with the
    /// reason; an error when it stayed unreachable for `retry_for`.
    pub async fn delete(
        &self,
        keys: &RecordBatch,
        times: &[WriteTime],
    ) -> Result<Vec<(usize, String)>, WriteError> {
        let chunks: Vec<(usize, usize)> = (0..keys.num_rows())
            .step_by(self.batch_max_rows)
            .map(|start| (start, (start + self.batch_max_rows).min(keys.num_rows())))
            .collect();
        let refused: Vec<Vec<(usize, String)>> = stream::iter(chunks)
            .map(|(start, end)| self.delete_chunk(keys, times, start, end))
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut refused: Vec<(usize, String)> = refused.into_iter().flatten().collect();
        refused.sort_by_key(|(row, _)| *row);
        Ok(refused)
    }

    /// One request for rows `[start, end)`; if Cassandra refuses it, each
    /// row alone, so one bad key does not hold back the others.
    async fn delete_chunk(
        &self,
        keys: &RecordBatch,
        times: &[WriteTime],
        start: usize,
        end: usize,
    ) -> Result<Vec<(usize, String)>, WriteError> {
        match with_retries(self.retry_for, &self.activity, || {
            self.send(keys, times, start, end)
        })
        .await
        {
            Ok(()) => return Ok(Vec::new()),
            Err(e) if e.fault != Fault::Rows => return Err(e),
            Err(e) if end - start == 1 => return Ok(vec![(start, e.error.to_string())]),
            Err(_) => {}
        }
        let mut refused = Vec::new();
        for row in start..end {
            match with_retries(self.retry_for, &self.activity, || {
                self.send(keys, times, row, row + 1)
            })
            .await
            {
                Ok(()) => {}
                Err(e) if e.fault != Fault::Rows => return Err(e),
                Err(e) => refused.push((row, e.error.to_string())),
            }
        }
        Ok(refused)
    }

    async fn send(
        &self,
        keys: &RecordBatch,
        times: &[WriteTime],
        start: usize,
        end: usize,
    ) -> Result<(), ExecutionError> {
        let row = |r: usize| KeyRow {
            keys,
            kinds: &self.kinds,
            row: r,
            timestamp: times[r],
        };
        if end - start == 1 {
            self.session
                .execute_unpaged(&self.statement, row(start))
                .await?;
            return Ok(());
        }
        let mut batch = Batch::new(BatchType::Unlogged);
        for _ in start..end {
            batch.append_statement(self.statement.clone());
        }
        let values: Vec<KeyRow<'_>> = (start..end).map(row).collect();
        self.session.batch(&batch, values).await?;
        Ok(())
    }
}

/// The bound values of one `DELETE`: the write time, then the key columns
/// from the decoded key's arrays (text, Int64, Float64 or Boolean).
struct KeyRow<'a> {
    keys: &'a RecordBatch,
    kinds: &'a [CqlKind],
    row: usize,
    timestamp: WriteTime,
}

#[derive(Debug, thiserror::Error)]
#[error("key column `{column}`: {message}")]
struct KeyError {
    column: String,
    message: String,
}

impl SerializeRow for KeyRow<'_> {
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter,
    ) -> Result<(), SerializationError> {
        let specs = ctx.columns();
        self.timestamp
            .as_micros()
            .serialize(specs[0].typ(), writer.make_cell_writer())?;
        for (i, kind) in self.kinds.iter().enumerate() {
            let spec = &specs[i + 1];
            let (typ, cell) = (spec.typ(), writer.make_cell_writer());
            let array = self.keys.column(i);
            let fail = |message: String| {
                SerializationError::new(KeyError {
                    column: spec.name().to_string(),
                    message,
                })
            };
            let r = self.row;
            if array.is_null(r) {
                return Err(fail("is null".into()));
            }
            match kind {
                CqlKind::Text => array.as_string::<i32>().value(r).serialize(typ, cell)?,
                CqlKind::Uuid => {
                    let text = array.as_string::<i32>().value(r);
                    uuid::Uuid::try_parse(text)
                        .map_err(|e| fail(format!("{text:?} is not a UUID: {e}")))?
                        .serialize(typ, cell)?
                }
                CqlKind::BigInt => array
                    .as_primitive::<Int64Type>()
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Int => {
                    let n = array.as_primitive::<Int64Type>().value(r);
                    i32::try_from(n)
                        .map_err(|_| fail(format!("{n} does not fit an int")))?
                        .serialize(typ, cell)?
                }
                CqlKind::Double => array
                    .as_primitive::<Float64Type>()
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Float => {
                    (array.as_primitive::<Float64Type>().value(r) as f32).serialize(typ, cell)?
                }
                CqlKind::Boolean => array
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| fail(format!("unexpected Arrow type {}", array.data_type())))?
                    .value(r)
                    .serialize(typ, cell)?,
                CqlKind::Timestamp => {
                    return Err(fail(
                        "a timestamp key cannot be named by a Kafka key".into(),
                    ))
                }
            };
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delete_names_every_key_column_quoted() {
        let key = vec!["id".to_string(), "Day".to_string()];
        assert_eq!(
            delete_cql("ks", "t", &key),
            "DELETE FROM ks.t USING TIMESTAMP ? WHERE \"id\" = ? AND \"Day\" = ?"
        );
    }

    #[test]
    fn key_columns_decode_as_the_closest_source_type() {
        let names = vec!["id".to_string(), "n".to_string()];
        let schema = key_schema(&names, &[CqlKind::Uuid, CqlKind::Int]).unwrap();
        let types: Vec<(&str, ColumnType, bool)> = schema
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.ty, f.required))
            .collect();
        assert_eq!(
            types,
            vec![("id", ColumnType::Uuid, true), ("n", ColumnType::Int, true)]
        );
        let err = key_schema(&names[..1], &[CqlKind::Timestamp]).unwrap_err();
        assert!(err.to_string().contains("`id`"), "{err}");
    }
}
