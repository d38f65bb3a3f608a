//! A pipeline file (`pipelines/*.toml`) and its `EMBER_…` overrides.
//!
//! Every key can be overridden by an environment variable: `EMBER_` plus the
//! key path in upper case with `__` between levels (`EMBER_SOURCE__TOPIC`,
//! `EMBER_SINKS__CREATED_USERS__KEYSPACE`), as containers and Airflow need.
//! Relative paths in the file (`sql`, `create_cql`) are relative to the
//! file itself, so a pipeline runs the same from any working directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ember_connectors::cassandra::CassandraSinkConfig;
use ember_connectors::kafka::{DeadLetterConfig, KafkaSourceConfig, TopicName};
use ember_connectors::secret::{self, Secret};
use ember_engine::{MaxWriteTimeSkew, PipelineSpec, Trigger};
use serde::Deserialize;

/// Environment variables that start with `EMBER_` but are not config keys.
pub const RESERVED_ENV: &[&str] = &[
    "EMBER_LOG",
    "EMBER_LOG_FORMAT",
    "EMBER_BIN",
    "EMBER_PIPELINE",
    "EMBER_STACK_DIR",
    "EMBER_STACK_CACHE",
    "EMBER_STACK_TIMEOUT",
];

/// One pipeline: a source, SQL transforms, sinks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Names the pipeline in logs, in the default consumer group
    /// (`ember-<name>`) and in dead-letter headers.
    pub name: String,
    /// `"500ms"` (processing time: a batch at least this often) or
    /// `"available-now"` (everything up to the end offsets at start, then exit).
    #[serde(default)]
    pub trigger: Trigger,
    /// SQL files, each one `INSERT INTO <sink> SELECT … FROM <source.table>`.
    pub sql: Vec<PathBuf>,
    /// Where the checkpoint lives: a URL (`file:///…`, `s3://bucket/prefix`,
    /// `gs://…`, `az://…`) or a local path. Default:
    /// `.ember/checkpoints/<consumer group>` under the working directory.
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// How far ahead of this machine's clock a batch's planned write time
    /// may be (`"10m"` by default; `"30s"`, `"2h"`, `"400d"`). Write times
    /// only grow, so one batch planned while a clock was ahead would pin
    /// every later one there; past this the job stops and names the
    /// partitions (README, "Write times and clock jumps").
    #[serde(default)]
    pub max_write_time_skew: MaxWriteTimeSkew,
    /// Stop once this many records in a row failed a transform or were
    /// rejected by a sink (default 100; 0: never). Within a batch, "every
    /// row fails" already stops the job; this catches a broken transform
    /// or sink when batches hold one record (a short trigger at a low
    /// rate), which would otherwise dead-letter every record one by one.
    #[serde(default = "default_max_consecutive_failures")]
    pub max_consecutive_failures: usize,
    /// Serve `/metrics`, `/progress`, `/health/live`, `/health/ready` and
    /// the dashboard at `/` on this address (`"127.0.0.1:9400"`; port 0
    /// picks a free one, printed at start). Off when absent; `ember run
    /// --metrics ADDR` overrides it.
    #[serde(default)]
    pub metrics_address: Option<std::net::SocketAddr>,
    /// Where records that cannot be processed go.
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
    /// The Kafka topic and how its records decode.
    pub source: KafkaSourceConfig,
    /// Sink tables by the name the SQL uses.
    pub sinks: BTreeMap<String, CassandraSinkConfig>,
}

/// An `EMBER_…` variable that changed the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub var: String,
    pub path: Vec<String>,
    /// The value, or `***` for secrets.
    pub shown: String,
}

/// A loaded pipeline file.
#[derive(Debug, Clone)]
pub struct LoadedPipeline {
    pub file: PathBuf,
    pub config: PipelineConfig,
    pub overrides: Vec<Override>,
}

impl LoadedPipeline {
    /// Reads `file`, applies `EMBER_…` variables from `env`, validates.
    pub fn load(file: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read pipeline file {}", file.display()))?;
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| toml_error(file, &text, None, &e))?;
        // Parse the file alone first, so its own mistakes are reported with
        // their line.
        let mut config: PipelineConfig =
            toml::from_str(&text).map_err(|e| toml_error(file, &text, Some(&table), &e))?;
        let overrides = apply_env(&mut table, env)?;
        if !overrides.is_empty() {
            let vars: Vec<&str> = overrides.iter().map(|o| o.var.as_str()).collect();
            config = PipelineConfig::deserialize(table.clone()).map_err(|e| {
                anyhow::anyhow!(
                    "{}: after applying {}: {}{}",
                    file.display(),
                    vars.join(", "),
                    key_prefix(&table, &e),
                    suggest::with_suggestion(e.message())
                )
            })?;
        }
        let base = file.parent().unwrap_or(Path::new("."));
        for sql in &mut config.sql {
            *sql = base.join(&*sql);
        }
        for sink in config.sinks.values_mut() {
            if let Some(cql) = &mut sink.create_cql {
                *cql = base.join(&*cql);
            }
        }
        resolve_secrets(file, base, &mut config)?;
        resolve_default_names(file, &mut config)?;
        let loaded = LoadedPipeline {
            file: file.to_path_buf(),
            config,
            overrides,
        };
        loaded.validate()?;
        Ok(loaded)
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        let at =
            |what: &str, msg: String| anyhow::anyhow!("{}: {what}: {msg}", self.file.display());
        if c.source.max_records == 0 {
            bail!(at("[source] max_records", "must be at least 1".into()));
        }
        if c.source.max_bytes.0 == 0 {
            bail!(at(
                "[source] max_bytes",
                "must be at least 1 byte (e.g. \"64MiB\")".into()
            ));
        }
        // Names, durations, `type` and `format` were parsed into their
        // types when the file was read; what is left are relations between
        // keys and facts outside the file.
        c.source
            .security
            .validate()
            .map_err(|e| at("[source.security]", e.to_string()))?;
        if c.dead_letter.replication_factor.is_some_and(|r| r < 1) {
            bail!(at(
                "[dead_letter] replication_factor",
                "must be at least 1".into()
            ));
        }
        c.source
            .schema
            .validate()
            .map_err(|e| at("[source] schema", e.to_string()))?;
        if c.sinks.is_empty() {
            bail!(at("[sinks]", "the pipeline has no sinks".into()));
        }
        for (name, sink) in &c.sinks {
            let key = format!("[sinks.{name}]");
            sink.validate_security()
                .map_err(|e| at(&key, e.to_string()))?;
        }
        for sql in &c.sql {
            if !sql.is_file() {
                bail!(at("sql", format!("{} does not exist", sql.display())));
            }
        }
        Ok(())
    }

    /// The consumer group: configured, or `ember-<name>`.
    pub fn group_id(&self) -> String {
        self.config
            .source
            .group_id
            .clone()
            .unwrap_or_else(|| format!("ember-{}", self.config.name))
    }

    /// The dead-letter topic: configured, or `<source topic>.dlq` (filled
    /// in by [`LoadedPipeline::load`]).
    pub fn dead_letter_topic(&self) -> &TopicName {
        self.config
            .dead_letter
            .topic
            .as_ref()
            .expect("LoadedPipeline::load sets the dead-letter topic")
    }

    /// The checkpoint location: configured, or per consumer group.
    pub fn checkpoint_location(&self) -> String {
        self.config
            .checkpoint
            .clone()
            .unwrap_or_else(|| format!(".ember/checkpoints/{}", self.group_id()))
    }

    /// The checkpoint is a directory of this host (a path or `file://`):
    /// instances of the consumer group on other hosts cannot read it.
    pub fn checkpoint_is_local(&self) -> bool {
        let location = self.checkpoint_location();
        !location.contains("://") || location.starts_with("file://")
    }

    /// What to say, at `ember run` and `ember check`, when the checkpoint
    /// is local: every pipeline reads through a consumer group, and group
    /// members on other hosts would each keep a checkpoint of their own —
    /// a takeover then cannot replay the dead instance's batch, and a
    /// stale local state can report a false data loss.
    pub fn local_checkpoint_warning(&self) -> Option<String> {
        if !self.checkpoint_is_local() {
            return None;
        }
        Some(format!(
            "the checkpoint {} is local to this host, but consumer group {} can be shared: \
             instances on other hosts would not see it (a takeover could not replay their batch, \
             and a stale local state can report false data loss). Run every instance of this \
             group on this host, or set `checkpoint` to a shared store (s3://, gs://, az://)",
            self.checkpoint_location(),
            self.group_id()
        ))
    }

    /// What the engine needs, with the trigger possibly overridden.
    pub fn spec(&self, trigger: Option<Trigger>) -> PipelineSpec {
        let c = &self.config;
        PipelineSpec {
            name: c.name.clone(),
            source_table: c.source.table.clone(),
            schema: c.source.schema.clone(),
            bounds: ember_engine::BatchBounds {
                max_records: c.source.max_records,
                max_bytes: c.source.max_bytes.0,
            },
            trigger: trigger.unwrap_or(c.trigger),
            sql_files: c.sql.clone(),
            fail_on_data_loss: c.source.fail_on_data_loss,
        }
    }
}

/// Names that default to other names are parsed here, once, so that a
/// default that is not a valid name fails at load with the key it stands
/// for: the dead-letter topic (`<source topic>.dlq`, which may pass Kafka's
/// 249 characters) and each sink's table (the sink's name).
fn resolve_default_names(file: &Path, config: &mut PipelineConfig) -> Result<()> {
    let at =
        |key: &str, e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {key}: {e}", file.display());
    if config.dead_letter.topic.is_none() {
        let topic = config
            .source
            .topic
            .dead_letters()
            .map_err(|e| at("[dead_letter] topic", &e))?;
        config.dead_letter.topic = Some(topic);
    }
    for (name, sink) in config.sinks.iter_mut() {
        let table = sink
            .table_name(name)
            .map_err(|e| at(&format!("[sinks.{name}] table"), &e))?;
        sink.table = Some(table);
    }
    Ok(())
}

/// Relative key/certificate paths are relative to the pipeline file;
/// `password_file`s are read into the password (a `password` and a
/// `password_file` together are refused: which one wins would be a
/// surprise); secret-looking librdkafka `options` are registered so that
/// they are scrubbed from logs like the passwords.
fn resolve_secrets(file: &Path, base: &Path, config: &mut PipelineConfig) -> Result<()> {
    let at = |key: &str, msg: String| anyhow::anyhow!("{}: {key}: {msg}", file.display());
    let read = |key: &str, path: &Path| -> Result<Secret> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| at(key, format!("cannot read {}: {e}", path.display())))?;
        Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
    };
    let rebase = |p: &mut Option<PathBuf>| {
        if let Some(p) = p {
            *p = base.join(&*p);
        }
    };
    let sec = &mut config.source.security;
    for p in [
        &mut sec.password_file,
        &mut sec.ca_file,
        &mut sec.cert_file,
        &mut sec.key_file,
    ] {
        rebase(p);
    }
    // One password, from the file or the value, never both. `both` names
    // the section in the refusal, `key` the file in a read error.
    let load = |password: &mut Option<Secret>, file: &Option<PathBuf>, both: &str, key: &str| {
        let Some(path) = file else { return Ok(()) };
        if password.is_some() {
            bail!(at(both, "set password or password_file, not both".into()));
        }
        *password = Some(read(key, path)?);
        Ok(())
    };
    let key = "[source.security] password_file";
    load(
        &mut sec.password,
        &sec.password_file,
        "[source.security]",
        key,
    )?;
    for (k, v) in config.source.options.iter() {
        if secret::is_secret_key(k) {
            secret::register(v);
        }
    }
    for (name, sink) in config.sinks.iter_mut() {
        rebase(&mut sink.password_file);
        if let Some(tls) = &mut sink.tls {
            for p in [&mut tls.ca_file, &mut tls.cert_file, &mut tls.key_file] {
                rebase(p);
            }
        }
        let key = format!("[sinks.{name}] password_file");
        load(&mut sink.password, &sink.password_file, &key, &key)?;
    }
    Ok(())
}

/// `file:line:col: key: message` for a TOML error. `parsed` is the file
/// as a table, when it is valid TOML: the key is found there.
fn toml_error(
    file: &Path,
    text: &str,
    parsed: Option<&toml::Table>,
    e: &toml::de::Error,
) -> anyhow::Error {
    // An error from the text has a span but no key path; deserializing the
    // same document from its table gives the path (and no span).
    let key = parsed
        .and_then(|table| PipelineConfig::deserialize(table.clone()).err())
        .map(|e2| key_prefix(parsed.expect("checked"), &e2))
        .unwrap_or_default();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            anyhow::anyhow!(
                "{}:{line}:{col}: {key}{}",
                file.display(),
                suggest::with_suggestion(e.message())
            )
        }
        None => anyhow::anyhow!(
            "{}: {key}{}",
            file.display(),
            suggest::with_suggestion(e.message())
        ),
    }
}

/// `"[sinks.out] keyspace: "`, `"[source]: "`, `"trigger: "`: the key a
/// deserialization error is about, in the notation of the README, or `""`.
///
/// toml keeps an error's key path private (`toml::de::Error` has no
/// accessor); its `Display` prints the path as a last line ``in `a.b.c` ``
/// when the error has no span, which is the case for errors from
/// deserializing a `toml::Table`. This is the one place Ember reads it.
fn key_prefix(table: &toml::Table, e: &toml::de::Error) -> String {
    let shown = e.to_string();
    let Some(path) = shown
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("in `"))
        .and_then(|l| l.strip_suffix('`'))
    else {
        return String::new();
    };
    let keys: Vec<&str> = path.split('.').collect();
    let mut node = Some(table);
    for k in &keys {
        node = node.and_then(|t| t.get(*k)).and_then(toml::Value::as_table);
    }
    match (node, keys.split_last()) {
        // The path names a section: `[sinks.out]`.
        (Some(_), _) => format!("[{path}]: "),
        (None, Some((last, []))) => format!("{last}: "),
        (None, Some((last, parents))) => format!("[{}] {last}: ", parents.join(".")),
        (None, None) => String::new(),
    }
}

/// Applies `EMBER_A__B=value` as `a.b = value`. Values take the type of the
/// key they replace (number, boolean, comma-separated list), else text.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Override>> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("EMBER_") && !RESERVED_ENV.contains(&k.as_str()))
        .collect();
    vars.sort();
    let mut applied = Vec::new();
    for (var, value) in vars {
        let path: Vec<String> = var["EMBER_".len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            bail!("{var}: malformed override (use EMBER_SECTION__KEY)");
        }
        let (last, parents) = path.split_last().context("empty override")?;
        let mut node = &mut *table;
        for p in parents {
            let entry = node
                .entry(p.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = entry
                .as_table_mut()
                .with_context(|| format!("{var}: `{p}` is not a section"))?;
        }
        let secret = path.iter().any(|p| secret::is_secret_key(p));
        // A secret stays text whatever it looks like: a numeric password
        // must not turn into a number (nor into a type error that prints it).
        let new = if secret {
            secret::register(&value);
            toml::Value::String(value.clone())
        } else {
            typed_value(node.get(last), &value)
        };
        node.insert(last.clone(), new);
        applied.push(Override {
            var,
            path,
            shown: if secret { "***".into() } else { value },
        });
    }
    Ok(applied)
}

fn typed_value(existing: Option<&toml::Value>, raw: &str) -> toml::Value {
    use toml::Value;
    match existing {
        Some(Value::Integer(_)) => raw
            .parse()
            .map(Value::Integer)
            .unwrap_or_else(|_| Value::String(raw.into())),
        Some(Value::Float(_)) => raw
            .parse()
            .map(Value::Float)
            .unwrap_or_else(|_| Value::String(raw.into())),
        Some(Value::Boolean(_)) => raw
            .parse()
            .map(Value::Boolean)
            .unwrap_or_else(|_| Value::String(raw.into())),
        Some(Value::Array(_)) => Value::Array(
            raw.split(',')
                .map(|s| Value::String(s.trim().to_string()))
                .collect(),
        ),
        _ => {
            if let Ok(i) = raw.parse::<i64>() {
                Value::Integer(i)
            } else if let Ok(b) = raw.parse::<bool>() {
                Value::Boolean(b)
            } else {
                Value::String(raw.into())
            }
        }
    }
}

fn default_max_consecutive_failures() -> usize {
    100
}

mod suggest;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
