//! Cassandra: a sink that is a DataFusion table. `INSERT INTO <table>`
//! plans a `DataSinkExec` over [`CassandraSink`], which upserts every row
//! with a prepared statement and returns once Cassandra acknowledged all
//! of them.

mod config;
mod encode;
mod row;
mod schema;
mod session;
mod sink;
mod table;
mod writer;

pub use config::{validate_identifier, validate_replication, CassandraSinkConfig, CassandraTls};
pub use encode::{RowEncoder, UnsupportedType};
pub use session::{connect, CassandraError};
pub use table::CassandraTable;
