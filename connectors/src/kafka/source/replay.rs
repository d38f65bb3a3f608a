//! The replay reader: exactly the offsets of a planned batch, read with an
//! assigned consumer outside the group, piece by piece.

use std::time::{Duration, Instant};

use ember_engine::source::{record_bytes, BatchBounds, OffsetRanges, RawRecord, SourceError};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{raw_record, PayloadArena};

/// How long a replay read may go without a record before it fails: not a
/// bound on the whole read, which grows with the plan (a large replay that
/// keeps making progress must not fail), but on a stall (the broker gone,
/// the partition unreadable).
const REPLAY_STALL: Duration = Duration::from_secs(120);

/// One wait for the next record of a replay: short, so a stall is noticed.
const REPLAY_POLL: Duration = Duration::from_millis(500);

/// Reads `[start, end)` of each partition in partition order, one partition
/// at a time with an assigned (not subscribed) consumer, until the records
/// reach `bounds` or every range is read: the next piece of a replay, a
/// prefix in (partition, offset) order (see [`Source::fetch_ranges`]).
pub(super) fn read_ranges(
    client: &rdkafka::ClientConfig,
    topic: &str,
    ranges: &OffsetRanges,
    bounds: BatchBounds,
) -> Result<Vec<RawRecord>, SourceError> {
    let consumer: BaseConsumer = client
        .create()
        .map_err(|e| SourceError::connection_from(crate::kafka::client_error(&e), e))?;
    let mut out = Vec::new();
    let mut tally = bounds.tally();
    let mut arena = PayloadArena::default();
    for (&p, range) in ranges {
        if tally.full() {
            break;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(range.start))
            .map_err(|e| SourceError::other_from(crate::kafka::client_error(&e), e))?;
        consumer
            .assign(&tpl)
            .map_err(|e| SourceError::connection_from(crate::kafka::client_error(&e), e))?;
        let mut next = range.start;
        let mut progress = Instant::now();
        while next < range.end {
            if tally.full() {
                return Ok(out);
            }
            if progress.elapsed() > REPLAY_STALL {
                return Err(SourceError::Stalled(format!(
                    "replay of partition {p} {}..{}: no record for {} s at offset {next}",
                    range.start,
                    range.end,
                    REPLAY_STALL.as_secs()
                )));
            }
            let Some(result) = consumer.poll(REPLAY_POLL) else {
                continue;
            };
            let m = match result {
                Ok(m) => m,
                // The end of the log: what is left of the range is gone
                // (compaction) or was transaction markers.
                Err(KafkaError::PartitionEOF(at)) if at == p => break,
                Err(KafkaError::PartitionEOF(_)) => continue,
                Err(e) => {
                    return Err(SourceError::connection_from(
                        crate::kafka::client_error(&e),
                        e,
                    ))
                }
            };
            let o = m.offset();
            // Left over from the partition read before.
            if m.partition() != p || o < next {
                continue;
            }
            progress = Instant::now();
            if o >= range.end {
                // The range's last records are gone (compaction) or were
                // transaction markers: a record past it means it is complete.
                break;
            }
            next = o + 1;
            let record = raw_record(&m, &mut arena);
            tally.add(record_bytes(&record));
            out.push(record);
        }
    }
    Ok(out)
}
