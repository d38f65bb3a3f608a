//! The seam between the engine and whatever delivers records.

use std::collections::BTreeMap;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;

pub use crate::bounds::{record_bytes, BatchBounds, ByteSize};

/// One record as the source delivered it: bytes untouched, so a dead letter
/// can carry them byte-for-byte. Key and value are [`Bytes`]: a source can
/// copy a whole batch's payloads into a few shared buffers rather than
/// allocate two per record, and a dead letter or a kept tombstone shares
/// them instead of copying again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch (the Kafka record timestamp), if any.
    pub timestamp_ms: Option<i64>,
    pub key: Option<Bytes>,
    /// `None` for a tombstone.
    pub value: Option<Bytes>,
}

/// The offsets `[start, end)` of one partition covered by a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OffsetRange {
    pub start: i64,
    pub end: i64,
}

/// Per-partition offset ranges of a batch.
pub type OffsetRanges = BTreeMap<i32, OffsetRange>;

/// Computes the ranges a set of records covers.
pub fn ranges_of(records: &[RawRecord]) -> OffsetRanges {
    let mut ranges = OffsetRanges::new();
    for r in records {
        ranges
            .entry(r.partition)
            .and_modify(|range| {
                range.start = range.start.min(r.offset);
                range.end = range.end.max(r.offset + 1);
            })
            .or_insert(OffsetRange {
                start: r.offset,
                end: r.offset + 1,
            });
    }
    ranges
}

/// What is left of `ranges` to read after `last`, the last record of a
/// piece read from their start in (partition, offset) order: the ranges of
/// later partitions, and the rest of `last`'s.
pub fn ranges_after(ranges: &OffsetRanges, last: &RawRecord) -> OffsetRanges {
    let mut rest = OffsetRanges::new();
    for (&p, r) in ranges.range(last.partition..) {
        let start = if p == last.partition {
            r.start.max(last.offset + 1)
        } else {
            r.start
        };
        if start < r.end {
            rest.insert(p, OffsetRange { start, end: r.end });
        }
    }
    rest
}

/// The error behind a source's, kept for `Error::source` chains.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error from a source; the engine stops on it without committing.
/// Messages are already fit to show (secrets scrubbed, an authentication or
/// TLS failure named); the error they came from is kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source cannot be reached, or refused this client.
    #[error("source connection failed: {message}")]
    Connection {
        message: String,
        #[source]
        cause: Option<BoxError>,
    },
    /// Group offsets could not be committed.
    #[error("offset commit failed: {message}")]
    Commit {
        message: String,
        #[source]
        cause: Option<BoxError>,
    },
    #[error("data loss: {0}")]
    DataLoss(String),
    /// The topic is missing, or its metadata says it cannot be read.
    #[error("topic `{topic}` {problem}")]
    Topic { topic: String, problem: String },
    /// A replay read stopped making progress.
    #[error("{0}")]
    Stalled(String),
    /// A blocking task of the source did not run to its end.
    #[error("source task failed: {0}")]
    Task(#[source] BoxError),
    /// Anything else a source reports (a test's scripted failure, a
    /// librdkafka call that failed outside a connection).
    #[error("{message}")]
    Other {
        message: String,
        #[source]
        cause: Option<BoxError>,
    },
}

impl SourceError {
    /// A connection failure with no error behind it.
    pub fn connection(message: impl Into<String>) -> Self {
        SourceError::Connection {
            message: message.into(),
            cause: None,
        }
    }

    /// A connection failure, shown as `message`, caused by `cause`.
    pub fn connection_from(
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SourceError::Connection {
            message: message.into(),
            cause: Some(Box::new(cause)),
        }
    }

    /// A commit failure, shown as `message`, caused by `cause`.
    pub fn commit_from(
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SourceError::Commit {
            message: message.into(),
            cause: Some(Box::new(cause)),
        }
    }

    /// Any other failure, shown as `message`, caused by `cause`.
    pub fn other_from(
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SourceError::Other {
            message: message.into(),
            cause: Some(Box::new(cause)),
        }
    }

    /// A blocking task of the source that panicked or was cancelled.
    pub fn task(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        SourceError::Task(Box::new(e))
    }
}

/// Where records come from.
#[async_trait]
pub trait Source: Send {
    /// Collects the next batch: returns once the records in hand reach
    /// `bounds` (`max_records` records, or `max_bytes` of keys and values:
    /// the record that reaches a bound is included, so one record larger
    /// than `max_bytes` is a batch of its own) or `deadline` has passed
    /// (possibly with none). Returns `None` when the source is finished (an
    /// available-now run reached the end offsets it saw at start).
    async fn next_batch(
        &mut self,
        bounds: BatchBounds,
        deadline: Instant,
    ) -> Result<Option<Vec<RawRecord>>, SourceError>;

    /// Marks everything up to each range's end as processed. Called only
    /// after every sink acknowledged the batch.
    async fn commit(&mut self, ranges: &OffsetRanges) -> Result<(), SourceError>;

    /// Reads the next piece of a replay of a planned batch, independently
    /// of the stream `next_batch` delivers: the records of `ranges` in
    /// (partition, offset) order from the start of the first range, until
    /// the piece reaches `bounds` (as in `next_batch`, the record that
    /// reaches a bound is included) or every range is read. So a piece is
    /// always a prefix of what is left: the engine asks again with the
    /// ranges after the piece's last record, until a piece comes back
    /// empty or nothing is left, and never holds more than one piece.
    /// Offsets missing from a range (compaction, transaction markers) are
    /// skipped; a read that stops making progress is an error.
    async fn fetch_ranges(
        &mut self,
        ranges: &OffsetRanges,
        bounds: BatchBounds,
    ) -> Result<Vec<RawRecord>, SourceError>;

    /// The earliest offset still stored for a partition: below it, records
    /// were deleted (retention) and can never be read.
    async fn earliest_offset(&mut self, partition: i32) -> Result<i64, SourceError>;

    /// Continues each partition at the given offset: the checkpoint, not
    /// the source's own bookkeeping (Kafka group offsets, which can vanish
    /// or expire, or `starting_offsets`), decides where a partition the
    /// checkpoint knows carries on. A partition this instance reads now is
    /// moved there at once, and whatever was fetched from elsewhere is
    /// discarded; any other starts there when it is assigned. The source
    /// keeps each position up to date with the ends it is told to
    /// [`commit`](Source::commit).
    async fn resume_at(&mut self, positions: &BTreeMap<i32, i64>) -> Result<(), SourceError>;

    /// The partitions this instance currently owns, if the source knows (a
    /// member of a consumer group does). `None` means the source has no
    /// group: uncommitted plans are then replayed at start, all of them.
    /// Otherwise a plan is replayed by the instance its partitions are
    /// assigned to, gathered whole from them.
    fn assignment(&self) -> Option<Vec<i32>> {
        None
    }

    /// A short description for logs (`kafka users_created@127.0.0.1:9092`).
    fn describe(&self) -> String;
}
