//! `[sinks.<name>]` with `type = "cassandra"`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A Cassandra table written with idempotent upserts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassandraSinkConfig {
    /// Always `"cassandra"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Contact points, `host:port`: a list, or one comma-separated string
    /// (as an environment override gives).
    #[serde(default = "default_contact_points", deserialize_with = "list_or_csv")]
    pub contact_points: Vec<String>,
    /// Keyspace; created with `replication` if missing.
    #[serde(default = "default_keyspace")]
    pub keyspace: String,
    /// Table name in Cassandra. Default: the sink's name in the pipeline.
    #[serde(default)]
    pub table: Option<String>,
    /// CQL file run (in the keyspace) when the table does not exist yet.
    #[serde(default)]
    pub create_cql: Option<PathBuf>,
    /// Replication map used when the keyspace is created.
    #[serde(default = "default_replication")]
    pub replication: String,
    /// Write requests in flight at once. Past ~128 single-row requests the
    /// rate drops (see notes/cassandra-writes.md).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Rows per unlogged batch request; 1 disables batching.
    #[serde(default = "default_batch_max_rows")]
    pub batch_max_rows: usize,
    /// Bytes per unlogged batch, estimated from the Arrow values; keep it
    /// below Cassandra's `batch_size_fail_threshold` (50 KiB by default).
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// How long a failing write is retried (with backoff) before the batch
    /// fails and the pipeline stops without committing.
    #[serde(default = "default_retry_for")]
    pub retry_for: String,
}

fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(v) => v,
        ListOrCsv::Csv(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
    })
}

fn default_contact_points() -> Vec<String> {
    vec!["127.0.0.1:9042".into()]
}
fn default_keyspace() -> String {
    "spark_streams".into()
}
fn default_replication() -> String {
    "{'class': 'SimpleStrategy', 'replication_factor': 1}".into()
}
fn default_concurrency() -> usize {
    32
}
fn default_batch_max_rows() -> usize {
    100
}
fn default_batch_max_bytes() -> usize {
    32 * 1024
}
fn default_retry_for() -> String {
    "120s".into()
}

/// Keyspace and table names are spliced into CQL, so they must be plain
/// identifiers: a letter, then letters, digits or `_`, at most 48 chars
/// (Cassandra's own limit). This is what keeps configuration from
/// injecting CQL.
pub fn validate_identifier(what: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 48;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?} is not a valid identifier (a letter, then letters, digits or _, at most 48)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_cannot_carry_cql() {
        assert!(validate_identifier("keyspace", "spark_streams").is_ok());
        for bad in [
            "",
            "1abc",
            "a-b",
            "x; DROP KEYSPACE y",
            "a\"b",
            "é",
            &"a".repeat(49),
        ] {
            assert!(validate_identifier("keyspace", bad).is_err(), "{bad}");
        }
    }
}
