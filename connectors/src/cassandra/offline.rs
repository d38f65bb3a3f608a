//! `OfflineTable`: a sink table with the columns of a Cassandra table but no
//! cluster behind it. `ember check` plans the SQL against it; `ember
//! preview` runs the SQL into it and prints what it kept. Each row is
//! serialised exactly as the Cassandra sink would send it
//! ([`super::RowEncoder`]), so a value the sink would refuse fails here too
//! and the engine narrows it down to its record like a real run.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session as DfSession, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::StreamExt;

use ember_decode::SourceSchema;
use ember_engine::{DeleteSink, SinkFailure, WriteTime};

use super::create_table::SinkColumns;
use super::delete::{key_schema, UnsupportedKey};
use super::encode::{RowEncoder, UnsupportedType};
use super::schema::CqlKind;
use super::table::{upserts_only, write_only};

/// A write-only table that keeps the rows written to it (and, with
/// deletes, the keys of the rows tombstones delete).
#[derive(Debug)]
pub struct OfflineTable {
    columns: SinkColumns,
    encoder: Arc<RowEncoder>,
    rows: Arc<Mutex<Vec<RecordBatch>>>,
    /// With `deletes = true`: the key's schema, and the keys deleted.
    deletes: Option<(SourceSchema, Mutex<Vec<RecordBatch>>)>,
}

impl OfflineTable {
    pub fn new(columns: SinkColumns) -> Result<Self, UnsupportedType> {
        let types: Vec<&str> = columns.cql_types.iter().map(String::as_str).collect();
        Ok(OfflineTable {
            encoder: Arc::new(RowEncoder::new(&types)?),
            columns,
            rows: Arc::default(),
            deletes: None,
        })
    }

    /// Takes tombstones as deletes by primary key, as the live sink does
    /// with `deletes = true`.
    pub fn with_deletes(mut self) -> Result<Self, UnsupportedKey> {
        let n = self.columns.key_len;
        let kinds: Vec<CqlKind> = self.columns.cql_types[..n]
            .iter()
            .filter_map(|t| CqlKind::parse(t))
            .collect();
        let schema = key_schema(&self.columns.names[..n], &kinds)?;
        self.deletes = Some((schema, Mutex::default()));
        Ok(self)
    }

    /// The keys deleted so far (columns as the primary key).
    pub fn deleted(&self) -> Vec<RecordBatch> {
        match &self.deletes {
            Some((_, keys)) => keys.lock().map(|k| k.clone()).unwrap_or_default(),
            None => Vec::new(),
        }
    }

    pub fn columns(&self) -> &SinkColumns {
        &self.columns
    }

    /// Every row acknowledged so far, in write order.
    pub fn rows(&self) -> Vec<RecordBatch> {
        self.rows.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl DeleteSink for OfflineTable {
    fn describe(&self) -> String {
        format!("Cassandra table {} (offline)", self.columns.table)
    }

    fn key_schema(&self) -> SourceSchema {
        match &self.deletes {
            Some((schema, _)) => schema.clone(),
            // As the live sink: an empty key refuses every tombstone.
            None => SourceSchema { fields: Vec::new() },
        }
    }

    async fn delete(
        &self,
        keys: RecordBatch,
        _write_times: Vec<WriteTime>,
    ) -> Result<Vec<(usize, String)>, SinkFailure> {
        let Some((_, deleted)) = &self.deletes else {
            return Err(SinkFailure(format!(
                "{} was asked to delete rows without deletes = true (an engine bug)",
                self.columns.table
            )));
        };
        deleted
            .lock()
            .map_err(|_| SinkFailure("offline sink lock poisoned".into()))?
            .push(keys);
        Ok(Vec::new())
    }
}

#[async_trait]
impl TableProvider for OfflineTable {
    fn schema(&self) -> SchemaRef {
        self.columns.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        write_only(&self.columns.table)
    }

    async fn insert_into(
        &self,
        _state: &dyn DfSession,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        upserts_only(insert_op)?;
        let sink = Capture {
            key: self.columns.names[..self.columns.key_len].to_vec(),
            table: self.columns.table.clone(),
            schema: self.columns.schema.clone(),
            encoder: self.encoder.clone(),
            rows: self.rows.clone(),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

struct Capture {
    /// The primary-key columns: Cassandra refuses a row with one null.
    key: Vec<String>,
    table: String,
    schema: SchemaRef,
    encoder: Arc<RowEncoder>,
    rows: Arc<Mutex<Vec<RecordBatch>>>,
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OfflineSink({})", self.table)
    }
}

impl DisplayAs for Capture {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CassandraSink: table={} (offline)", self.table)
    }
}

#[async_trait]
impl DataSink for Capture {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let mut kept = Vec::new();
        let mut buffer = Vec::new();
        while let Some(batch) = data.next().await {
            let batch = batch?;
            // What Cassandra answers for such a row (a fault of the row,
            // which the engine narrows down, as in a real run).
            for (i, name) in self.key.iter().enumerate() {
                if batch.column(i).null_count() > 0 {
                    return Err(DataFusionError::Execution(format!(
                        "Cassandra rejected a row of {}: Invalid null value in condition for column {name}",
                        self.table
                    )));
                }
            }
            buffer.clear();
            self.encoder
                .encode(&batch, WriteTime::default(), &mut buffer)
                .map_err(|e| {
                    DataFusionError::Execution(format!(
                        "Cassandra rejected a row of {}: {e}",
                        self.table
                    ))
                })?;
            kept.push(batch);
        }
        let written = kept.iter().map(|b| b.num_rows() as u64).sum();
        // Only a whole write is kept: a failed one is narrowed down and
        // written again by the engine, as with the live sink.
        self.rows
            .lock()
            .map_err(|_| DataFusionError::Internal("offline sink lock poisoned".into()))?
            .extend(kept);
        Ok(written)
    }
}
