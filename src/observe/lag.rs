//! Consumer lag per partition, as lag tools compute it: the broker's high
//! watermark minus the position processed. The position is this run's last
//! committed end for the partition, else the group's committed offset (the
//! mirror the engine keeps), else the partition's low watermark.
//!
//! Read on a client of its own, on a thread of its own, once a second: the
//! engine's consumer is polled only between batches (see the loop in
//! `ember_engine::pipeline`), and a metadata call on it would wait behind a
//! batch. The client never joins the group; it only asks for offsets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ember_connectors::kafka::KafkaSourceConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::Observer;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the poller; it stops when the observer is the last one holding
/// it (the run is over).
pub fn spawn(observer: Arc<Observer>, source: &KafkaSourceConfig, group: &str, every: Duration) {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &source.brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("client.id", "ember-lag");
    source.security.apply(&mut config);
    let consumer: BaseConsumer = match config.create() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "consumer lag unavailable: cannot create a Kafka client");
            return;
        }
    };
    let topic = source.topic.to_string();
    let spawned = std::thread::Builder::new()
        .name("ember-lag".into())
        .spawn(move || loop {
            if Arc::strong_count(&observer) == 1 {
                return;
            }
            match read(&consumer, &topic, &observer.positions()) {
                Ok((high, at)) => observer.set_lag(&high, &at),
                Err(e) => tracing::debug!(error = %e, "consumer lag not read this time"),
            }
            std::thread::sleep(every);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "consumer lag unavailable: cannot start its thread");
    }
}

type Offsets = BTreeMap<i32, i64>;

/// High watermarks and positions of every partition of `topic`.
fn read(
    consumer: &BaseConsumer,
    topic: &str,
    seen: &Offsets,
) -> Result<(Offsets, Offsets), rdkafka::error::KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition(topic, *p);
    }
    let committed = consumer.committed_offsets(tpl, TIMEOUT)?;
    let (mut high, mut at) = (Offsets::new(), Offsets::new());
    for p in partitions {
        let (low, end) = consumer.fetch_watermarks(topic, p, TIMEOUT)?;
        let group = committed
            .find_partition(topic, p)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            });
        let position = match (seen.get(&p), group) {
            (Some(s), Some(g)) => (*s).max(g),
            (Some(s), None) => *s,
            (None, Some(g)) => g,
            (None, None) => low,
        };
        high.insert(p, end);
        at.insert(p, position);
    }
    Ok((high, at))
}
