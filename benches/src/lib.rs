//! What the benchmarks share: seed-shaped records from the real generator,
//! the real pipeline file's schema and SQL, and a sink table that serialises
//! every row as the Cassandra sink does and then discards it.
//!
//! The stage benchmarks (`cargo bench -p ember-benches`) are in `benches/`;
//! the programs `make bench` runs beside Ember and Spark are in `src/bin/`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{not_impl_err, DataFusionError, Result as DfResult};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use ember::config::LoadedPipeline;
use ember::ingest::generator::UserGenerator;
use ember_connectors::cassandra::RowEncoder;
use ember_engine::{BatchContext, PipelineSpec, WriteTime};
use futures::StreamExt;

/// Records per batch in the stage benchmarks: the default `max_records`.
pub const BATCH: usize = 20_000;

/// The checkout's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ sits in the checkout")
        .to_path_buf()
}

/// `pipelines/users.toml` as the engine sees it (schema, SQL files).
pub fn users_spec() -> PipelineSpec {
    let file = repo().join("pipelines/users.toml");
    LoadedPipeline::load(&file, std::iter::empty())
        .unwrap_or_else(|e| panic!("{}: {e:#}", file.display()))
        .spec(None)
}

/// `n` JSON payloads exactly as `ember produce --seed <seed>` sends them.
pub fn payloads(seed: u64, n: usize) -> Vec<Vec<u8>> {
    UserGenerator::users(seed, n)
        .iter()
        .map(|u| u.to_json())
        .collect()
}

/// The columns of `spark_streams.created_users` in the order the sink reads
/// them from Cassandra (partition key, then by name), with their CQL types.
pub const CREATED_USERS: [(&str, &str); 11] = [
    ("id", "uuid"),
    ("address", "text"),
    ("email", "text"),
    ("first_name", "text"),
    ("gender", "text"),
    ("last_name", "text"),
    ("phone", "text"),
    ("picture", "text"),
    ("post_code", "text"),
    ("registered_date", "text"),
    ("username", "text"),
];

/// A sink table shaped like `created_users` that serialises every row it is
/// given into CQL values (the work the Cassandra sink does before the
/// network) and drops them.
pub struct DiscardTable {
    schema: SchemaRef,
    encoder: Arc<RowEncoder>,
    /// Bytes serialised so far, so the work cannot be optimised away.
    pub bytes: Arc<AtomicU64>,
}

impl fmt::Debug for DiscardTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DiscardTable")
    }
}

impl DiscardTable {
    pub fn created_users() -> Self {
        let fields: Vec<Field> = CREATED_USERS
            .iter()
            .map(|(name, _)| Field::new(*name, DataType::Utf8, true))
            .collect();
        let types: Vec<&str> = CREATED_USERS.iter().map(|(_, ty)| *ty).collect();
        DiscardTable {
            schema: Arc::new(Schema::new(fields)),
            encoder: Arc::new(RowEncoder::new(&types).expect("the sink writes uuid and text")),
            bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn encoder(&self) -> &RowEncoder {
        &self.encoder
    }
}

#[async_trait]
impl TableProvider for DiscardTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        not_impl_err!("the discard table cannot be read")
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        _op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let sink = DiscardSink {
            schema: self.schema.clone(),
            encoder: self.encoder.clone(),
            bytes: self.bytes.clone(),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

struct DiscardSink {
    schema: SchemaRef,
    encoder: Arc<RowEncoder>,
    bytes: Arc<AtomicU64>,
}

impl fmt::Debug for DiscardSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DiscardSink")
    }
}

impl DisplayAs for DiscardSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DiscardSink")
    }
}

#[async_trait]
impl DataSink for DiscardSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let Some(batch) = BatchContext::of(context) else {
            return Err(DataFusionError::Internal("no batch context".into()));
        };
        let mut rows = 0u64;
        let mut buffer = Vec::new();
        while let Some(part) = data.next().await {
            let part = part?;
            buffer.clear();
            let n = self
                .encoder
                .encode(
                    &part,
                    batch.write_time.after_rows(rows as usize),
                    &mut buffer,
                )
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            self.bytes.fetch_add(n as u64, Ordering::Relaxed);
            rows += part.num_rows() as u64;
        }
        Ok(rows)
    }
}

/// A batch context for batch `batch_id` of `input`.
pub fn batch_context(batch_id: u64, input: RecordBatch) -> BatchContext {
    BatchContext {
        batch_id,
        input,
        write_time: WriteTime::from_micros(1_700_000_000_000_000 + batch_id as i64 * 1_000_000),
    }
}
