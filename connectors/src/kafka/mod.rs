//! Kafka: the micro-batch source, the ingestion producer, and topic admin.

mod admin;
mod config;
pub mod dead_letters;
mod producer;
mod security;
mod source;

pub use admin::{ensure_topic, KafkaAdminError};
pub use config::{DeadLetterConfig, KafkaOptions, KafkaSourceConfig, StartingOffsets};
pub use dead_letters::KafkaDeadLetters;
pub use producer::{KafkaProducer, ProducerError};
pub use security::{KafkaSecurity, SaslMechanism, SecurityProtocol};
pub use source::KafkaSource;

use rdkafka::ClientConfig;

/// A librdkafka client configuration with the bootstrap servers, the
/// security settings (every client of a pipeline gets the same) and any
/// extra properties the user set.
pub(crate) fn client_config<'a>(
    brokers: &str,
    security: &KafkaSecurity,
    extra: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    security.apply(&mut config);
    for (k, v) in extra {
        config.set(k, v);
    }
    config
}

/// A client-creation error as text with every secret hidden: rdkafka's
/// `ClientConfig` error repeats the value of the property it refused.
pub(crate) fn client_error(e: &impl std::fmt::Display) -> String {
    crate::secret::scrub(&e.to_string()).into_owned()
}
