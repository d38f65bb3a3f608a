//! The table's columns, read from `system_schema`, as an Arrow schema.

use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use scylla::client::session::Session;

use super::config::CassandraSinkConfig;
use super::create_table::SinkColumns;
use super::error::CassandraError;

/// How one Cassandra column is written from its Arrow column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CqlKind {
    Text,
    Uuid,
    BigInt,
    Int,
    Double,
    Float,
    Boolean,
    Timestamp,
}

impl CqlKind {
    pub(crate) fn parse(cql_type: &str) -> Option<Self> {
        Some(match cql_type {
            "text" | "varchar" | "ascii" => CqlKind::Text,
            "uuid" | "timeuuid" => CqlKind::Uuid,
            "bigint" | "counter" => CqlKind::BigInt,
            "int" => CqlKind::Int,
            "double" => CqlKind::Double,
            "float" => CqlKind::Float,
            "boolean" => CqlKind::Boolean,
            "timestamp" => CqlKind::Timestamp,
            _ => return None,
        })
    }

    /// The Arrow type the sink table exposes to SQL. UUIDs travel as text,
    /// as in the source contract and in Spark's connector.
    pub(crate) fn data_type(self) -> DataType {
        match self {
            CqlKind::Text | CqlKind::Uuid => DataType::Utf8,
            CqlKind::BigInt => DataType::Int64,
            CqlKind::Int => DataType::Int32,
            CqlKind::Double => DataType::Float64,
            CqlKind::Float => DataType::Float32,
            CqlKind::Boolean => DataType::Boolean,
            CqlKind::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        }
    }
}

/// A table's columns in a fixed order: partition key, clustering key, then
/// the other columns by name (Cassandra keeps no declaration order).
#[derive(Debug, Clone)]
pub(crate) struct TableColumns {
    pub names: Vec<String>,
    /// The first `key_len` columns are the primary key (partition key, then
    /// clustering columns).
    pub key_len: usize,
    pub kinds: Vec<CqlKind>,
    pub arrow: SchemaRef,
}

pub(crate) async fn table_exists(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Result<bool, CassandraError> {
    let result = session
        .query_unpaged(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, table),
        )
        .await
        .map_err(|e| schema_error(keyspace, table, e))?
        .into_rows_result()
        .map_err(|e| schema_error(keyspace, table, e))?;
    Ok(result.rows_num() > 0)
}

pub(crate) async fn read_columns(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Result<TableColumns, CassandraError> {
    let cols = column_rows(session, keyspace, table).await?;
    let sorted = SinkColumns::ordered(format!("{keyspace}.{table}"), cols)?;
    let kinds = sorted
        .cql_types
        .iter()
        .filter_map(|ty| CqlKind::parse(ty))
        .collect();
    Ok(TableColumns {
        names: sorted.names,
        key_len: sorted.key_len,
        kinds,
        arrow: sorted.schema,
    })
}

/// The columns of a live table, read without changing anything (no
/// keyspace or table is created): what `ember check --connect` plans
/// against. `None` when the table does not exist.
pub async fn live_columns(
    config: &CassandraSinkConfig,
    sink_name: &str,
) -> Result<Option<SinkColumns>, CassandraError> {
    let table = config.table_name(sink_name)?;
    let session = super::session::connect(config).await?;
    if !table_exists(&session, &config.keyspace, &table).await? {
        return Ok(None);
    }
    let cols = column_rows(&session, &config.keyspace, &table).await?;
    Ok(Some(SinkColumns::ordered(
        format!("{}.{table}", config.keyspace),
        cols,
    )?))
}

/// (rank: 0 partition key, 1 clustering, 2 other; position; name; CQL
/// type) of every column, from `system_schema`.
async fn column_rows(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Result<Vec<(u8, i32, String, String)>, CassandraError> {
    let rows = session
        .query_unpaged(
            "SELECT column_name, kind, position, type FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, table),
        )
        .await
        .map_err(|e| schema_error(keyspace, table, e))?
        .into_rows_result()
        .map_err(|e| schema_error(keyspace, table, e))?;
    let mut cols = Vec::new();
    for row in rows
        .rows::<(String, String, i32, String)>()
        .map_err(|e| schema_error(keyspace, table, e))?
    {
        let (name, kind, position, ty) = row.map_err(|e| schema_error(keyspace, table, e))?;
        let rank = match kind.as_str() {
            "partition_key" => 0,
            "clustering" => 1,
            _ => 2,
        };
        cols.push((rank, position, name, ty));
    }
    if cols.is_empty() {
        return Err(CassandraError::NoTable {
            table: format!("{keyspace}.{table}"),
        });
    }
    Ok(cols)
}

fn schema_error(keyspace: &str, table: &str, e: impl std::fmt::Display) -> CassandraError {
    CassandraError::Schema {
        what: format!("read schema of {keyspace}.{table}"),
        message: e.to_string(),
    }
}
