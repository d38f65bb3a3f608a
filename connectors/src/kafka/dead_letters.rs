//! The dead-letter topic: every record set aside, byte for byte, with
//! headers saying why and where it came from. A record the topic still
//! refuses as too large (its limit is below the source's, e.g. a topic
//! created by hand) is sent with its value truncated and a header saying
//! so, rather than failing the batch on every replay.

use std::time::Duration;

use async_trait::async_trait;
use ember_engine::dead_letter::{DeadLetter, DeadLetterSink};
use ember_engine::source::SourceError;
use futures::future::try_join_all;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio::sync::OnceCell;

use super::dead_letter_topic::HEADROOM;

/// Header names (all values UTF-8 text).
pub const REASON: &str = "ember.reason";
pub const DETAIL: &str = "ember.detail";
pub const SOURCE_TOPIC: &str = "ember.source.topic";
pub const SOURCE_PARTITION: &str = "ember.source.partition";
pub const SOURCE_OFFSET: &str = "ember.source.offset";
pub const PIPELINE: &str = "ember.pipeline";

/// Set when the value had to be cut to fit the dead-letter topic: the
/// value's original length in bytes. The first bytes are kept; the full
/// record is still in the source topic at the partition and offset named,
/// until retention deletes it.
pub const VALUE_TRUNCATED: &str = "ember.value.truncated";

/// The detail header is capped so that the headers always fit in the
/// topic's headroom over the source's record size (see `dead_letter_topic`).
const MAX_DETAIL_BYTES: usize = 8 * 1024;

/// Kafka's default `max.message.bytes` (1 MiB + 12 framing bytes), assumed
/// when the topic's limit cannot be read.
const KAFKA_DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;

/// Produces dead letters with an idempotent producer and waits for every
/// acknowledgement.
///
/// The producer is created on the first dead letter, not at start: an
/// rdkafka producer keeps a polling thread that wakes every 100 ms and spins
/// through the last millisecond of each wait (its timeout is rounded down to
/// whole milliseconds), about 1% of a core for as long as it lives — and most
/// jobs never send a dead letter. The configuration is still checked at
/// start (see [`KafkaDeadLetters::new`]).
pub struct KafkaDeadLetters {
    config: ClientConfig,
    producer: OnceCell<FutureProducer>,
    topic: String,
    source_topic: String,
    pipeline: String,
    /// The value length a dead letter is cut to when the broker still
    /// refuses it as too large: the topic's limit less the headroom.
    truncated_value_bytes: usize,
}

impl KafkaDeadLetters {
    /// `max_message_bytes` is the dead-letter topic's limit when known.
    pub fn new(
        brokers: &str,
        security: &super::KafkaSecurity,
        topic: &super::DeadLetterTopic,
        source_topic: &str,
        pipeline: &str,
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, SourceError> {
        let topic_limit = topic
            .max_message_bytes
            .unwrap_or(KAFKA_DEFAULT_MAX_MESSAGE_BYTES);
        // The producer must not refuse locally what the topic accepts.
        let producer_limit = (topic_limit + HEADROOM).max(4 * 1024 * 1024);
        let mut config = super::client_config(brokers, security, options);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.max.bytes", producer_limit.to_string())
            .set("message.timeout.ms", "120000");
        // Creating a client validates every property; the client itself is
        // dropped off the async threads (its drop joins the polling thread).
        let checked = create_producer(&config)?;
        std::thread::spawn(move || drop(checked));
        Ok(KafkaDeadLetters {
            config,
            producer: OnceCell::new(),
            topic: topic.topic.clone(),
            source_topic: source_topic.into(),
            pipeline: pipeline.into(),
            truncated_value_bytes: topic_limit.saturating_sub(HEADROOM).max(1024),
        })
    }

    /// The letter as a record; `truncate_to` cuts the value (and says so
    /// in a header).
    async fn send_one(
        &self,
        producer: &FutureProducer,
        l: &DeadLetter,
        truncate_to: Option<usize>,
    ) -> Result<(), KafkaError> {
        let partition = l.partition.to_string();
        let offset = l.offset.to_string();
        let detail = cap_detail(&l.detail);
        let value = l.value.as_deref();
        let cut = match (value, truncate_to) {
            (Some(v), Some(limit)) if v.len() > limit => Some((&v[..limit], v.len().to_string())),
            _ => None,
        };
        let mut fields = vec![
            (REASON, l.reason.code()),
            (DETAIL, detail.as_ref()),
            (SOURCE_TOPIC, self.source_topic.as_str()),
            (SOURCE_PARTITION, partition.as_str()),
            (SOURCE_OFFSET, offset.as_str()),
            (PIPELINE, self.pipeline.as_str()),
        ];
        if let Some((_, original_length)) = &cut {
            fields.push((VALUE_TRUNCATED, original_length.as_str()));
        }
        let headers = fields
            .into_iter()
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value),
                })
            });
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = &l.key {
            record = record.key(key.as_ref());
        }
        if let Some(value) = cut.as_ref().map(|(v, _)| *v).or(value) {
            record = record.payload(value);
        }
        producer
            .send(record, Duration::from_secs(120))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }

    /// Sends the letter whole; if the broker (or the producer) refuses it
    /// as too large for the topic, once more with the value truncated.
    async fn send_or_truncate(
        &self,
        producer: &FutureProducer,
        l: &DeadLetter,
    ) -> Result<(), SourceError> {
        let error = |e: KafkaError| {
            let message = format!(
                "dead-letter topic {}: {}",
                self.topic,
                super::client_error(&e)
            );
            SourceError::connection_from(message, e)
        };
        match self.send_one(producer, l, None).await {
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)) => {
                tracing::warn!(
                    topic = %self.topic,
                    partition = l.partition,
                    offset = l.offset,
                    bytes = l.value.as_ref().map_or(0, |v| v.len()),
                    kept = self.truncated_value_bytes,
                    "dead letter too large for its topic: sending it with the value truncated ({VALUE_TRUNCATED})"
                );
                self.send_one(producer, l, Some(self.truncated_value_bytes))
                    .await
                    .map_err(error)
            }
            other => other.map_err(error),
        }
    }
}

/// The detail, cut at a character boundary below [`MAX_DETAIL_BYTES`].
fn cap_detail(detail: &str) -> std::borrow::Cow<'_, str> {
    if detail.len() <= MAX_DETAIL_BYTES {
        return std::borrow::Cow::Borrowed(detail);
    }
    let mut end = MAX_DETAIL_BYTES - 16;
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}… (truncated)", &detail[..end]))
}

fn create_producer(config: &ClientConfig) -> Result<FutureProducer, SourceError> {
    config.create().map_err(|e| {
        SourceError::connection_from(
            format!("dead-letter producer: {}", super::client_error(&e)),
            e,
        )
    })
}

#[async_trait]
impl DeadLetterSink for KafkaDeadLetters {
    async fn send(&self, letters: &[DeadLetter]) -> Result<(), SourceError> {
        if letters.is_empty() {
            return Ok(());
        }
        let producer = self
            .producer
            .get_or_try_init(|| async { create_producer(&self.config) })
            .await?;
        try_join_all(letters.iter().map(|l| self.send_or_truncate(producer, l)))
            .await
            .map(|_| ())
    }

    fn describe(&self) -> String {
        format!("kafka {}", self.topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_detail_is_capped_at_a_character_boundary() {
        assert_eq!(cap_detail("short"), "short");
        let long = "é".repeat(MAX_DETAIL_BYTES);
        let capped = cap_detail(&long);
        assert!(capped.len() <= MAX_DETAIL_BYTES, "{}", capped.len());
        assert!(capped.ends_with("… (truncated)"));
    }
}
