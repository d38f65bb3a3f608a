//! `CassandraTable`: a Cassandra table registered in DataFusion.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session as DfSession, TableProvider};
use datafusion::common::{not_impl_err, plan_err, Result as DfResult};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use ember_engine::trigger::parse_duration;
use scylla::client::session::Session;
use scylla::errors::PrepareError;
use scylla::statement::prepared::PreparedStatement;

use super::config::{quote_identifier, validate_identifier, CassandraSinkConfig};
use super::schema::{read_columns, TableColumns};
use super::session::{connect, ensure_table, CassandraError};
use super::sink::CassandraSink;
use super::writer::Writer;

/// A write-only DataFusion table backed by a Cassandra table.
#[derive(Debug)]
pub struct CassandraTable {
    name: String,
    columns: TableColumns,
    writer: Arc<Writer>,
    concurrency: usize,
}

/// How long a table that was just created may stay invisible to `PREPARE`.
const SCHEMA_SETTLE: Duration = Duration::from_secs(20);

/// Prepares the upsert. When several instances start at once, each may run
/// the table's `CREATE TABLE IF NOT EXISTS`; Cassandra then settles on one
/// definition and, meanwhile, can answer "does not exist" to a prepare.
/// That answer is retried for a while; any other is final.
async fn prepare_insert(session: &Session, cql: &str) -> Result<PreparedStatement, PrepareError> {
    let started = Instant::now();
    loop {
        match session.prepare(cql).await {
            Ok(statement) => return Ok(statement),
            Err(e)
                if e.to_string().contains("does not exist")
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
        let table = config.table.as_deref().unwrap_or(default_table);
        let retry_for = parse_duration(&config.retry_for)
            .map_err(|e| CassandraError::Config(format!("retry_for: {e}")))?;
        if config.concurrency == 0 || config.batch_max_rows == 0 {
            return Err(CassandraError::Config(
                "concurrency and batch_max_rows must be at least 1".into(),
            ));
        }
        // Checked here too, not only at config load: the names are spliced
        // into CQL below, whoever built this config.
        validate_identifier("keyspace", &config.keyspace).map_err(CassandraError::Config)?;
        validate_identifier("table", table).map_err(CassandraError::Config)?;
        let session = connect(config).await?;
        ensure_table(&session, config, table).await?;
        let columns = read_columns(&session, &config.keyspace, table).await?;
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
        let insert =
            prepare_insert(&session, &insert)
                .await
                .map_err(|e| CassandraError::Schema {
                    what: format!("prepare insert into {}.{table}", config.keyspace),
                    message: e.to_string(),
                })?;
        let writer = Writer {
            session: Arc::new(session),
            insert,
            kinds: columns.kinds.clone(),
            batch_max_rows: config.batch_max_rows,
            batch_max_bytes: config.batch_max_bytes,
            retry_for,
        };
        Ok(CassandraTable {
            name: format!("{}.{table}", config.keyspace),
            columns,
            writer: Arc::new(writer),
            concurrency: config.concurrency,
        })
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
        not_impl_err!(
            "the Cassandra sink {} is write-only; read it with cqlsh or a query tool",
            self.name
        )
    }

    async fn insert_into(
        &self,
        _state: &dyn DfSession,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return plan_err!("{insert_op} is not supported by the Cassandra sink (upserts only)");
        }
        let sink = CassandraSink {
            name: self.name.clone(),
            schema: self.columns.arrow.clone(),
            writer: self.writer.clone(),
            concurrency: self.concurrency,
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}
