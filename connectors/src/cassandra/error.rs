//! The Cassandra connector's errors outside the data path (connecting,
//! schema, configuration): the data path reports through DataFusion.

use std::path::PathBuf;

use super::delete::UnsupportedKey;
use super::identifier::InvalidIdentifier;

#[derive(Debug, thiserror::Error)]
pub enum CassandraError {
    #[error("cannot connect to Cassandra at {contact_points}: {message}")]
    Connect {
        contact_points: String,
        message: String,
    },
    #[error("table: {0}")]
    TableName(#[from] InvalidIdentifier),
    #[error("concurrency and batch_max_rows must be at least 1")]
    ZeroLimit,
    #[error("table {table} does not exist")]
    NoTable { table: String },
    #[error("table {table} does not exist and the sink names no `create_cql` file")]
    NoTableNoCreateCql { table: String },
    #[error("cannot read {}: {source}", file.display())]
    ReadCreateCql {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} ran, but table {keyspace}.{table} still does not exist: does the file create `{table}`?", file.display())]
    NotCreated {
        file: PathBuf,
        keyspace: String,
        table: String,
    },
    #[error("{0}")]
    UnsupportedColumn(#[from] UnsupportedColumn),
    #[error("deletes = true: {0}")]
    UnsupportedKey(#[from] UnsupportedKey),
    #[error("{what}: {message}")]
    Schema { what: String, message: String },
}

/// A table column of a type the sink cannot write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table}: column {column} has type `{cql_type}`, which the sink cannot write yet")]
pub struct UnsupportedColumn {
    pub table: String,
    pub column: String,
    pub cql_type: String,
}
