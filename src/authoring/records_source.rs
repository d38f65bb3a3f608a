//! A [`Source`] over records already in memory (a local file's lines, a
//! sample read from the topic): what lets `ember preview` run the very
//! engine loop `ember run` runs, with no Kafka behind it.

use std::collections::BTreeMap;
use std::time::Instant;

use async_trait::async_trait;
use ember_engine::source::{
    record_bytes, BatchBounds, OffsetRanges, RawRecord, Source, SourceError,
};

/// Delivers its records once, in (partition, offset) order, then reports
/// itself finished (like an available-now run at its end offsets).
#[derive(Debug)]
pub struct RecordsSource {
    records: Vec<RawRecord>,
    /// Per partition, the offset the next delivered record must reach.
    position: BTreeMap<i32, i64>,
    /// Index of the first record not yet looked at.
    next: usize,
    what: String,
}

impl RecordsSource {
    pub fn new(mut records: Vec<RawRecord>, what: impl Into<String>) -> Self {
        records.sort_by_key(|r| (r.partition, r.offset));
        RecordsSource {
            records,
            position: BTreeMap::new(),
            next: 0,
            what: what.into(),
        }
    }

    fn wanted(&self, r: &RawRecord) -> bool {
        self.position
            .get(&r.partition)
            .is_none_or(|&at| r.offset >= at)
    }
}

/// Whether `taken` records of `bytes` bytes reached `bounds`.
fn full(bounds: BatchBounds, taken: usize, bytes: u64) -> bool {
    taken >= bounds.max_records || bytes >= bounds.max_bytes
}

#[async_trait]
impl Source for RecordsSource {
    async fn next_batch(
        &mut self,
        bounds: BatchBounds,
        _deadline: Instant,
    ) -> Result<Option<Vec<RawRecord>>, SourceError> {
        let mut batch = Vec::new();
        let mut bytes = 0u64;
        while self.next < self.records.len() && !full(bounds, batch.len(), bytes) {
            let r = &self.records[self.next];
            self.next += 1;
            if self.wanted(r) {
                bytes += record_bytes(r);
                self.position.insert(r.partition, r.offset + 1);
                batch.push(r.clone());
            }
        }
        Ok((!batch.is_empty()).then_some(batch))
    }

    async fn commit(&mut self, _ranges: &OffsetRanges) -> Result<(), SourceError> {
        Ok(())
    }

    async fn fetch_ranges(
        &mut self,
        ranges: &OffsetRanges,
        bounds: BatchBounds,
    ) -> Result<Vec<RawRecord>, SourceError> {
        let mut piece = Vec::new();
        let mut bytes = 0u64;
        for r in &self.records {
            if full(bounds, piece.len(), bytes) {
                break;
            }
            if ranges
                .get(&r.partition)
                .is_some_and(|range| range.start <= r.offset && r.offset < range.end)
            {
                bytes += record_bytes(r);
                piece.push(r.clone());
            }
        }
        Ok(piece)
    }

    async fn earliest_offset(&mut self, partition: i32) -> Result<i64, SourceError> {
        // Nothing before the first record is "deleted": it was never part
        // of the sample.
        Ok(self
            .records
            .iter()
            .find(|r| r.partition == partition)
            .map_or(0, |r| r.offset))
    }

    async fn resume_at(&mut self, positions: &BTreeMap<i32, i64>) -> Result<(), SourceError> {
        for (&p, &at) in positions {
            self.position.insert(p, at);
        }
        // Records of a partition moved back are delivered again.
        self.next = 0;
        Ok(())
    }

    fn describe(&self) -> String {
        self.what.clone()
    }
}
