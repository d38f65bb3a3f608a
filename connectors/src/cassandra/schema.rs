//! The table's columns, read from `system_schema`, as an Arrow schema.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use scylla::client::session::Session;

use super::session::CassandraError;

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
    fn data_type(self) -> DataType {
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
    let mut cols: Vec<(u8, i32, String, String)> = Vec::new();
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
        return Err(CassandraError::Config(format!(
            "table {keyspace}.{table} does not exist"
        )));
    }
    cols.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    let mut names = Vec::new();
    let mut kinds = Vec::new();
    let mut fields = Vec::new();
    for (_, _, name, ty) in cols {
        let kind = CqlKind::parse(&ty).ok_or_else(|| {
            CassandraError::Config(format!(
                "column {keyspace}.{table}.{name} has type `{ty}`, which the sink cannot write yet"
            ))
        })?;
        fields.push(Field::new(&name, kind.data_type(), true));
        names.push(name);
        kinds.push(kind);
    }
    Ok(TableColumns {
        names,
        kinds,
        arrow: Arc::new(Schema::new(fields)),
    })
}

fn schema_error(keyspace: &str, table: &str, e: impl std::fmt::Display) -> CassandraError {
    CassandraError::Schema {
        what: format!("read schema of {keyspace}.{table}"),
        message: e.to_string(),
    }
}
