//! `[sinks.<name>]` with `type = "cassandra"`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

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
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
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

    /// Consistency of the authentication and TLS settings.
    pub fn validate_security(&self) -> Result<(), String> {
        match (&self.username, &self.password) {
            (Some(u), Some(_)) if !u.is_empty() => {}
            (None, None) => {}
            (Some(_), None) => {
                return Err(
                    "username is set but no password (password, password_file or EMBER_SINKS__<SINK>__PASSWORD)"
                        .into(),
                )
            }
            _ => return Err("a password needs a username".into()),
        }
        if let Some(tls) = self.tls_enabled() {
            for (key, file) in [
                ("tls.ca_file", &tls.ca_file),
                ("tls.cert_file", &tls.cert_file),
                ("tls.key_file", &tls.key_file),
            ] {
                if let Some(file) = file {
                    if !file.is_file() {
                        return Err(format!("{key}: {} does not exist", file.display()));
                    }
                }
            }
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                return Err("tls.cert_file and tls.key_file go together".into());
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

/// The `replication` map is spliced into `CREATE KEYSPACE … WITH
/// replication = <map>`, so it must be a plain CQL map literal of quoted
/// names and quoted or numeric values (`{'class': 'SimpleStrategy',
/// 'replication_factor': 1}`) and nothing else.
pub fn validate_replication(map: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "replication {map:?} is not a valid CQL replication map of the form {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        )
    };
    let inner = map
        .trim()
        .strip_prefix('{')
        .and_then(|m| m.strip_suffix('}'))
        .ok_or_else(bad)?;
    let simple_quoted = |s: &str| {
        s.len() >= 2
            && s.starts_with('\'')
            && s.ends_with('\'')
            && s[1..s.len() - 1]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    for entry in inner.split(',') {
        let (k, v) = entry.split_once(':').ok_or_else(bad)?;
        let (k, v) = (k.trim(), v.trim());
        let number = !v.is_empty() && v.chars().all(|c| c.is_ascii_digit());
        if !simple_quoted(k) || !(simple_quoted(v) || number) {
            return Err(bad());
        }
    }
    Ok(())
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
    fn replication_is_a_map_literal_only() {
        assert!(validate_replication(&default_replication()).is_ok());
        assert!(validate_replication(
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc-2': '2'}"
        )
        .is_ok());
        for bad in [
            "",
            "{}x",
            "{'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = false",
            "{'class': 'SimpleStrategy'}; DROP KEYSPACE x",
            "{'class': 'Simple'Strategy', 'replication_factor': 1}",
            "{'class': SimpleStrategy}",
            "{'a': 1 -- }",
        ] {
            assert!(validate_replication(bad).is_err(), "{bad}");
        }
    }

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
        assert!(c.validate_security().unwrap_err().contains("tls.ca_file"));
        let shown = format!("{} {c:?}", c.describe_security());
        assert!(!shown.contains("cass-pw-unit"), "{shown}");
        assert!(shown.contains("user ember password set"), "{shown}");
    }

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
