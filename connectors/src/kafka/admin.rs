//! Topic administration.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::security::KafkaSecurity;

#[derive(Debug, thiserror::Error)]
pub enum KafkaAdminError {
    #[error("cannot reach Kafka at {brokers}: {message}")]
    Connect { brokers: String, message: String },
    #[error("cannot create topic `{topic}`: {message}")]
    Create { topic: String, message: String },
}

/// Creates `topic` with `partitions` partitions unless it exists already.
/// Returns true if it was created.
pub async fn ensure_topic(
    brokers: &str,
    security: &KafkaSecurity,
    topic: &str,
    partitions: i32,
) -> Result<bool, KafkaAdminError> {
    let admin: AdminClient<DefaultClientContext> = super::client_config(brokers, security, [])
        .create()
        .map_err(|e| KafkaAdminError::Connect {
            brokers: brokers.into(),
            message: super::client_error(&e),
        })?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results =
        admin
            .create_topics([&new], &opts)
            .await
            .map_err(|e| KafkaAdminError::Create {
                topic: topic.into(),
                message: super::client_error(&e),
            })?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => Ok(false),
        Some(Err((_, code))) => Err(KafkaAdminError::Create {
            topic: topic.into(),
            message: code.to_string(),
        }),
    }
}
