//! `CassandraTable`: a Cassandra table registered in DataFusion.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session as DfSession, TableProvider};
use datafusion::common::{not_impl_err, plan_err, Result as DfResult};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use ember_decode::SourceSchema;
use ember_engine::{DeleteSink, SinkFailure, WriteTime};
use scylla::client::session::Session;
use scylla::errors::PrepareError;
use scylla::statement::prepared::PreparedStatement;

use super::activity::SinkActivity;
use super::config::{quote_identifier, CassandraSinkConfig};
use super::ddl::ensure_table;
use super::delete::{delete_cql, key_schema, Deleter};
use super::error::CassandraError;
use super::fault::invalid_names_the_schema;
use super::schema::{read_columns, TableColumns};
use super::session::connect;
use super::sink::CassandraSink;
use super::writer::Writer;

/// A write-only DataFusion table backed by a Cassandra table.
#[derive(Debug)]
pub struct CassandraTable {
    name: String,
    columns: TableColumns,
    writer: Arc<Writer>,
    concurrency: usize,
    /// With `deletes = true`: the prepared `DELETE` and the key's schema.
    deletes: Option<(Deleter, SourceSchema)>,
}

/// How long a table that was just created may stay invisible to `PREPARE`.
const SCHEMA_SETTLE: Duration = Duration::from_secs(20);

/// Prepares a statement (the upsert, the delete). When several instances start at once, each may run
/// the table's `CREATE TABLE IF NOT EXISTS`; Cassandra then settles on one
/// definition and, meanwhile, can answer "does not exist" to a prepare.
/// That answer is retried for a while; any other is final.
async fn prepare(session: &Session, cql: &str) -> Result<PreparedStatement, PrepareError> {
    let started = Instant::now();
    loop {
        match session.prepare(cql).await {
            Ok(statement) => return Ok(statement),
            Err(e)
                if invalid_names_the_schema(&e.to_string())
                    && started.elapsed() < SCHEMA_SETTLE =>
            {
                tracing::debug!(error = %e, "table not visible yet; preparing again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

impl CassandraTable {
    /// Connects, creates the keyspace and table if missing, reads the
    /// table's columns and prepares the upsert. `default_table` is the
    /// sink's name in the pipeline, used when the config names no table.
    pub async fn connect(
        default_table: &str,
        config: &CassandraSinkConfig,
    ) -> Result<Self, CassandraError> {
        // Keyspace and table are identifiers by type (parsed when the
        // config was built), so they can be spliced into the CQL below.
        let table = config.table_name(default_table)?;
        let retry_for = config.retry_for.into();
        if config.concurrency == 0 || config.batch_max_rows == 0 {
            return Err(CassandraError::ZeroLimit);
        }
        let session = connect(config).await?;
        ensure_table(&session, config, &table).await?;
        let columns = read_columns(&session, &config.keyspace, &table).await?;
        let insert = format!(
            "INSERT INTO {}.{} ({}) VALUES ({}) USING TIMESTAMP ?",
            config.keyspace,
            table,
            columns
                .names
                .iter()
                .map(|n| quote_identifier(n))
                .collect::<Vec<_>>()
                .join(", "),
            vec!["?"; columns.names.len()].join(", ")
        );
        let insert = prepare(&session, &insert)
            .await
            .map_err(|e| CassandraError::Schema {
                what: format!("prepare insert into {}.{table}", config.keyspace),
                message: e.to_string(),
            })?;
        let session = Arc::new(session);
        let activity = Arc::new(SinkActivity::default());
        let deletes = match config.deletes {
            false => None,
            true => {
                let key = &columns.names[..columns.key_len];
                let schema = key_schema(key, &columns.kinds[..columns.key_len])?;
                let statement = prepare(&session, &delete_cql(&config.keyspace, &table, key))
                    .await
                    .map_err(|e| CassandraError::Schema {
                        what: format!("prepare delete from {}.{table}", config.keyspace),
                        message: e.to_string(),
                    })?;
                let deleter = Deleter {
                    session: session.clone(),
                    statement,
                    kinds: columns.kinds[..columns.key_len].to_vec(),
                    batch_max_rows: config.batch_max_rows,
                    concurrency: config.concurrency,
                    retry_for,
                    activity: activity.clone(),
                };
                Some((deleter, schema))
            }
        };
        let writer = Writer {
            session,
            insert,
            kinds: columns.kinds.clone(),
            batch_max_rows: config.batch_max_rows,
            batch_max_bytes: config.batch_max_bytes,
            retry_for,
            ignore_nulls: config.ignore_nulls,
            activity,
        };
        Ok(CassandraTable {
            name: format!("{}.{table}", config.keyspace),
            columns,
            writer: Arc::new(writer),
            concurrency: config.concurrency,
            deletes,
        })
    }

    /// The requests this table's writes and deletes have in flight, sent
    /// and retried, counted live (for `/metrics`).
    pub fn activity(&self) -> Arc<SinkActivity> {
        self.writer.activity.clone()
    }

    /// Whether the sink applies tombstones as deletes (`deletes = true`).
    pub fn deletes(&self) -> bool {
        self.deletes.is_some()
    }

    /// `keyspace.table`.
    pub fn qualified_name(&self) -> &str {
        &self.name
    }

    /// Column names in the order `INSERT INTO … SELECT` without a column
    /// list maps them: partition key, clustering key, then by name.
    pub fn column_names(&self) -> &[String] {
        &self.columns.names
    }
}

#[async_trait]
impl TableProvider for CassandraTable {
    fn schema(&self) -> SchemaRef {
        self.columns.arrow.clone()
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
        write_only(&self.name)
    }

    async fn insert_into(
        &self,
        _state: &dyn DfSession,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        upserts_only(insert_op)?;
        let sink = CassandraSink {
            name: self.name.clone(),
            schema: self.columns.arrow.clone(),
            writer: self.writer.clone(),
            concurrency: self.concurrency,
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

/// A scan of a sink table: refused, here and in the offline sink alike.
pub(crate) fn write_only(table: &str) -> DfResult<Arc<dyn ExecutionPlan>> {
    not_impl_err!("the Cassandra sink {table} is write-only; read it with cqlsh or a query tool")
}

/// Only `INSERT INTO` plans: a Cassandra write is an upsert, so neither an
/// overwrite nor a replace means anything (refused offline too, so what
/// plans in `ember check` plans in `ember run`).
pub(crate) fn upserts_only(insert_op: InsertOp) -> DfResult<()> {
    if insert_op != InsertOp::Append {
        return plan_err!("{insert_op} is not supported by the Cassandra sink (upserts only)");
    }
    Ok(())
}

#[async_trait]
impl DeleteSink for CassandraTable {
    fn describe(&self) -> String {
        format!("Cassandra table {}", self.name)
    }

    fn key_schema(&self) -> SourceSchema {
        match &self.deletes {
            Some((_, schema)) => schema.clone(),
            // Not reached: the runner hands only sinks with deletes to the
            // engine. An empty key refuses every tombstone, deleting nothing.
            None => SourceSchema { fields: Vec::new() },
        }
    }

    async fn delete(
        &self,
        keys: RecordBatch,
        write_times: Vec<WriteTime>,
    ) -> Result<Vec<(usize, String)>, SinkFailure> {
        let Some((deleter, _)) = &self.deletes else {
            return Err(SinkFailure(format!(
                "{} was asked to delete rows without deletes = true (an engine bug)",
                self.name
            )));
        };
        deleter.delete(&keys, &write_times).await.map_err(|e| {
            SinkFailure(format!(
                "deleting from Cassandra table {}: {}",
                self.name, e.error
            ))
        })
    }
}
