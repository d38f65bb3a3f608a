//! `KafkaSource`: a consumer-group member that hands out micro-batches and
//! commits offsets only when told to.
//!
//! Auto-commit and auto offset store are off: the engine commits a batch's
//! end offsets after every sink acknowledged it, so a crash replays a batch
//! rather than losing it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ember_engine::source::{OffsetRanges, RawRecord, Source, SourceError};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::config::{KafkaSourceConfig, StartingOffsets};

const METADATA_TIMEOUT: Duration = Duration::from_secs(15);

/// Logs group membership changes, which explain pauses in the stream,
/// and keeps authentication/TLS failures to explain connection errors.
#[derive(Default)]
pub struct SourceContext {
    security: super::SecurityErrors,
}

impl ClientContext for SourceContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.security.error(error, reason);
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = ?partitions(tpl), "partitions assigned")
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = ?partitions(tpl), "partitions revoked")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    /// The outcome of an asynchronous group-offset commit (see
    /// `KafkaSource::commit`): a failure only delays the mirror.
    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        if let Err(e) = result {
            tracing::warn!(partitions = ?partitions(offsets), error = %e, "group offset commit failed; the checkpoint has the batch");
        }
    }
}

/// The partition numbers of a list, for the logs: which partitions an
/// instance holds is what an operator of several instances asks first.
fn partitions(list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

type Inner = StreamConsumer<SourceContext>;

/// An offset per partition.
type PartitionOffsets = BTreeMap<i32, i64>;

/// Reads one topic as a member of a consumer group.
pub struct KafkaSource {
    consumer: Arc<Inner>,
    /// The client settings, for the short-lived replay reader.
    client: rdkafka::ClientConfig,
    topic: String,
    brokers: String,
    /// Available-now runs only: each partition's end offset seen at start.
    end_offsets: Option<BTreeMap<i32, i64>>,
    /// The next offset to process, per partition, as far as known.
    positions: BTreeMap<i32, i64>,
    paused: HashSet<i32>,
}

impl KafkaSource {
    /// Joins `group_id` on the configured topic. With `available_now`, the
    /// end offsets of every partition are fixed now, and the source is
    /// finished once every partition reached its end.
    pub async fn connect(
        config: &KafkaSourceConfig,
        group_id: &str,
        available_now: bool,
    ) -> Result<Self, SourceError> {
        let mut client = super::client_config(&config.brokers, &config.security, []);
        client
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", config.starting_offsets.as_reset())
            .set("enable.partition.eof", "false")
            // A crashed instance's partitions move to the others after
            // this long: the brokers' minimum by default, since heartbeats
            // come from librdkafka's own thread and batches never block them.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            // Bound what librdkafka prefetches: memory stays flat whatever
            // the backlog and the number of partitions (the bound is for the
            // whole consumer queue), and backpressure comes from max_records,
            // not buffers. Measured on 1M records, 8 partitions (peak RSS,
            // wall): 32 MiB 231-236 MB; 16 MiB 194 MB at the same speed;
            // 8 MiB 172 MB; 4 MiB 127-139 MB but 10-20% slower; 1 MiB
            // starves the fetches (3x as long). `options` may override it.
            .set("queued.max.messages.kbytes", "16384");
        for (k, v) in config.options.iter() {
            client.set(k, v);
        }
        let replay_client = client.clone();
        let check = client.clone();
        tokio::task::spawn_blocking(move || super::preflight(&check, None, METADATA_TIMEOUT))
            .await
            .map_err(|e| SourceError::Other(e.to_string()))?
            .map_err(SourceError::Connection)?;
        let consumer: Inner = client
            .create_with_context(SourceContext::default())
            .map_err(|e| SourceError::Connection(super::client_error(&e)))?;
        let consumer = Arc::new(consumer);
        consumer
            .subscribe(&[&config.topic])
            .map_err(|e| SourceError::Connection(super::client_error(&e)))?;

        let mut source = KafkaSource {
            consumer,
            client: replay_client,
            topic: config.topic.clone(),
            brokers: config.brokers.clone(),
            end_offsets: None,
            positions: BTreeMap::new(),
            paused: HashSet::new(),
        };
        if available_now {
            source.fix_end_offsets(config.starting_offsets).await?;
        }
        Ok(source)
    }

    /// Records, per partition, where this run starts and where it ends.
    async fn fix_end_offsets(&mut self, starting: StartingOffsets) -> Result<(), SourceError> {
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        let (ends, starts) =
            tokio::task::spawn_blocking(move || bounds(&consumer, &topic, starting))
                .await
                .map_err(|e| SourceError::Other(super::client_error(&e)))??;
        tracing::info!(topic = %self.topic, partitions = ends.len(), "available-now: end offsets fixed");
        self.positions = starts;
        self.end_offsets = Some(ends);
        Ok(())
    }

    fn finished(&self) -> bool {
        match &self.end_offsets {
            Some(ends) => ends
                .iter()
                .all(|(p, end)| self.positions.get(p).is_some_and(|pos| pos >= end)),
            None => false,
        }
    }

    fn pause(&mut self, partition: i32) {
        if self.paused.insert(partition) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&self.topic, partition);
            if let Err(e) = self.consumer.pause(&tpl) {
                tracing::debug!(partition, error = %e, "pause failed");
            }
        }
    }
}

/// A connection error, with the authentication/TLS failure behind it.
fn connection_error(consumer: &Inner, e: &KafkaError) -> SourceError {
    SourceError::Connection(consumer.context().security.explain(super::client_error(e)))
}

/// End offsets (high watermarks) and start positions of every partition.
fn bounds(
    consumer: &Inner,
    topic: &str,
    starting: StartingOffsets,
) -> Result<(PartitionOffsets, PartitionOffsets), SourceError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(|e| connection_error(consumer, &e))?;
    let Some(meta) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(SourceError::Other(format!("topic `{topic}` not found")));
    };
    if let Some(err) = meta.error() {
        return Err(SourceError::Other(format!(
            "topic `{topic}`: {:?}",
            rdkafka::types::RDKafkaErrorCode::from(err)
        )));
    }
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    let mut lows = BTreeMap::new();
    for p in meta.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), METADATA_TIMEOUT)
            .map_err(|e| connection_error(consumer, &e))?;
        ends.insert(p.id(), high);
        lows.insert(p.id(), low);
        tpl.add_partition(topic, p.id());
    }
    // A group's coordinator may still be loading (a new group, a restarted
    // broker): that answer is transient, so ask again for a while.
    let started = Instant::now();
    let committed = loop {
        match consumer.committed_offsets(tpl.clone(), METADATA_TIMEOUT) {
            Ok(c) => break c,
            Err(e) if started.elapsed() < METADATA_TIMEOUT * 2 => {
                tracing::debug!(error = %e, "committed offsets not available yet; retrying");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => return Err(connection_error(consumer, &e)),
        }
    };
    let mut starts = BTreeMap::new();
    for (&p, &high) in &ends {
        let low = lows[&p];
        let start = match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(n)) if n < low => {
                tracing::warn!(partition = p, committed = n, earliest = low, "committed offset no longer exists; records were deleted before they were processed");
                low
            }
            Some(Offset::Offset(n)) => n,
            _ => match starting {
                StartingOffsets::Earliest => low,
                StartingOffsets::Latest => high,
            },
        };
        starts.insert(p, start);
    }
    Ok((ends, starts))
}

#[async_trait]
impl Source for KafkaSource {
    async fn next_batch(
        &mut self,
        max_records: usize,
        deadline: Instant,
    ) -> Result<Option<Vec<RawRecord>>, SourceError> {
        let mut out = Vec::new();
        loop {
            if let Some(reason) = self.consumer.context().security.authentication_failure() {
                return Err(SourceError::Connection(reason));
            }
            if self.finished() {
                return Ok((!out.is_empty()).then_some(out));
            }
            if out.len() >= max_records {
                return Ok(Some(out));
            }
            let message = match tokio::time::timeout_at(deadline.into(), self.consumer.recv()).await
            {
                Err(_) => {
                    if let Some(reason) = self.consumer.context().security.authentication_failure()
                    {
                        return Err(SourceError::Connection(reason));
                    }
                    return Ok(Some(out));
                }
                Ok(Err(e)) => {
                    if let KafkaError::MessageConsumptionFatal(code) = e {
                        return Err(SourceError::Connection(code.to_string()));
                    }
                    // Broker restarts and transport errors: librdkafka
                    // reconnects by itself; keep polling, but not hot.
                    tracing::warn!(error = %e, "kafka consume error; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Ok(Ok(m)) => m,
            };
            let (partition, offset) = (message.partition(), message.offset());
            let end = self
                .end_offsets
                .as_ref()
                .and_then(|e| e.get(&partition))
                .copied();
            if end.is_some_and(|end| offset >= end) {
                self.pause(partition);
                continue;
            }
            out.push(RawRecord {
                partition,
                offset,
                timestamp_ms: message.timestamp().to_millis(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
            });
            self.positions.insert(partition, offset + 1);
            if end.is_some_and(|end| offset + 1 >= end) {
                self.pause(partition);
            }
        }
    }

    async fn commit(&mut self, ranges: &OffsetRanges) -> Result<(), SourceError> {
        if ranges.is_empty() {
            return Ok(());
        }
        // What is committed is consumed, whether or not this consumer read
        // it: a batch replayed from the checkpoint was read by the replay
        // reader, and once its end is committed the group consumer starts
        // past it. An available-now run must count it as done.
        for (&partition, range) in ranges {
            let position = self.positions.entry(partition).or_insert(range.end);
            *position = (*position).max(range.end);
            let end = self.end_offsets.as_ref().and_then(|e| e.get(&partition));
            if end.is_some_and(|&end| range.end >= end) {
                self.pause(partition);
            }
        }
        let mut tpl = TopicPartitionList::new();
        for (&partition, range) in ranges {
            tpl.add_partition_offset(&self.topic, partition, Offset::Offset(range.end))
                .map_err(|e| SourceError::Commit(super::client_error(&e)))?;
        }
        // The group offsets only mirror the checkpoint, so the commit is
        // asynchronous: it never holds the pipeline up (a synchronous one can
        // wait indefinitely when the coordinator goes away mid-request), and
        // no second thread works the consumer while it rejoins its group.
        // A commit that fails is logged by the context; the next batch's
        // carries the partition's newer offset anyway.
        self.consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(|e| SourceError::Commit(super::client_error(&e)))
    }

    async fn fetch_ranges(&mut self, ranges: &OffsetRanges) -> Result<Vec<RawRecord>, SourceError> {
        let mut client = self.client.clone();
        // A reader outside the group: it must not join it or commit for it.
        client
            .set("group.id", "ember-replay-reader")
            .set("enable.auto.commit", "false");
        let topic = self.topic.clone();
        let ranges = ranges.clone();
        tokio::task::spawn_blocking(move || read_ranges(&client, &topic, &ranges))
            .await
            .map_err(|e| SourceError::Other(super::client_error(&e)))?
    }

    async fn earliest_offset(&mut self, partition: i32) -> Result<i64, SourceError> {
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            consumer
                .fetch_watermarks(&topic, partition, METADATA_TIMEOUT)
                .map(|(low, _)| low)
                .map_err(|e| SourceError::Connection(super::client_error(&e)))
        })
        .await
        .map_err(|e| SourceError::Other(super::client_error(&e)))?
    }

    fn assignment(&self) -> Option<Vec<i32>> {
        // librdkafka's local view of the group assignment: no round trip.
        let list = self.consumer.assignment().ok()?;
        Some(
            list.elements()
                .iter()
                .filter(|e| e.topic() == self.topic)
                .map(|e| e.partition())
                .collect(),
        )
    }

    fn describe(&self) -> String {
        format!("kafka {}@{}", self.topic, self.brokers)
    }
}

/// Reads exactly `[start, end)` of each partition with an assigned (not
/// subscribed) consumer.
fn read_ranges(
    client: &rdkafka::ClientConfig,
    topic: &str,
    ranges: &OffsetRanges,
) -> Result<Vec<RawRecord>, SourceError> {
    use rdkafka::consumer::BaseConsumer;
    let consumer: BaseConsumer = client
        .create()
        .map_err(|e| SourceError::Connection(super::client_error(&e)))?;
    let mut tpl = TopicPartitionList::new();
    for (&p, r) in ranges {
        tpl.add_partition_offset(topic, p, Offset::Offset(r.start))
            .map_err(|e| SourceError::Other(super::client_error(&e)))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| SourceError::Connection(super::client_error(&e)))?;
    let mut next: BTreeMap<i32, i64> = ranges.iter().map(|(&p, r)| (p, r.start)).collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ranges.iter().any(|(p, r)| next[p] < r.end) {
        if Instant::now() > deadline {
            return Err(SourceError::Other(format!(
                "replay of {ranges:?} did not complete within 120 s"
            )));
        }
        let Some(result) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = result.map_err(|e| SourceError::Connection(super::client_error(&e)))?;
        let (p, o) = (m.partition(), m.offset());
        let Some(range) = ranges.get(&p) else {
            continue;
        };
        if o < range.start {
            continue;
        }
        if o >= range.end {
            // The range's last records are gone (compaction) or were
            // transaction markers: a record past it means it is complete.
            next.insert(p, range.end);
            continue;
        }
        next.insert(p, o + 1);
        out.push(RawRecord {
            partition: p,
            offset: o,
            timestamp_ms: m.timestamp().to_millis(),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
        });
    }
    Ok(out)
}
