//! `[source]` of a pipeline file.

use std::collections::BTreeMap;

use ember_decode::SourceSchema;

use super::security::KafkaSecurity;
use serde::{Deserialize, Serialize};

/// A Kafka topic read as a stream of JSON records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Always `"kafka"` for now; reserved for other sources.
    #[serde(rename = "type", default = "default_type")]
    pub kind: String,
    /// Bootstrap servers, `host:port[,host:port…]`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// The topic to read.
    pub topic: String,
    /// Consumer group. Default: `ember-<pipeline name>`.
    #[serde(default)]
    pub group_id: Option<String>,
    /// The table name the SQL reads the batch from (independent of the topic).
    #[serde(default = "default_table")]
    pub table: String,
    /// Payload format; `json` is the only one today.
    #[serde(default = "default_format")]
    pub format: String,
    /// Where a group with no committed offsets starts.
    #[serde(default)]
    pub starting_offsets: StartingOffsets,
    /// The most records in one micro-batch: the bound on memory per batch.
    #[serde(default = "default_max_records")]
    pub max_records: usize,
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

fn default_type() -> String {
    "kafka".into()
}
fn default_brokers() -> String {
    "127.0.0.1:9092".into()
}
fn default_table() -> String {
    "users_created".into()
}
fn default_format() -> String {
    "json".into()
}
fn default_max_records() -> usize {
    20_000
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
    pub topic: Option<String>,
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
