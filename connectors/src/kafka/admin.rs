//! Topic administration.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

use super::security::KafkaSecurity;

#[derive(Debug, thiserror::Error)]
pub enum KafkaAdminError {
    #[error("cannot reach Kafka at {brokers}: {message}")]
    Connect { brokers: String, message: String },
    #[error("cannot reach Kafka at {brokers}: {cause}")]
    Preflight {
        brokers: String,
        #[source]
        cause: super::PreflightError,
    },
    #[error("cannot create topic `{topic}`: {message}")]
    Create { topic: String, message: String },
}

/// Checks that the brokers answer with these security settings (and
/// accept the credentials), within 20 s.
pub async fn check_connection(
    brokers: &str,
    security: &KafkaSecurity,
) -> Result<(), KafkaAdminError> {
    let config = super::client_config(brokers, security, []);
    tokio::task::spawn_blocking(move || {
        super::preflight(&config, None, std::time::Duration::from_secs(20))
    })
    .await
    .map_err(|e| KafkaAdminError::Connect {
        brokers: brokers.into(),
        message: e.to_string(),
    })?
    .map_err(|cause| KafkaAdminError::Preflight {
        brokers: brokers.into(),
        cause,
    })
}

/// Creates `topic` with `partitions` partitions unless it exists already.
/// Returns true if it was created.
pub async fn ensure_topic(
    brokers: &str,
    security: &KafkaSecurity,
    topic: &str,
    partitions: i32,
) -> Result<bool, KafkaAdminError> {
    let admin: AdminClient<super::SecurityErrors> = super::client_config(brokers, security, [])
        .create_with_context(super::SecurityErrors::default())
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
                message: admin.inner().context().explain(super::client_error(&e)),
            })?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => Ok(false),
        Some(Err((_, code))) => Err(KafkaAdminError::Create {
            topic: topic.into(),
            message: admin.inner().context().explain(code.to_string()),
        }),
    }
}
