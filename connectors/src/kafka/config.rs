//! `[source]` of a pipeline file.

use std::collections::BTreeMap;

use ember_decode::SourceSchema;
use ember_engine::{BatchBounds, ByteSize};

use super::security::KafkaSecurity;
use super::topic::TopicName;
use serde::{Deserialize, Deserializer, Serialize};

/// A Kafka topic read as a stream of JSON records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// The source's kind: `"kafka"` (the default and only one today).
    #[serde(rename = "type", default)]
    pub kind: SourceKind,
    /// Bootstrap servers, `host:port[,host:port…]`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// The topic to read (required): 1–249 of `[a-zA-Z0-9._-]`, not `.`
    /// or `..`.
    pub topic: TopicName,
    /// Consumer group. Default: `ember-<pipeline name>`.
    #[serde(default)]
    pub group_id: Option<String>,
    /// The table name the SQL reads the batch from (independent of the topic).
    #[serde(default = "default_table")]
    pub table: String,
    /// Payload format: `"json"` (the default and only one today).
    #[serde(default)]
    pub format: PayloadFormat,
    /// Where a group with no committed offsets starts.
    #[serde(default)]
    pub starting_offsets: StartingOffsets,
    /// The most records in one micro-batch: the bound on memory per batch.
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// The most bytes in one micro-batch: a batch closes once its records'
    /// keys and values add up to this (the record that crosses it is still
    /// in, so a record larger than this is a batch of one, never a stall).
    /// A number of bytes or a size: `"64MiB"`, `"512KiB"`, `"1GB"`. The
    /// default, 64 MiB, keeps a batch of the default 20,000 records of up
    /// to ~3 KiB whole (the `users_created` records are ~400 bytes: bytes
    /// never bind there), and bounds a batch of large records to what a
    /// few hundred MB of memory holds once decoded into Arrow and written.
    /// Replays of batches planned under larger bounds are processed in
    /// pieces of this size.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// The fields decoded from each record, in order. Default: the
    /// `users_created` contract.
    #[serde(default = "SourceSchema::users_created")]
    pub schema: SourceSchema,
    /// Stop when offsets were deleted (retention) before they were
    /// processed, like Spark's `failOnDataLoss`; false skips them with a
    /// warning and counts them.
    #[serde(default = "default_true")]
    pub fail_on_data_loss: bool,
    /// TLS and SASL for every Kafka client of the pipeline.
    #[serde(default)]
    pub security: KafkaSecurity,
    /// Extra librdkafka properties, passed through verbatim to the
    /// consumer and the dead-letter producer (e.g.
    /// `"fetch.max.bytes" = "1048576"`). Applied after `security`.
    #[serde(default)]
    pub options: KafkaOptions,
}

/// librdkafka properties. Printed with the values of secret-looking keys
/// (`sasl.password`, `ssl.key.password`, …) as `***`, so a password
/// passed this way does not leak through a logged config either.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KafkaOptions(pub BTreeMap<String, String>);

impl KafkaOptions {
    /// `(key, value)` pairs as they may be shown.
    pub fn shown(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str(), crate::secret::shown(k, v)))
    }
}

impl std::ops::Deref for KafkaOptions {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.shown()).finish()
    }
}

/// Where a consumer group without committed offsets starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartingOffsets {
    #[default]
    Earliest,
    Latest,
}

impl StartingOffsets {
    pub(crate) fn as_reset(self) -> &'static str {
        match self {
            StartingOffsets::Earliest => "earliest",
            StartingOffsets::Latest => "latest",
        }
    }
}

/// `type` of the source. Each tag is a unit enum of its own, not
/// `#[serde(tag = "type")]` on an enum of configs: serde buffers an
/// internally tagged table before it picks the variant, and the buffered
/// values lose the spans that put the line into the file's other errors
/// (and do not support a default tag).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    #[default]
    Kafka,
}

/// `format` of the source's payloads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    #[default]
    Json,
}

/// `text` as the one variant it may be, or "`"text" is not supported (only
/// "<only>")`".
fn only<'de, D: Deserializer<'de>, T>(d: D, only: &str, value: T) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    if text == only {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "{text:?} is not supported (only {only:?})"
        )))
    }
}

impl<'de> Deserialize<'de> for SourceKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        only(d, "kafka", SourceKind::Kafka)
    }
}

impl<'de> Deserialize<'de> for PayloadFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        only(d, "json", PayloadFormat::Json)
    }
}

fn default_brokers() -> String {
    "127.0.0.1:9092".into()
}
fn default_table() -> String {
    "users_created".into()
}
fn default_max_records() -> usize {
    BatchBounds::DEFAULT.max_records
}

fn default_max_bytes() -> ByteSize {
    ByteSize(BatchBounds::DEFAULT.max_bytes)
}

fn default_true() -> bool {
    true
}

/// `[dead_letter]`: where records that cannot be processed go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Off only for experiments: rejected records are then logged and
    /// counted, and lost once their offsets are committed.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The topic. Default: `<source topic>.dlq`.
    #[serde(default)]
    pub topic: Option<TopicName>,
    /// Partitions when the topic is created.
    #[serde(default = "default_dlq_partitions")]
    pub partitions: i32,
    /// Replicas when the topic is created. Default: the source topic's, so
    /// dead letters survive what the data survives.
    #[serde(default)]
    pub replication_factor: Option<i32>,
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            enabled: true,
            topic: None,
            partitions: default_dlq_partitions(),
            replication_factor: None,
        }
    }
}

fn default_dlq_partitions() -> i32 {
    1
}
