//! Reading a topic without joining a consumer group: `ember preview
//! --from-topic` samples the source topic and `ember dead-letters ls|show`
//! read the dead-letter topic. Partitions are assigned, not subscribed,
//! and nothing is ever committed, so the pipeline's group (and any other)
//! is left exactly as it was.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ember_engine::source::SourceError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::security::KafkaSecurity;

/// One record as stored, headers as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch, if the record has a timestamp.
    pub timestamp_ms: Option<i64>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, String)>,
}

impl StoredRecord {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Which records of each partition to read, up to the end it has when the
/// read starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadWindow {
    /// Everything still stored.
    All,
    /// At most this many in all: the latest ones, spread over the partitions.
    Latest(usize),
    /// Each partition from this offset on (from its start where none is
    /// given, or where it is below what is still stored).
    From(BTreeMap<i32, i64>),
}

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads `topic` as `window` says, in (partition, offset) order. Blocking:
/// call it off the async threads. A read that stops making progress for
/// `stall` is an error.
pub fn read_topic(
    brokers: &str,
    security: &KafkaSecurity,
    options: &BTreeMap<String, String>,
    topic: &str,
    window: ReadWindow,
    stall: Duration,
) -> Result<Vec<StoredRecord>, SourceError> {
    let mut out = Vec::new();
    scan_topic(brokers, security, options, topic, window, stall, &mut |r| {
        out.push(r);
        true
    })?;
    out.sort_by_key(|r| (r.partition, r.offset));
    Ok(out)
}

/// Hands each record of `topic` (as `window` says) to `visit` as it is
/// read, in offset order within a partition, until every partition is
/// read to its end or `visit` returns false: a whole dead-letter topic can
/// be counted without holding it. Blocking, like [`read_topic`].
pub fn scan_topic(
    brokers: &str,
    security: &KafkaSecurity,
    options: &BTreeMap<String, String>,
    topic: &str,
    window: ReadWindow,
    stall: Duration,
    visit: &mut dyn FnMut(StoredRecord) -> bool,
) -> Result<(), SourceError> {
    // `group.id` is required by librdkafka for a consumer, but never
    // joined: the partitions are assigned and no offset is committed.
    let mut config = super::client_config(brokers, security, options);
    config
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    let reader = GrouplessReader::open(config, "ember-reader")?;
    let consumer = &reader.consumer;
    let partitions = reader.partitions(topic)?;
    if partitions.is_empty() {
        return Err(SourceError::Topic {
            topic: topic.into(),
            problem: "does not exist (or has no partitions)".into(),
        });
    }
    let mut ranges = BTreeMap::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, METADATA_TIMEOUT)
            .map_err(|e| reader.error(format!("watermarks of {topic}/{p}"), e))?;
        ranges.insert(p, (low, high));
    }
    match &window {
        ReadWindow::All => {}
        ReadWindow::Latest(n) => {
            let per_partition = n.div_ceil(partitions.len()) as i64;
            for (low, high) in ranges.values_mut() {
                *low = (*high - per_partition).max(*low);
            }
        }
        ReadWindow::From(starts) => {
            for (p, (low, _)) in ranges.iter_mut() {
                if let Some(&start) = starts.get(p) {
                    *low = start.max(*low);
                }
            }
        }
    }
    let mut assignment = TopicPartitionList::new();
    for (&p, &(low, high)) in &ranges {
        if low < high {
            assignment
                .add_partition_offset(topic, p, Offset::Offset(low))
                .map_err(|e| reader.error(format!("assign {topic}/{p}"), e))?;
        }
    }
    if assignment.count() == 0 {
        return Ok(());
    }
    consumer
        .assign(&assignment)
        .map_err(|e| reader.error(format!("assign {topic}"), e))?;
    let mut left: BTreeMap<i32, i64> = ranges
        .iter()
        .filter(|(_, (low, high))| low < high)
        .map(|(&p, &(_, high))| (p, high))
        .collect();
    let mut progress = Instant::now();
    while !left.is_empty() {
        if progress.elapsed() > stall {
            return Err(SourceError::Stalled(format!(
                "reading {topic}: no record for {stall:?} with {} partition(s) not read to their end",
                left.len()
            )));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = message.map_err(|e| reader.error(format!("reading {topic}"), e))?;
        progress = Instant::now();
        let (p, offset) = (m.partition(), m.offset());
        let Some(&end) = left.get(&p) else { continue };
        if offset >= end {
            left.remove(&p);
            continue;
        }
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                        (h.key.to_string(), value.into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let more = visit(StoredRecord {
            partition: p,
            offset,
            timestamp_ms: m.timestamp().to_millis(),
            key: m.key().map(Bytes::copy_from_slice),
            value: m.payload().map(Bytes::copy_from_slice),
            headers,
        });
        if !more {
            return Ok(());
        }
        if offset + 1 >= end {
            left.remove(&p);
        }
    }
    Ok(())
}

/// The offsets `group` committed on `topic`, per partition (none where it
/// committed nothing), read without joining the group.
pub fn committed_offsets(
    brokers: &str,
    security: &KafkaSecurity,
    options: &BTreeMap<String, String>,
    group: &str,
    topic: &str,
) -> Result<BTreeMap<i32, i64>, SourceError> {
    let reader = GrouplessReader::open(super::client_config(brokers, security, options), group)?;
    let mut partitions = TopicPartitionList::new();
    for p in reader.partitions(topic)? {
        partitions.add_partition(topic, p);
    }
    if partitions.count() == 0 {
        return Ok(BTreeMap::new());
    }
    let committed = reader
        .consumer
        .committed_offsets(partitions, METADATA_TIMEOUT)
        .map_err(|e| reader.error(format!("offsets of group {group} on {topic}"), e))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(n) => Some((e.partition(), n)),
            _ => None,
        })
        .collect())
}

/// A consumer that names a group but never joins it: partitions are
/// assigned, and nothing is committed for the group.
struct GrouplessReader {
    consumer: BaseConsumer<super::SecurityErrors>,
}

impl GrouplessReader {
    fn open(mut config: rdkafka::ClientConfig, group: &str) -> Result<Self, SourceError> {
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false");
        let consumer = config
            .create_with_context(super::SecurityErrors::default())
            .map_err(|e| SourceError::connection_from(super::client_error(&e), e))?;
        Ok(GrouplessReader { consumer })
    }

    /// A failure of `what`, with the authentication/TLS failure behind it.
    fn error(&self, what: String, e: rdkafka::error::KafkaError) -> SourceError {
        SourceError::connection_from(self.consumer.context().explain(what), e)
    }

    /// The partitions of `topic` (none if it does not exist).
    fn partitions(&self, topic: &str) -> Result<Vec<i32>, SourceError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .map_err(|e| self.error(format!("metadata of topic {topic}"), e))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect())
    }
}
