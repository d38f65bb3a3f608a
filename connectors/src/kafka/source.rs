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
use ember_engine::source::{
    record_bytes, BatchBounds, OffsetRanges, RawRecord, Source, SourceError,
};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::config::{KafkaSourceConfig, StartingOffsets};

const METADATA_TIMEOUT: Duration = Duration::from_secs(15);

/// A crashed instance's partitions move to the others after this long: the
/// brokers' minimum by default, since heartbeats come from librdkafka's own
/// thread and batches never block them.
const SESSION_TIMEOUT_MS: &str = "6000";
const HEARTBEAT_INTERVAL_MS: &str = "1000";

/// What librdkafka may prefetch, for the whole consumer queue: memory stays
/// flat whatever the backlog and the number of partitions, and backpressure
/// comes from the batch bounds, not buffers. Measured on 1M records, 8
/// partitions (peak RSS, wall): 32 MiB 231-236 MB; 16 MiB 194 MB at the same
/// speed; 8 MiB 172 MB; 4 MiB 127-139 MB but 10-20% slower; 1 MiB starves
/// the fetches (3x as long). `[source.options]` may override it.
const CONSUMER_QUEUE_KBYTES: &str = "16384";

/// What one fetch may bring, in all and per partition. The queue bound
/// above is checked before a fetch, so a fetch of librdkafka's defaults
/// (50 MiB, 1 MiB per partition) overshoots it, and its decompression
/// buffers were most of the peak heap (heaptrack, 1M records: 60 MB of
/// `rd_kafka_lz4_decompress` of a 119 MB peak). Measured on 1M records, 8
/// partitions, interleaved: 4 MiB / 256 KiB peak RSS 137-140 MB against
/// 178-185 MB, at the same speed; with an 8 MiB queue as well, 119 MB but
/// 20% slower. `[source.options]` may override both.
const FETCH_MAX_BYTES: &str = "4194304";
const FETCH_PARTITION_MAX_BYTES: &str = "262144";

/// How often a group coordinator that is still loading is asked again.
const COORDINATOR_RETRY: Duration = Duration::from_millis(250);

/// The pause after a consume error (broker restarts, transport errors)
/// before polling again: librdkafka reconnects by itself, but not hot.
const CONSUME_ERROR_BACKOFF: Duration = Duration::from_millis(100);

mod context;
mod replay;

pub use context::SourceContext;
use replay::read_ranges;

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
    /// Where delivered payloads are copied (see [`PayloadArena`]).
    arena: PayloadArena,
}

/// How long a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadUntil {
    /// Forever: a continuous job.
    Stopped,
    /// The end offsets every partition has at start (available-now): the
    /// source is finished once every partition reached its end.
    EndAtStart,
}

impl KafkaSource {
    /// Joins `group_id` on the configured topic, reading as `until` says.
    pub async fn connect(
        config: &KafkaSourceConfig,
        group_id: &str,
        until: ReadUntil,
    ) -> Result<Self, SourceError> {
        let mut client = super::client_config(&config.brokers, &config.security, []);
        client
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", config.starting_offsets.as_reset())
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", SESSION_TIMEOUT_MS)
            .set("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS)
            .set("queued.max.messages.kbytes", CONSUMER_QUEUE_KBYTES)
            .set("fetch.max.bytes", FETCH_MAX_BYTES)
            .set("fetch.message.max.bytes", FETCH_PARTITION_MAX_BYTES);
        for (k, v) in config.options.iter() {
            client.set(k, v);
        }
        let replay_client = client.clone();
        let check = client.clone();
        tokio::task::spawn_blocking(move || super::preflight(&check, None, METADATA_TIMEOUT))
            .await
            .map_err(SourceError::task)?
            .map_err(|e| SourceError::connection_from(e.to_string(), e))?;
        let consumer: Inner = client
            .create_with_context(SourceContext::default())
            .map_err(|e| SourceError::connection_from(super::client_error(&e), e))?;
        let consumer = Arc::new(consumer);
        consumer
            .subscribe(&[&config.topic])
            .map_err(|e| SourceError::connection_from(super::client_error(&e), e))?;

        let mut source = KafkaSource {
            consumer,
            client: replay_client,
            topic: config.topic.to_string(),
            brokers: config.brokers.clone(),
            end_offsets: None,
            positions: BTreeMap::new(),
            paused: HashSet::new(),
            arena: PayloadArena::default(),
        };
        if until == ReadUntil::EndAtStart {
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
                .map_err(SourceError::task)??;
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

    fn unpause(&mut self, partition: i32) {
        if self.paused.remove(&partition) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&self.topic, partition);
            if let Err(e) = self.consumer.resume(&tpl) {
                tracing::debug!(partition, error = %e, "resume failed");
            }
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

/// A delivered message as the engine takes it: bytes copied untouched,
/// into `arena`.
fn raw_record(message: &impl Message, arena: &mut PayloadArena) -> RawRecord {
    RawRecord {
        partition: message.partition(),
        offset: message.offset(),
        timestamp_ms: message.timestamp().to_millis(),
        key: message.key().map(|k| arena.copy(k)),
        value: message.payload().map(|v| arena.copy(v)),
    }
}

/// Where delivered payloads are copied: chunks of [`ARENA_CHUNK`] bytes,
/// each record's key and value a shared slice of one. librdkafka's buffers
/// must be let go once a message is read, so the bytes are copied once; a
/// `Vec` per key and value made that two allocations and two frees per
/// record. Measured on 1M records, 8 partitions, interleaved on one cold
/// stack: 9.37 and 8.89 CPU-s with a `Vec` each, 7.91, 8.17 and 7.86 with
/// the arena; peak RSS 181 → 194 MB (chunks live until their last record
/// is dropped).
#[derive(Default)]
pub(crate) struct PayloadArena {
    chunk: bytes::BytesMut,
}

/// How much an arena allocates at a time. A chunk is freed when the last
/// record sharing it is dropped, i.e. once its batch is committed.
const ARENA_CHUNK: usize = 1 << 20;

impl PayloadArena {
    pub(crate) fn copy(&mut self, data: &[u8]) -> bytes::Bytes {
        if self.chunk.capacity() - self.chunk.len() < data.len() {
            // A new chunk: the filled one lives on in the slices cut from it.
            self.chunk = bytes::BytesMut::with_capacity(ARENA_CHUNK.max(data.len()));
        }
        self.chunk.extend_from_slice(data);
        self.chunk.split().freeze()
    }
}

/// A connection error, with the authentication/TLS failure behind it.
fn connection_error(consumer: &Inner, e: &KafkaError) -> SourceError {
    SourceError::connection_from(
        consumer.context().security.explain(super::client_error(e)),
        e.clone(),
    )
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
        return Err(SourceError::Topic {
            topic: topic.to_string(),
            problem: "not found".into(),
        });
    };
    if let Some(err) = meta.error() {
        return Err(SourceError::Topic {
            topic: topic.to_string(),
            problem: format!("{:?}", rdkafka::types::RDKafkaErrorCode::from(err)),
        });
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
                std::thread::sleep(COORDINATOR_RETRY);
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
        bounds: BatchBounds,
        deadline: Instant,
    ) -> Result<Option<Vec<RawRecord>>, SourceError> {
        let mut out = Vec::new();
        let mut tally = bounds.tally();
        loop {
            if let Some(reason) = self.consumer.context().security.authentication_failure() {
                return Err(SourceError::connection(reason));
            }
            if self.finished() {
                return Ok((!out.is_empty()).then_some(out));
            }
            if tally.full() {
                return Ok(Some(out));
            }
            let message = match tokio::time::timeout_at(deadline.into(), self.consumer.recv()).await
            {
                Err(_) => {
                    if let Some(reason) = self.consumer.context().security.authentication_failure()
                    {
                        return Err(SourceError::connection(reason));
                    }
                    return Ok(Some(out));
                }
                Ok(Err(e)) => {
                    if let KafkaError::MessageConsumptionFatal(code) = e {
                        return Err(SourceError::connection(code.to_string()));
                    }
                    // Broker restarts and transport errors: librdkafka
                    // reconnects by itself; keep polling, but not hot.
                    tracing::warn!(error = %e, "kafka consume error; retrying");
                    tokio::time::sleep(CONSUME_ERROR_BACKOFF).await;
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
            let record = raw_record(&message, &mut self.arena);
            tally.add(record_bytes(&record));
            out.push(record);
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
        {
            let mut book = self.consumer.context().resume_book();
            for (&partition, range) in ranges {
                let at = book.entry(partition).or_insert(range.end);
                *at = (*at).max(range.end);
            }
        }
        let mut tpl = TopicPartitionList::new();
        for (&partition, range) in ranges {
            tpl.add_partition_offset(&self.topic, partition, Offset::Offset(range.end))
                .map_err(|e| SourceError::commit_from(super::client_error(&e), e))?;
        }
        // The group offsets only mirror the checkpoint, so the commit is
        // asynchronous: it never holds the pipeline up (a synchronous one can
        // wait indefinitely when the coordinator goes away mid-request), and
        // no second thread works the consumer while it rejoins its group.
        // A commit that fails is logged by the context; the next batch's
        // carries the partition's newer offset anyway.
        self.consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(|e| SourceError::commit_from(super::client_error(&e), e))
    }

    async fn fetch_ranges(
        &mut self,
        ranges: &OffsetRanges,
        bounds: BatchBounds,
    ) -> Result<Vec<RawRecord>, SourceError> {
        let mut client = self.client.clone();
        // A reader outside the group: it must not join it or commit for it.
        // Offsets deleted between the engine's retention check and the
        // read are an error, not a silent jump to `starting_offsets`. The
        // end of a partition is reported, so a range whose last offsets
        // are gone (compaction) with nothing after them completes at once.
        client
            .set("group.id", "ember-replay-reader")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "error")
            .set("enable.partition.eof", "true");
        let topic = self.topic.clone();
        let ranges = ranges.clone();
        tokio::task::spawn_blocking(move || read_ranges(&client, &topic, &ranges, bounds))
            .await
            .map_err(SourceError::task)?
    }

    async fn earliest_offset(&mut self, partition: i32) -> Result<i64, SourceError> {
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            consumer
                .fetch_watermarks(&topic, partition, METADATA_TIMEOUT)
                .map(|(low, _)| low)
                .map_err(|e| SourceError::connection_from(super::client_error(&e), e))
        })
        .await
        .map_err(SourceError::task)?
    }

    async fn resume_at(&mut self, positions: &BTreeMap<i32, i64>) -> Result<(), SourceError> {
        self.consumer
            .context()
            .resume_book()
            .extend(positions.iter().map(|(&p, &at)| (p, at)));
        if let Some(ends) = self.end_offsets.clone() {
            for (&partition, &at) in positions {
                self.positions.insert(partition, at);
                if ends.get(&partition).is_some_and(|&end| at < end) {
                    self.unpause(partition);
                } else {
                    self.pause(partition);
                }
            }
        }
        // Assigned partitions are moved now; the rest start from the book
        // when they are assigned. A seek also drops what was prefetched
        // from the old position (librdkafka's version barrier).
        let assigned = self.assignment().unwrap_or_default();
        let moves: Vec<(i32, i64)> = positions
            .iter()
            .filter(|(p, _)| assigned.contains(p))
            .map(|(&p, &at)| (p, at))
            .collect();
        if moves.is_empty() {
            return Ok(());
        }
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            for (partition, at) in moves {
                consumer
                    .seek(&topic, partition, Offset::Offset(at), METADATA_TIMEOUT)
                    .map_err(|e| {
                        let message = format!(
                            "moving partition {partition} to offset {at}: {}",
                            super::client_error(&e)
                        );
                        SourceError::connection_from(message, e)
                    })?;
            }
            Ok(())
        })
        .await
        .map_err(SourceError::task)?
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
