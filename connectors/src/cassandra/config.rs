//! `[sinks.<name>]` with `type = "cassandra"`.

use std::path::PathBuf;

use ember_engine::HumanDuration;
use serde::{Deserialize, Deserializer, Serialize};

use super::identifier::{CqlIdentifier, InvalidIdentifier, Replication};
use crate::secret::Secret;

/// A Cassandra table written with idempotent upserts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassandraSinkConfig {
    /// The sink's kind: `"cassandra"`, the only one today (required).
    #[serde(rename = "type")]
    pub kind: SinkKind,
    /// Contact points, `host:port`: a list, or one comma-separated string
    /// (as an environment override gives).
    #[serde(default = "default_contact_points", deserialize_with = "list_or_csv")]
    pub contact_points: Vec<String>,
    /// Keyspace; created with `replication` if missing.
    /// A letter, then letters, digits or `_`, at most 48 characters.
    #[serde(default = "default_keyspace")]
    pub keyspace: CqlIdentifier,
    /// Table name in Cassandra, an identifier like `keyspace`. Default: the
    /// sink's name in the pipeline (see [`CassandraSinkConfig::table_name`]).
    #[serde(default)]
    pub table: Option<CqlIdentifier>,
    /// CQL file run (in the keyspace) when the table does not exist yet.
    #[serde(default)]
    pub create_cql: Option<PathBuf>,
    /// Replication map used when the keyspace is created: a plain CQL map
    /// literal. Default: `{'class': 'SimpleStrategy', 'replication_factor': 1}`.
    #[serde(default)]
    pub replication: Replication,
    /// Write requests in flight at once. Past ~128 single-row requests the
    /// rate drops (measured: README, "Performance").
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
    /// A duration (`"120s"`, `"2m"`); default 120 s.
    #[serde(default = "default_retry_for")]
    pub retry_for: HumanDuration,
    /// Apply Kafka tombstones (a key, no value) as deletes of the row the
    /// key names: a JSON object holding the primary-key columns, or, for a
    /// one-column primary key, the key's text. Deleted at the batch's write
    /// time, like upserts. Off: tombstones are dead-lettered (`tombstone`).
    #[serde(default)]
    pub deletes: bool,
    /// Leave a column unset when its value is null or missing, so it keeps
    /// what it holds, instead of writing a null (a cell tombstone).
    #[serde(default)]
    pub ignore_nulls: bool,
    /// Role for `PasswordAuthenticator`; unset means no authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Never printed; prefer `password_file` or
    /// `EMBER_SINKS__<SINK>__PASSWORD` to the pipeline file.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file holding the password (trailing newline ignored), read when
    /// the pipeline loads.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `[sinks.<name>.tls]`: TLS to the native transport port
    /// (Cassandra's `client_encryption_options`). Absent: plain TCP.
    #[serde(default)]
    pub tls: Option<CassandraTls>,
}

/// TLS settings of a Cassandra sink.
///
/// ```toml
/// [sinks.created_users.tls]
/// ca_file = "/etc/ember/cassandra-ca.pem"   # PEM; default: the system's trust store
/// # cert_file = "client.pem"                # with key_file: a client certificate
/// # key_file = "client.key"                 # (require_client_auth: true)
/// # verify_hostname = true                  # the certificate must name the contact point
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassandraTls {
    /// Set to false to switch TLS off from the environment
    /// (`EMBER_SINKS__<SINK>__TLS__ENABLED=false`).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The CA certificates (PEM) the node's certificate must chain to.
    /// Default: the system's trust store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM), for nodes with `require_client_auth`;
    /// goes with `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Check that the node's certificate names its address. The chain is
    /// verified regardless.
    #[serde(default = "default_true")]
    pub verify_hostname: bool,
}

fn default_true() -> bool {
    true
}

impl CassandraSinkConfig {
    /// The TLS settings when TLS is on.
    pub fn tls_enabled(&self) -> Option<&CassandraTls> {
        self.tls.as_ref().filter(|t| t.enabled)
    }

    /// The Cassandra table: `table`, or the sink's name in the pipeline,
    /// which must then be an identifier itself.
    pub fn table_name(&self, sink_name: &str) -> Result<CqlIdentifier, InvalidIdentifier> {
        match &self.table {
            Some(table) => Ok(table.clone()),
            None => CqlIdentifier::try_from(sink_name),
        }
    }

    /// Consistency of the authentication and TLS settings.
    pub fn validate_security(&self) -> Result<(), CassandraSecurityError> {
        match (&self.username, &self.password) {
            (Some(u), Some(_)) if !u.is_empty() => {}
            (None, None) => {}
            (Some(_), None) => return Err(CassandraSecurityError::NoPassword),
            _ => return Err(CassandraSecurityError::NoUsername),
        }
        if let Some(tls) = self.tls_enabled() {
            for (key, file) in [
                ("tls.ca_file", &tls.ca_file),
                ("tls.cert_file", &tls.cert_file),
                ("tls.key_file", &tls.key_file),
            ] {
                if let Some(file) = file {
                    if !file.is_file() {
                        return Err(CassandraSecurityError::MissingFile {
                            key,
                            file: file.clone(),
                        });
                    }
                }
            }
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                return Err(CassandraSecurityError::CertWithoutKey);
            }
        }
        Ok(())
    }

    /// Authentication and TLS in one line, never the password.
    pub fn describe_security(&self) -> String {
        let auth = match &self.username {
            Some(u) => format!(
                "user {u} password {}",
                if self.password.is_some() {
                    "set (***)"
                } else {
                    "missing"
                }
            ),
            None => "no authentication".into(),
        };
        let tls = match self.tls_enabled() {
            None => "no TLS".to_string(),
            Some(t) => {
                let mut s = match &t.ca_file {
                    Some(ca) => format!("TLS, CA {}", ca.display()),
                    None => "TLS, CA: system trust store".into(),
                };
                if let Some(cert) = &t.cert_file {
                    s.push_str(&format!(", client cert {}", cert.display()));
                }
                if !t.verify_hostname {
                    s.push_str(", hostname not verified");
                }
                s
            }
        };
        format!("{auth}, {tls}")
    }
}

/// Authentication or TLS settings of a sink that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CassandraSecurityError {
    #[error("username is set but no password (password, password_file or EMBER_SINKS__<SINK>__PASSWORD)")]
    NoPassword,
    #[error("a password needs a username")]
    NoUsername,
    #[error("{key}: {} does not exist", file.display())]
    MissingFile { key: &'static str, file: PathBuf },
    #[error("tls.cert_file and tls.key_file go together")]
    CertWithoutKey,
}

/// `type` of a sink. A field of its own rather than `#[serde(tag = "type")]`
/// on an enum of sink configs: serde buffers an internally tagged table
/// before it picks the variant, and the buffered values lose the spans that
/// put the line into every other error of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Cassandra,
}

impl<'de> Deserialize<'de> for SinkKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let kind = String::deserialize(d)?;
        match kind.as_str() {
            "cassandra" => Ok(SinkKind::Cassandra),
            _ => Err(serde::de::Error::custom(format!(
                "{kind:?} is not supported (only \"cassandra\")"
            ))),
        }
    }
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
fn default_keyspace() -> CqlIdentifier {
    CqlIdentifier::try_from("spark_streams").expect("an identifier")
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
fn default_retry_for() -> HumanDuration {
    HumanDuration::from_secs(120)
}

/// A column name as a quoted CQL identifier (`"name"`, inner quotes
/// doubled): column names come from `system_schema`, and a table created
/// with quoted identifiers may have any characters in them.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_quoted() {
        assert_eq!(quote_identifier("first_name"), "\"first_name\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn security_settings_are_consistent_and_never_shown() {
        let mut c: CassandraSinkConfig = toml::from_str("type = \"cassandra\"").unwrap();
        assert!(c.validate_security().is_ok());
        assert_eq!(c.describe_security(), "no authentication, no TLS");
        c.username = Some("ember".into());
        assert!(c.validate_security().is_err());
        c.password = Some(Secret::new("cass-pw-unit"));
        assert!(c.validate_security().is_ok());
        c.tls = Some(CassandraTls {
            enabled: true,
            ca_file: Some("/nonexistent/ca.pem".into()),
            cert_file: None,
            key_file: None,
            verify_hostname: true,
        });
        assert!(c
            .validate_security()
            .unwrap_err()
            .to_string()
            .contains("tls.ca_file"));
        let shown = format!("{} {c:?}", c.describe_security());
        assert!(!shown.contains("cass-pw-unit"), "{shown}");
        assert!(shown.contains("user ember password set"), "{shown}");
    }
}
