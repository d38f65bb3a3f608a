//! `ember cql`: run one CQL statement and return the result as text, so the
//! demo and users can look at what landed without installing cqlsh.

use anyhow::{Context, Result};
use ember_connectors::cassandra::{connect, CassandraSinkConfig, CqlIdentifier};
use futures::stream::{self, StreamExt, TryStreamExt};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::value::Row;
use uuid::Uuid;

/// Column names and rows (each value rendered as text, `null` for nulls).
pub type TextResult = (Vec<String>, Vec<Vec<String>>);

/// Runs `cql` against `contact_point`; statements without rows return empty.
pub async fn run_cql(contact_point: &str, cql: &str) -> Result<TextResult> {
    let session = SessionBuilder::new()
        .known_node(contact_point)
        .build()
        .await
        .with_context(|| format!("cannot connect to Cassandra at {contact_point}"))?;
    query(&session, cql).await
}

/// Runs `cql` with a sink's connection settings (contact points,
/// credentials, TLS).
pub async fn run_cql_with(sink: &CassandraSinkConfig, cql: &str) -> Result<TextResult> {
    let session = connect(sink).await?;
    query(&session, cql).await
}

async fn query(session: &Session, cql: &str) -> Result<TextResult> {
    let result = session
        .query_unpaged(cql, ())
        .await
        .with_context(|| format!("CQL failed: {cql}"))?;
    if !result.is_rows() {
        return Ok((Vec::new(), Vec::new()));
    }
    let rows = result.into_rows_result()?;
    let names: Vec<String> = rows
        .column_specs()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let mut out = Vec::new();
    for row in rows.rows::<Row>()? {
        let row = row?;
        out.push(
            row.columns
                .iter()
                .map(|v| match v {
                    Some(value) => text_of(value),
                    None => "null".into(),
                })
                .collect(),
        );
    }
    Ok((names, out))
}

/// Text as text (no quotes), everything else as CQL renders it.
fn text_of(value: &scylla::value::CqlValue) -> String {
    use scylla::value::CqlValue;
    match value {
        CqlValue::Text(s) | CqlValue::Ascii(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Which of `ids` are rows of `table` in the sink's keyspace: looked up by
/// partition key (`id IN ?`, 100 at a time, 8 requests in flight), so it
/// counts one run's rows whatever else the table holds, without a full scan.
pub async fn present_ids(
    sink: &CassandraSinkConfig,
    table: &CqlIdentifier,
    ids: &[Uuid],
) -> Result<Vec<Uuid>> {
    // Keyspace and table are identifiers by type: safe to splice.
    let session = connect(sink).await?;
    let cql = format!("SELECT id FROM {}.{table} WHERE id IN ?", sink.keyspace);
    let select = session
        .prepare(cql.as_str())
        .await
        .with_context(|| format!("cannot prepare {cql}"))?;
    let (session, select, cql) = (&session, &select, &cql);
    let found: Vec<Vec<Uuid>> = stream::iter(ids.chunks(100))
        .map(|chunk| async move {
            let rows = session
                .execute_unpaged(select, (chunk.to_vec(),))
                .await
                .with_context(|| format!("CQL failed: {cql}"))?
                .into_rows_result()?;
            rows.rows::<(Uuid,)>()?
                .map(|r| Ok(r?.0))
                .collect::<Result<Vec<Uuid>>>()
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}
