//! Kafka: the micro-batch source, the ingestion producer, and topic admin.

mod admin;
mod config;
pub mod dead_letters;
mod producer;
mod source;

pub use admin::{ensure_topic, KafkaAdminError};
pub use config::{DeadLetterConfig, KafkaSourceConfig, StartingOffsets};
pub use dead_letters::KafkaDeadLetters;
pub use producer::{KafkaProducer, ProducerError};
pub use source::KafkaSource;

use rdkafka::ClientConfig;

/// A librdkafka client configuration with the bootstrap servers and any
/// extra properties the user set.
pub(crate) fn client_config<'a>(
    brokers: &str,
    extra: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (k, v) in extra {
        config.set(k, v);
    }
    config
}
