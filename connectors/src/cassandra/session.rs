//! Connecting, and creating the keyspace and table when missing.

use std::path::Path;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

use super::config::{validate_identifier, CassandraSinkConfig};

#[derive(Debug, thiserror::Error)]
pub enum CassandraError {
    #[error("cannot connect to Cassandra at {contact_points}: {message}")]
    Connect {
        contact_points: String,
        message: String,
    },
    #[error("{0}")]
    Config(String),
    #[error("{what}: {message}")]
    Schema { what: String, message: String },
}

/// Opens a session to the configured contact points.
pub async fn connect(config: &CassandraSinkConfig) -> Result<Session, CassandraError> {
    SessionBuilder::new()
        .known_nodes(&config.contact_points)
        .connection_timeout(Duration::from_secs(10))
        .build()
        .await
        .map_err(|e| CassandraError::Connect {
            contact_points: config.contact_points.join(","),
            message: e.to_string(),
        })
}

/// Creates the keyspace if missing, then runs the table's CQL file if the
/// table is missing.
pub(crate) async fn ensure_table(
    session: &Session,
    config: &CassandraSinkConfig,
    table: &str,
) -> Result<(), CassandraError> {
    let ks = &config.keyspace;
    validate_identifier("keyspace", ks).map_err(CassandraError::Config)?;
    validate_identifier("table", table).map_err(CassandraError::Config)?;
    let create_ks = format!(
        "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {}",
        config.replication
    );
    run(session, &create_ks, &format!("create keyspace {ks}")).await?;
    if super::schema::table_exists(session, ks, table).await? {
        return Ok(());
    }
    let Some(file) = &config.create_cql else {
        return Err(CassandraError::Config(format!(
            "table {ks}.{table} does not exist and the sink names no `create_cql` file"
        )));
    };
    session
        .use_keyspace(ks.as_str(), false)
        .await
        .map_err(|e| CassandraError::Schema {
            what: format!("use keyspace {ks}"),
            message: e.to_string(),
        })?;
    for (line, statement) in statements(file)? {
        run(session, &statement, &format!("{}:{line}", file.display())).await?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| CassandraError::Schema {
            what: "schema agreement".into(),
            message: e.to_string(),
        })?;
    if !super::schema::table_exists(session, ks, table).await? {
        return Err(CassandraError::Config(format!(
            "{} ran, but table {ks}.{table} still does not exist: does the file create `{table}`?",
            file.display()
        )));
    }
    Ok(())
}

async fn run(session: &Session, cql: &str, what: &str) -> Result<(), CassandraError> {
    session
        .query_unpaged(cql, ())
        .await
        .map(|_| ())
        .map_err(|e| CassandraError::Schema {
            what: what.into(),
            message: e.to_string(),
        })
}

/// The `;`-separated statements of a CQL file with the line each starts
/// on; `--` and `//` comment lines are dropped.
fn statements(file: &Path) -> Result<Vec<(usize, String)>, CassandraError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CassandraError::Config(format!("cannot read {}: {e}", file.display())))?;
    let mut out = Vec::new();
    let (mut current, mut start) = (String::new(), 0);
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("--") || t.starts_with("//") {
            continue;
        }
        if current.is_empty() {
            start = i + 1;
        }
        current.push_str(line);
        current.push('\n');
        if t.ends_with(';') {
            out.push((start, current.trim().trim_end_matches(';').to_string()));
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push((start, current.trim().to_string()));
    }
    Ok(out)
}
