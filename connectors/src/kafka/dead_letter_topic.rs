//! The dead-letter topic, created to hold every record of its source.
//!
//! A dead letter is the source record, key and value byte for byte, plus
//! headers. Created with the broker's defaults, the topic refuses a bad
//! record that was near the source's size limit (MSG_SIZE_TOO_LARGE on
//! every replay: the job can never commit that batch), and with one
//! replica it loses what it holds with one broker, while the source it
//! stands for is replicated. So the topic takes its size limit from the
//! source's (`max.message.bytes` + [`HEADROOM`]) and its replication
//! factor from the source's, unless configured.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

use super::security::KafkaSecurity;
use super::KafkaAdminError;

/// Room for the headers and the record-batch framing of a dead letter on
/// top of the source record: the detail header is capped well below it
/// (see `dead_letters`), the other headers are names and numbers.
pub const HEADROOM: usize = 64 * 1024;

/// What the dead-letter topic was created with, or found to have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterTopic {
    pub topic: String,
    /// Whether this call created it.
    pub created: bool,
    /// Its `max.message.bytes`, when the broker tells it.
    pub max_message_bytes: Option<usize>,
}

/// What matters of a topic here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TopicFacts {
    replication_factor: Option<i32>,
    max_message_bytes: Option<usize>,
}

/// Creates `topic` unless it exists: `partitions` partitions, the source
/// topic's replication factor unless `replication_factor` is given, and a
/// `max.message.bytes` that fits the source's largest record plus headers.
/// An existing topic is left as it is; one with a smaller limit is logged.
pub async fn ensure_dead_letter_topic(
    brokers: &str,
    security: &KafkaSecurity,
    topic: &str,
    source_topic: &str,
    partitions: i32,
    replication_factor: Option<i32>,
) -> Result<DeadLetterTopic, KafkaAdminError> {
    let mut config = super::client_config(brokers, security, []);
    // Describing a topic must never create it with the broker's defaults.
    config.set("allow.auto.create.topics", "false");
    let admin: AdminClient<super::SecurityErrors> = config
        .create_with_context(super::SecurityErrors::default())
        .map_err(|e| KafkaAdminError::Connect {
            brokers: brokers.into(),
            message: super::client_error(&e),
        })?;
    let source = describe(&admin, source_topic).await;
    let wanted_bytes = source.max_message_bytes.map(|m| m + HEADROOM);
    // -1: the broker's default.replication.factor (when the source cannot
    // be described, e.g. it does not exist yet).
    let replicas = replication_factor
        .or(source.replication_factor)
        .unwrap_or(-1);
    let bytes_text = wanted_bytes.map(|b| b.to_string());
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replicas));
    if let Some(bytes) = &bytes_text {
        new = new.set("max.message.bytes", bytes);
    }
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let create_error = |message: String| KafkaAdminError::Create {
        topic: topic.into(),
        message: admin.inner().context().explain(message),
    };
    let results = admin
        .create_topics([&new], &opts)
        .await
        .map_err(|e| create_error(super::client_error(&e)))?;
    let created = match results.into_iter().next() {
        Some(Ok(_)) => true,
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => false,
        Some(Err((_, code))) => {
            return Err(create_error(format!(
                "{code} (replication factor {})",
                if replicas < 0 {
                    "the broker's default".to_string()
                } else {
                    replicas.to_string()
                }
            )))
        }
    };
    if created {
        tracing::info!(topic, replicas, max_message_bytes = ?wanted_bytes, "dead-letter topic created");
        return Ok(DeadLetterTopic {
            topic: topic.into(),
            created,
            max_message_bytes: wanted_bytes,
        });
    }
    let existing = describe(&admin, topic).await;
    if let (Some(have), Some(want)) = (existing.max_message_bytes, wanted_bytes) {
        if have < want {
            tracing::warn!(
                topic,
                max_message_bytes = have,
                source_max_message_bytes = want - HEADROOM,
                "the dead-letter topic's max.message.bytes is below the source's plus headers: \
                 a bad record near the limit is dead-lettered truncated (header ember.value.truncated); \
                 raise it with kafka-configs --alter --add-config max.message.bytes={want}"
            );
        }
    }
    Ok(DeadLetterTopic {
        topic: topic.into(),
        created,
        max_message_bytes: existing.max_message_bytes,
    })
}

/// The topic's replication factor and effective `max.message.bytes`;
/// what cannot be read (no such topic, no DESCRIBE_CONFIGS permission) is
/// `None`, and the caller falls back to the broker's defaults.
async fn describe(admin: &AdminClient<super::SecurityErrors>, topic: &str) -> TopicFacts {
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(15)));
    let max_message_bytes = match admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &opts)
        .await
    {
        Ok(results) => results
            .into_iter()
            .next()
            .and_then(Result::ok)
            .and_then(|r| r.get("max.message.bytes").and_then(|e| e.value.clone()))
            .and_then(|v| v.parse().ok()),
        Err(_) => None,
    };
    let replication_factor = admin
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(15))
        .ok()
        .and_then(|m| {
            let t = m.topics().first()?;
            if t.error().is_some() {
                return None;
            }
            let replicas = t.partitions().first()?.replicas().len();
            i32::try_from(replicas).ok().filter(|&r| r > 0)
        });
    TopicFacts {
        replication_factor,
        max_message_bytes,
    }
}
