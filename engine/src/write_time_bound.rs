//! A planned write time may not run ahead of the clock by more than a
//! configured skew.
//!
//! Write times only grow: each batch is planned above every earlier batch's
//! rows (the checkpoint's `write_time_end` per partition), so a replay can
//! never overwrite newer data. The flip side is that one batch planned while
//! a clock was far ahead (an NTP step, a VM restored with a wrong clock)
//! pins every later batch on those partitions, on every instance, that far
//! ahead — and any write made at the real time (an operator's `DELETE`, a
//! repair job) then loses against Ember's rows until the clock catches up.
//! Continuing silently would hide that; so a plan more than the skew ahead
//! of this machine's clock stops the job, naming the partitions whose floor
//! is ahead and what to do (README, "Write times and clock jumps").

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::write_time::WriteTime;

/// How far a planned write time may be ahead of the clock: `max_write_time_skew`
/// in the pipeline file. The default leaves room for clocks of several
/// instances that differ by seconds and for the microseconds a batch adds
/// per row, and still catches a jump of hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxWriteTimeSkew(pub Duration);

impl MaxWriteTimeSkew {
    pub const DEFAULT: MaxWriteTimeSkew = MaxWriteTimeSkew(Duration::from_secs(10 * 60));

    fn as_micros(self) -> i64 {
        i64::try_from(self.0.as_micros()).unwrap_or(i64::MAX)
    }
}

impl Default for MaxWriteTimeSkew {
    fn default() -> Self {
        MaxWriteTimeSkew::DEFAULT
    }
}

impl fmt::Display for MaxWriteTimeSkew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human(self.0))
    }
}

impl<'de> Deserialize<'de> for MaxWriteTimeSkew {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::duration::HumanDuration::deserialize(d).map(|d| MaxWriteTimeSkew(d.0))
    }
}

/// A plan refused because its write time is too far ahead of the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTimeAhead {
    /// The partitions whose floor is past the bound (the batch's own when
    /// none is).
    pub partitions: Vec<i32>,
    pub ahead_micros: i64,
    pub max_skew: MaxWriteTimeSkew,
}

impl std::error::Error for WriteTimeAhead {}

impl fmt::Display for WriteTimeAhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ahead = human(Duration::from_micros(self.ahead_micros.max(0) as u64));
        let partitions: Vec<String> = self.partitions.iter().map(i32::to_string).collect();
        write!(
            f,
            "the planned write time is {ahead} ahead of this machine's clock \
             (max_write_time_skew = {}): the checkpoint's write-time floor of partition(s) {} \
             was set by a clock that was ahead, or this clock is behind. If this clock is wrong, \
             fix it (NTP) and restart. If the floor is wrong, stop every instance, then either \
             raise max_write_time_skew above {ahead} to continue above the floor (Ember's own \
             writes stay ordered; writes made at the real time lose until the clock catches up), \
             or reset `write_time_end` in those partitions' checkpoint objects and rewrite the \
             rows written at the future time (README, \"Write times and clock jumps\")",
            self.max_skew,
            partitions.join(", ")
        )
    }
}

/// Refuses `planned` (microseconds) when it is more than `max_skew` ahead
/// of `now`; `floors` are the known partitions' `write_time_end`, to name
/// the culprits, and `batch` the batch's partitions, named when no floor is
/// past the bound (the lead then came from this process's own clock).
pub fn check_planned_write_time(
    planned: WriteTime,
    now: WriteTime,
    max_skew: MaxWriteTimeSkew,
    floors: impl Iterator<Item = (i32, WriteTime)>,
    batch: impl Iterator<Item = i32>,
) -> Result<(), WriteTimeAhead> {
    let bound = WriteTime::from_micros(now.as_micros().saturating_add(max_skew.as_micros()));
    if planned <= bound {
        return Ok(());
    }
    let mut partitions: Vec<i32> = floors
        .filter(|&(_, end)| end > bound)
        .map(|(p, _)| p)
        .collect();
    if partitions.is_empty() {
        partitions = batch.collect();
    }
    Err(WriteTimeAhead {
        partitions,
        ahead_micros: planned.micros_since(now),
        max_skew,
    })
}

/// `365d 0h`, `2h 5m`, `10m`, `12s`: enough to judge a clock jump.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) if seconds == 0 => format!("{minutes}m"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60 * 1_000_000;

    fn at(micros: i64) -> WriteTime {
        WriteTime::from_micros(micros)
    }

    #[test]
    fn a_write_time_within_the_skew_is_accepted() {
        let skew = MaxWriteTimeSkew::DEFAULT;
        let floors = [(0, at(5 * MINUTE))];
        assert_eq!(
            check_planned_write_time(
                at(9 * MINUTE),
                at(0),
                skew,
                floors.into_iter(),
                [0].into_iter()
            ),
            Ok(())
        );
    }

    #[test]
    fn past_the_skew_the_partitions_ahead_are_named() {
        let skew = MaxWriteTimeSkew(Duration::from_secs(60));
        let floors = [
            (0, at(MINUTE / 2)),
            (4, at(90 * MINUTE)),
            (7, at(3 * MINUTE)),
        ];
        let err = check_planned_write_time(
            at(90 * MINUTE),
            at(0),
            skew,
            floors.into_iter(),
            [0].into_iter(),
        )
        .unwrap_err();
        assert_eq!(err.partitions, vec![4, 7]);
        let text = err.to_string();
        assert!(text.contains("1h 30m ahead"), "{text}");
        assert!(text.contains("max_write_time_skew = 1m"), "{text}");
        assert!(text.contains("partition(s) 4, 7"), "{text}");
    }

    #[test]
    fn without_a_floor_ahead_the_batch_partitions_are_named() {
        let skew = MaxWriteTimeSkew(Duration::from_secs(1));
        let err =
            check_planned_write_time(at(MINUTE), at(0), skew, [].into_iter(), [2, 3].into_iter())
                .unwrap_err();
        assert_eq!(err.partitions, vec![2, 3]);
    }
}
