//! Creating the keyspace and the table when they are missing: the only DDL
//! the sink runs.

use std::path::Path;

use scylla::client::session::Session;

use super::config::CassandraSinkConfig;
use super::error::CassandraError;
use super::identifier::CqlIdentifier;

/// Creates the keyspace if missing, then runs the table's CQL file if the
/// table is missing.
pub(crate) async fn ensure_table(
    session: &Session,
    config: &CassandraSinkConfig,
    table: &CqlIdentifier,
) -> Result<(), CassandraError> {
    // Both names and the replication map are spliced into CQL: their types
    // hold only identifiers and a plain map literal.
    let ks = &config.keyspace;
    let create_ks = format!(
        "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {}",
        config.replication
    );
    run(session, &create_ks, &format!("create keyspace {ks}")).await?;
    if super::schema::table_exists(session, ks, table).await? {
        return Ok(());
    }
    let Some(file) = &config.create_cql else {
        return Err(CassandraError::NoTableNoCreateCql {
            table: format!("{ks}.{table}"),
        });
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
        return Err(CassandraError::NotCreated {
            file: file.clone(),
            keyspace: ks.to_string(),
            table: table.to_string(),
        });
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
    let text = std::fs::read_to_string(file).map_err(|source| CassandraError::ReadCreateCql {
        file: file.to_path_buf(),
        source,
    })?;
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
