//! The seam between the engine and whatever delivers records.

use std::collections::BTreeMap;
use std::time::Instant;

use async_trait::async_trait;

/// One record as the source delivered it: bytes untouched, so a dead letter
/// can carry them byte-for-byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch (the Kafka record timestamp), if any.
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    /// `None` for a tombstone.
    pub value: Option<Vec<u8>>,
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

/// An error from a source; the engine stops on it without committing.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source connection failed: {0}")]
    Connection(String),
    #[error("offset commit failed: {0}")]
    Commit(String),
    #[error("data loss: {0}")]
    DataLoss(String),
    #[error("{0}")]
    Other(String),
}

/// Where records come from.
#[async_trait]
pub trait Source: Send {
    /// Collects the next batch: returns once `max_records` records are in
    /// hand or `deadline` has passed (possibly with none). Returns `None`
    /// when the source is finished (an available-now run reached the end
    /// offsets it saw at start).
    async fn next_batch(
        &mut self,
        max_records: usize,
        deadline: Instant,
    ) -> Result<Option<Vec<RawRecord>>, SourceError>;

    /// Marks everything up to each range's end as processed. Called only
    /// after every sink acknowledged the batch.
    async fn commit(&mut self, ranges: &OffsetRanges) -> Result<(), SourceError>;

    /// Reads exactly the records in `ranges` (a replay of a planned batch),
    /// independently of the stream `next_batch` delivers.
    async fn fetch_ranges(&mut self, ranges: &OffsetRanges) -> Result<Vec<RawRecord>, SourceError>;

    /// The earliest offset still stored for a partition: below it, records
    /// were deleted (retention) and can never be read.
    async fn earliest_offset(&mut self, partition: i32) -> Result<i64, SourceError>;

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
