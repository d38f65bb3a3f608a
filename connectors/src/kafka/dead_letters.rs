//! The dead-letter topic: every record set aside, byte for byte, with
//! headers saying why and where it came from.

use std::time::Duration;

use async_trait::async_trait;
use ember_engine::dead_letter::{DeadLetter, DeadLetterSink};
use ember_engine::source::SourceError;
use futures::future::try_join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio::sync::OnceCell;

/// Header names (all values UTF-8 text).
pub const REASON: &str = "ember.reason";
pub const DETAIL: &str = "ember.detail";
pub const SOURCE_TOPIC: &str = "ember.source.topic";
pub const SOURCE_PARTITION: &str = "ember.source.partition";
pub const SOURCE_OFFSET: &str = "ember.source.offset";
pub const PIPELINE: &str = "ember.pipeline";

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
}

impl KafkaDeadLetters {
    pub fn new(
        brokers: &str,
        security: &super::KafkaSecurity,
        topic: &str,
        source_topic: &str,
        pipeline: &str,
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, SourceError> {
        let mut config = super::client_config(brokers, security, options);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            // A dead letter carries a value up to the source's limit plus headers.
            .set("message.max.bytes", "4194304")
            .set("message.timeout.ms", "120000");
        // Creating a client validates every property; the client itself is
        // dropped off the async threads (its drop joins the polling thread).
        let checked = create_producer(&config)?;
        std::thread::spawn(move || drop(checked));
        Ok(KafkaDeadLetters {
            config,
            producer: OnceCell::new(),
            topic: topic.into(),
            source_topic: source_topic.into(),
            pipeline: pipeline.into(),
        })
    }
}

fn create_producer(config: &ClientConfig) -> Result<FutureProducer, SourceError> {
    config.create().map_err(|e| {
        SourceError::Connection(format!("dead-letter producer: {}", super::client_error(&e)))
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
        let sends = letters.iter().map(|l| {
            let partition = l.partition.to_string();
            let offset = l.offset.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: REASON,
                    value: Some(l.reason.as_str()),
                })
                .insert(Header {
                    key: DETAIL,
                    value: Some(l.detail.as_str()),
                })
                .insert(Header {
                    key: SOURCE_TOPIC,
                    value: Some(self.source_topic.as_str()),
                })
                .insert(Header {
                    key: SOURCE_PARTITION,
                    value: Some(partition.as_str()),
                })
                .insert(Header {
                    key: SOURCE_OFFSET,
                    value: Some(offset.as_str()),
                })
                .insert(Header {
                    key: PIPELINE,
                    value: Some(self.pipeline.as_str()),
                });
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.topic).headers(headers);
            if let Some(key) = &l.key {
                record = record.key(key.as_slice());
            }
            if let Some(value) = &l.value {
                record = record.payload(value.as_slice());
            }
            async move {
                producer
                    .send(record, Duration::from_secs(120))
                    .await
                    .map(|_| ())
                    .map_err(|(e, _)| {
                        SourceError::Connection(format!(
                            "dead-letter topic {}: {}",
                            self.topic,
                            super::client_error(&e)
                        ))
                    })
            }
        });
        try_join_all(sends).await.map(|_| ())
    }

    fn describe(&self) -> String {
        format!("kafka {}", self.topic)
    }
}
