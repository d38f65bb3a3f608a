//! Names and literals from the configuration that are spliced into CQL:
//! parsed once, when the pipeline loads, into types that cannot hold
//! anything else.
//!
//! Keyspace and table names cannot be bind parameters in CQL, so they are
//! formatted into statements; these types are what keeps configuration from
//! injecting CQL. Whoever builds a [`super::CassandraSinkConfig`] (the
//! pipeline file, a test) goes through `TryFrom`, so code that formats a
//! [`CqlIdentifier`] into a statement needs no check of its own.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A keyspace or table name: a letter, then letters, digits or `_`, at most
/// 48 characters (Cassandra's own limit). Always unquoted in CQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CqlIdentifier(String);

/// A name that is not a [`CqlIdentifier`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid identifier (a letter, then letters, digits or _, at most 48)")]
pub struct InvalidIdentifier(pub String);

impl CqlIdentifier {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CqlIdentifier {
    type Error = InvalidIdentifier;

    fn try_from(name: String) -> Result<Self, InvalidIdentifier> {
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.len() <= 48;
        if ok {
            Ok(CqlIdentifier(name))
        } else {
            Err(InvalidIdentifier(name))
        }
    }
}

impl TryFrom<&str> for CqlIdentifier {
    type Error = InvalidIdentifier;

    fn try_from(name: &str) -> Result<Self, InvalidIdentifier> {
        CqlIdentifier::try_from(name.to_string())
    }
}

impl From<CqlIdentifier> for String {
    fn from(name: CqlIdentifier) -> String {
        name.0
    }
}

impl std::ops::Deref for CqlIdentifier {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CqlIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for CqlIdentifier {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CqlIdentifier {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The `replication` map of `CREATE KEYSPACE … WITH replication = <map>`:
/// a plain CQL map literal of quoted names and quoted or numeric values
/// (`{'class': 'SimpleStrategy', 'replication_factor': 1}`) and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Replication(String);

/// A `replication` that is not a plain map literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("replication {0:?} is not a valid CQL replication map of the form {{'class': 'SimpleStrategy', 'replication_factor': 1}}")]
pub struct InvalidReplication(pub String);

impl Replication {
    /// SimpleStrategy with one replica: a local single node.
    pub fn single_node() -> Self {
        Replication("{'class': 'SimpleStrategy', 'replication_factor': 1}".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Replication {
    fn default() -> Self {
        Replication::single_node()
    }
}

impl TryFrom<String> for Replication {
    type Error = InvalidReplication;

    fn try_from(map: String) -> Result<Self, InvalidReplication> {
        let simple_quoted = |s: &str| {
            s.len() >= 2
                && s.starts_with('\'')
                && s.ends_with('\'')
                && s[1..s.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        };
        let entry_ok = |entry: &str| {
            entry.split_once(':').is_some_and(|(k, v)| {
                let (k, v) = (k.trim(), v.trim());
                let number = !v.is_empty() && v.chars().all(|c| c.is_ascii_digit());
                simple_quoted(k) && (simple_quoted(v) || number)
            })
        };
        let ok = map
            .trim()
            .strip_prefix('{')
            .and_then(|m| m.strip_suffix('}'))
            .is_some_and(|inner| inner.split(',').all(entry_ok));
        if ok {
            Ok(Replication(map))
        } else {
            Err(InvalidReplication(map))
        }
    }
}

impl TryFrom<&str> for Replication {
    type Error = InvalidReplication;

    fn try_from(map: &str) -> Result<Self, InvalidReplication> {
        Replication::try_from(map.to_string())
    }
}

impl From<Replication> for String {
    fn from(map: Replication) -> String {
        map.0
    }
}

impl fmt::Display for Replication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_cannot_carry_cql() {
        assert_eq!(
            CqlIdentifier::try_from("spark_streams").unwrap(),
            "spark_streams"
        );
        for bad in [
            "",
            "1abc",
            "a-b",
            "x; DROP KEYSPACE y",
            "a\"b",
            "é",
            &"a".repeat(49),
        ] {
            assert!(CqlIdentifier::try_from(bad).is_err(), "{bad}");
        }
        assert_eq!(
            CqlIdentifier::try_from("a b").unwrap_err().to_string(),
            "\"a b\" is not a valid identifier (a letter, then letters, digits or _, at most 48)"
        );
    }

    #[test]
    fn identifiers_are_checked_when_deserialized() {
        #[derive(Debug, Deserialize)]
        struct T {
            #[allow(dead_code)]
            keyspace: CqlIdentifier,
        }
        let err = toml::from_str::<T>("keyspace = \"ks; DROP\"").unwrap_err();
        assert!(err.message().contains("not a valid identifier"), "{err}");
        assert!(toml::from_str::<T>("keyspace = \"ks_1\"").is_ok());
    }

    #[test]
    fn replication_is_a_map_literal_only() {
        assert!(Replication::try_from(Replication::single_node().as_str()).is_ok());
        assert!(Replication::try_from(
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
            assert!(Replication::try_from(bad).is_err(), "{bad}");
        }
    }
}
