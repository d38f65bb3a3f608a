//! The README's "Pipeline configuration" section is the pipeline reference;
//! this test keeps it, the config structs and their `///` docs from drifting
//! apart (as Vector generates its reference from its config components).
//!
//! How, and why this way:
//! - The keys come from serde itself, not from a list kept by hand: a tiny
//!   [`Deserializer`] asks each config struct's derived `Deserialize` for
//!   the field names it accepts (`deserialize_struct` receives them, with
//!   `rename`s applied, e.g. `type`). A new field cannot be missed.
//! - Each key must appear in the README's ```toml blocks of that section,
//!   as `key = …` (commented out or not) at the start of a line, or as a
//!   `[section.key]` header; and every `key =` the README shows must be a
//!   key of its section, so a renamed or removed key fails too. Only the
//!   start of a line counts, so prose in comments never matches by chance.
//! - Every `pub` field of those structs must carry `///` docs (the text a
//!   reader of the code sees), checked on the source files; the number of
//!   fields found there must equal serde's, so the check cannot silently
//!   read nothing.
//!
//! Values and wording are not compared: they are the README's to explain.

use std::collections::{BTreeMap, BTreeSet};

use ember_connectors::cassandra::{CassandraSinkConfig, CassandraTls};
use ember_connectors::kafka::{DeadLetterConfig, KafkaSecurity, KafkaSourceConfig};
use ember_decode::FieldSpec;
use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::PipelineConfig;

/// The error that carries a struct's field names out of `deserialize_struct`.
#[derive(Debug)]
struct Fields(&'static [&'static str]);

impl std::fmt::Display for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for Fields {}

impl de::Error for Fields {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Fields(&[])
    }
}

struct FieldLister;

impl<'de> Deserializer<'de> for FieldLister {
    type Error = Fields;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
        Err(Fields(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Fields> {
        Err(Fields(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The keys serde accepts for `T`.
fn keys<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
    match T::deserialize(FieldLister) {
        Err(Fields(fields)) => fields.to_vec(),
        Ok(_) => unreachable!("FieldLister never yields a value"),
    }
}

/// Every section of a pipeline file: its name in the README (`sinks.*` for
/// `[sinks.<name>]`, `source.schema[]` for an entry of `schema = [...]`),
/// its keys, and the struct and file whose `///` docs describe it.
fn sections() -> Vec<(&'static str, Vec<&'static str>, &'static str, &'static str)> {
    vec![
        (
            "",
            keys::<PipelineConfig>(),
            "PipelineConfig",
            include_str!("../config.rs"),
        ),
        (
            "source",
            keys::<KafkaSourceConfig>(),
            "KafkaSourceConfig",
            include_str!("../../connectors/src/kafka/config.rs"),
        ),
        (
            "source.security",
            keys::<KafkaSecurity>(),
            "KafkaSecurity",
            include_str!("../../connectors/src/kafka/security.rs"),
        ),
        (
            "source.schema[]",
            keys::<FieldSpec>(),
            "FieldSpec",
            include_str!("../../decode/src/schema.rs"),
        ),
        (
            "dead_letter",
            keys::<DeadLetterConfig>(),
            "DeadLetterConfig",
            include_str!("../../connectors/src/kafka/config.rs"),
        ),
        (
            "sinks.*",
            keys::<CassandraSinkConfig>(),
            "CassandraSinkConfig",
            include_str!("../../connectors/src/cassandra/config.rs"),
        ),
        (
            "sinks.*.tls",
            keys::<CassandraTls>(),
            "CassandraTls",
            include_str!("../../connectors/src/cassandra/config.rs"),
        ),
    ]
}

/// `(section, key)` for every `key = …` and `[section]` line of the
/// README's pipeline reference, commented out or not.
fn readme_keys() -> BTreeSet<(String, String)> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("\n## Pipeline configuration")
        .expect("the README has a Pipeline configuration section");
    let rest = &readme[start + 1..];
    let section_text = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3)];
    let is_key = |k: &str| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    let mut found = BTreeSet::new();
    let mut in_toml = false;
    let mut section = String::new();
    for line in section_text.lines() {
        if line.starts_with("```") {
            in_toml = line == "```toml";
            section.clear();
            continue;
        }
        if !in_toml {
            continue;
        }
        let line = line.trim_start().trim_start_matches('#').trim_start();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            let parts: Vec<&str> = header.split('.').collect();
            let parts: Vec<&str> = match parts.as_slice() {
                ["sinks", _, rest @ ..] => ["sinks", "*"]
                    .into_iter()
                    .chain(rest.iter().copied())
                    .collect(),
                _ => parts,
            };
            let (last, parents) = parts.split_last().expect("a header names a section");
            // `[sinks.<name>]` names the `sinks` key; `[a.b]` the key `b` of `[a]`.
            if *last != "*" {
                found.insert((parents.join("."), last.to_string()));
            }
            found.insert((String::new(), parts[0].to_string()));
            section = parts.join(".");
            continue;
        }
        let Some((key, _)) = line.split_once(" =") else {
            continue;
        };
        if !is_key(key) {
            continue;
        }
        found.insert((section.clone(), key.to_string()));
    }
    // Inline tables: the entries of `schema = [ { name = …, … } ]`.
    for line in section_text.lines() {
        let line = line.trim_start();
        if let Some(inner) = line.strip_prefix('{').and_then(|l| l.split('}').next()) {
            for entry in inner.split(',') {
                if let Some((key, _)) = entry.split_once('=') {
                    found.insert(("source.schema[]".into(), key.trim().to_string()));
                }
            }
        }
    }
    found
}

#[test]
fn the_readme_documents_every_key_and_only_real_keys() {
    let readme = readme_keys();
    let mut expected: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut missing = Vec::new();
    for (section, keys, _, _) in sections() {
        assert!(!keys.is_empty(), "serde gave no keys for [{section}]");
        for key in &keys {
            if !readme.contains(&(section.to_string(), key.to_string())) {
                missing.push(format!("[{section}] {key}"));
            }
        }
        expected.insert(section.to_string(), keys.into_iter().collect());
    }
    assert!(
        missing.is_empty(),
        "keys missing from the README's pipeline reference (add `key = …`, commented out if \
         optional, under its section): {missing:?}"
    );
    let unknown: Vec<String> = readme
        .iter()
        .filter(|(section, key)| {
            !expected
                .get(section)
                .is_some_and(|keys| keys.contains(key.as_str()))
        })
        .map(|(section, key)| format!("[{section}] {key}"))
        .collect();
    assert!(
        unknown.is_empty(),
        "the README shows keys that do not exist: {unknown:?}"
    );
}

#[test]
fn every_config_field_has_docs() {
    let mut undocumented = Vec::new();
    for (section, keys, name, source) in sections() {
        let start = source
            .find(&format!("pub struct {name} {{"))
            .unwrap_or_else(|| panic!("pub struct {name} not found"));
        let body = &source[start..];
        let body = &body[..body.find("\n}").expect("the struct ends")];
        let lines: Vec<&str> = body.lines().map(str::trim).collect();
        let mut fields = 0;
        for (i, line) in lines.iter().enumerate() {
            let Some(field) = line.strip_prefix("pub ").and_then(|l| l.split(':').next()) else {
                continue;
            };
            if line.starts_with("pub struct") {
                continue;
            }
            fields += 1;
            let documented = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.starts_with("#["))
                .is_some_and(|l| l.starts_with("///"));
            if !documented {
                undocumented.push(format!("{name}::{field} ([{section}])"));
            }
        }
        assert_eq!(
            fields,
            keys.len(),
            "{name}: fields in the source vs serde's keys {keys:?}"
        );
    }
    assert!(
        undocumented.is_empty(),
        "fields without /// docs: {undocumented:?}"
    );
}
