//! Kafka: the micro-batch source, the ingestion producer, and topic admin.

mod admin;
mod config;
mod dead_letter_topic;
pub mod dead_letters;
mod producer;
mod reader;
mod security;
mod source;
mod topic;

pub use admin::{check_connection, ensure_topic, KafkaAdminError};
pub use config::{
    DeadLetterConfig, KafkaOptions, KafkaSourceConfig, PayloadFormat, SourceKind, StartingOffsets,
};
pub use dead_letter_topic::{ensure_dead_letter_topic, DeadLetterTopic};
pub use dead_letters::KafkaDeadLetters;
pub use producer::{KafkaProducer, ProducerError};
pub use reader::{committed_offsets, read_topic, scan_topic, ReadWindow, StoredRecord};
pub use security::{KafkaSecurity, KafkaSecurityError, SaslMechanism, SecurityProtocol};
pub use source::{KafkaSource, ReadUntil};
pub use topic::{InvalidTopicName, TopicName};

use std::sync::Mutex;

use crate::secret;

use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, ClientContext};

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
    secret::scrub(&e.to_string()).into_owned()
}

/// Remembers the last authentication or TLS failure librdkafka reported.
/// Those arrive on librdkafka's error callback, while the call that fails
/// because of them (a metadata request, topic creation) only says
/// "broker transport failure" once it times out; the caller adds this
/// reason to its error so that it names the actual problem.
#[derive(Default)]
pub struct SecurityErrors {
    last: Mutex<Option<String>>,
    authentication: Mutex<Option<String>>,
}

impl SecurityErrors {
    /// The authentication or TLS failure seen, if any.
    pub fn reason(&self) -> Option<String> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    /// The authentication failure seen, if any: unlike a TLS hiccup while
    /// a broker restarts, credentials the broker refuses do not fix
    /// themselves.
    pub fn authentication_failure(&self) -> Option<String> {
        self.authentication.lock().ok().and_then(|l| l.clone())
    }

    /// `message`, followed by the authentication/TLS failure seen.
    pub fn explain(&self, message: String) -> String {
        match self.reason() {
            Some(reason) => format!("{message}: {reason}"),
            None => message,
        }
    }

    fn record(&self, error: &KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let security = matches!(
            code,
            Some(rdkafka::types::RDKafkaErrorCode::Authentication)
                | Some(rdkafka::types::RDKafkaErrorCode::SaslAuthenticationFailed)
                | Some(rdkafka::types::RDKafkaErrorCode::SSL)
        ) || reason.contains("SASL authentication error")
            || reason.contains("SSL handshake failed");
        // The broker's side of mutual TLS: it refused the client's
        // certificate, or the client sent none. librdkafka reports it as a
        // plain transport failure carrying the TLS alert.
        let refused_certificate = reason.contains("alert bad certificate")
            || reason.contains("alert certificate required")
            || reason.contains("alert unknown ca");
        if security || refused_certificate {
            let tls = reason.contains("SSL") && !reason.contains("SASL");
            let what = if refused_certificate {
                "Kafka TLS handshake failed: the broker refused the client certificate, or wants one (check cert_file and key_file)"
            } else if tls {
                "Kafka TLS handshake failed (check ca_file and the broker's certificate)"
            } else {
                "Kafka authentication failed (check username, password and sasl_mechanism)"
            };
            let text = format!("{what}: {}", secret::scrub(reason));
            // Credentials the broker refuses do not fix themselves.
            if !tls || refused_certificate {
                if let Ok(mut auth) = self.authentication.lock() {
                    *auth = Some(text.clone());
                }
            }
            if let Ok(mut last) = self.last.lock() {
                *last = Some(text);
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for SecurityErrors {}

impl ClientContext for SecurityErrors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.record(&error, reason);
        tracing::error!("librdkafka: {}: {}", error, secret::scrub(reason));
    }
}

/// Why the brokers could not be used at start.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The settings do not make a client (librdkafka refused them).
    #[error("{message}")]
    Client {
        message: String,
        #[source]
        cause: KafkaError,
    },
    /// A broker refused this client: its credentials or TLS handshake.
    /// These do not fix themselves, so there is no point in waiting.
    #[error("{0}")]
    Refused(String),
    /// No broker answered within the time given.
    #[error("{message}")]
    Unreachable {
        message: String,
        #[source]
        cause: KafkaError,
    },
}

/// Connects with `config` and asks for metadata, serving librdkafka's
/// callbacks meanwhile, so that a refused password or certificate fails
/// here, at start, with the reason, instead of as a timeout later (or as
/// an endless retry in a processing-time job).
pub(crate) fn preflight(
    config: &ClientConfig,
    topic: Option<&str>,
    timeout: std::time::Duration,
) -> Result<(), PreflightError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use std::time::{Duration, Instant};
    let mut config = config.clone();
    // A reader that joins no group: it only fetches metadata.
    config.set("group.id", "ember-preflight");
    let consumer: BaseConsumer<SecurityErrors> = config
        .create_with_context(SecurityErrors::default())
        .map_err(|cause| PreflightError::Client {
            message: client_error(&cause),
            cause,
        })?;
    let started = Instant::now();
    loop {
        // Serves the error callback (authentication, TLS).
        let _ = consumer.poll(Duration::from_millis(100));
        if let Some(reason) = consumer.context().reason() {
            return Err(PreflightError::Refused(reason));
        }
        match consumer.fetch_metadata(topic, Duration::from_millis(500)) {
            Ok(_) => return Ok(()),
            Err(cause) if started.elapsed() >= timeout => {
                return Err(PreflightError::Unreachable {
                    message: consumer.context().explain(client_error(&cause)),
                    cause,
                })
            }
            Err(_) => {}
        }
    }
}
