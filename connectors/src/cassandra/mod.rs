//! Cassandra: a sink that is a DataFusion table. `INSERT INTO <table>`
//! plans a `DataSinkExec` over [`CassandraSink`], which upserts every row
//! with a prepared statement and returns once Cassandra acknowledged all
//! of them. With `deletes = true` it is also an engine `DeleteSink`: Kafka
//! tombstones delete the rows their keys name.

mod activity;
mod config;
mod create_table;
mod ddl;
mod delete;
mod encode;
mod error;
mod fault;
mod identifier;
mod offline;
mod row;
mod schema;
mod session;
mod sink;
mod table;
mod writer;

pub use activity::{ActivitySnapshot, SinkActivity};
pub use config::{CassandraSecurityError, CassandraSinkConfig, CassandraTls, SinkKind};
pub use create_table::{parse_create_table, read_create_table, CqlParseError, SinkColumns};
pub use delete::UnsupportedKey;
pub use encode::{RowEncoder, UnsupportedType};
pub use error::{CassandraError, UnsupportedColumn};
pub use identifier::{CqlIdentifier, InvalidIdentifier, InvalidReplication, Replication};
pub use offline::OfflineTable;
pub use schema::live_columns;
pub use session::connect;
pub use table::CassandraTable;
