//! An idempotent producer with a bounded number of records in flight.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::security::KafkaSecurity;

#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error("cannot create Kafka producer for {brokers}: {message}")]
    Create { brokers: String, message: String },
    #[error("delivery to `{topic}` failed: {message}")]
    Delivery { topic: String, message: String },
}

/// Produces keyed records to one topic. `enable.idempotence` makes broker
/// retries safe: no duplicates and no reordering within a partition.
pub struct KafkaProducer {
    inner: FutureProducer,
    topic: String,
    in_flight: FuturesUnordered<DeliveryFuture>,
    max_in_flight: usize,
    delivered: u64,
}

impl KafkaProducer {
    pub fn new(
        brokers: &str,
        security: &KafkaSecurity,
        topic: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Self, ProducerError> {
        let mut config = super::client_config(brokers, security, []);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "10")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "120000");
        for (k, v) in options {
            config.set(k, v);
        }
        let inner = config.create().map_err(|e| ProducerError::Create {
            brokers: brokers.into(),
            message: super::client_error(&e),
        })?;
        Ok(KafkaProducer {
            inner,
            topic: topic.into(),
            in_flight: FuturesUnordered::new(),
            max_in_flight: 50_000,
            delivered: 0,
        })
    }

    /// Waits until the producer reached the topic's leaders (a metadata
    /// round trip on its own connections). Records are timestamped when they
    /// are enqueued, so a rate-paced run that started before would stamp its
    /// first records while the producer is still connecting, and charge that
    /// wait to whoever measures latency from the timestamps.
    pub async fn ready(&self, timeout: Duration) -> Result<(), ProducerError> {
        let producer = self.inner.clone();
        let topic = self.topic.clone();
        let fetched = tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(Some(&topic), timeout)
        })
        .await;
        match fetched {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ProducerError::Delivery {
                topic: self.topic.clone(),
                message: super::client_error(&e),
            }),
            Err(e) => Err(ProducerError::Delivery {
                topic: self.topic.clone(),
                message: e.to_string(),
            }),
        }
    }

    /// Enqueues one record; waits for earlier deliveries when too many are
    /// in flight or librdkafka's queue is full.
    pub async fn send(&mut self, key: &[u8], value: &[u8]) -> Result<(), ProducerError> {
        while self.in_flight.len() >= self.max_in_flight {
            self.reap_one().await?;
        }
        loop {
            let record = FutureRecord::to(&self.topic).key(key).payload(value);
            match self.inner.send_result(record) {
                Ok(fut) => {
                    self.in_flight.push(fut);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if self.in_flight.is_empty() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    } else {
                        self.reap_one().await?;
                    }
                }
                Err((e, _)) => {
                    return Err(ProducerError::Delivery {
                        topic: self.topic.clone(),
                        message: super::client_error(&e),
                    })
                }
            }
        }
    }

    /// Records acknowledged by the broker so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Waits until every record sent so far is acknowledged.
    pub async fn flush(&mut self) -> Result<u64, ProducerError> {
        while !self.in_flight.is_empty() {
            self.reap_one().await?;
        }
        let _ = self.inner.flush(Duration::from_secs(30));
        Ok(self.delivered)
    }

    async fn reap_one(&mut self) -> Result<(), ProducerError> {
        let delivery_error = |message: String| ProducerError::Delivery {
            topic: self.topic.clone(),
            message,
        };
        match self.in_flight.next().await {
            Some(Ok(Ok(_))) => {
                self.delivered += 1;
                Ok(())
            }
            Some(Ok(Err((e, _)))) => Err(delivery_error(super::client_error(&e))),
            Some(Err(_)) => Err(delivery_error("producer dropped the delivery".into())),
            None => Ok(()),
        }
    }
}
