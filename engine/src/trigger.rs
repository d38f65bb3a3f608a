//! When a micro-batch closes.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::{parse_duration, DurationError};

/// The trigger of a pipeline, as in Spark's `trigger(...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Run forever; a batch closes when it holds `max_records` records or
    /// when this much time has passed since it opened.
    ProcessingTime(Duration),
    /// Process everything up to the end offsets seen at start, then exit.
    AvailableNow,
}

/// How long an available-now batch waits for more records before it closes.
pub const AVAILABLE_NOW_LINGER: Duration = Duration::from_millis(200);

impl Trigger {
    /// When the batch that starts collecting at `now` closes (unless it
    /// fills up first): one interval later, or, available-now, after a
    /// brief linger for records still in flight from the broker.
    pub fn close_from(&self, now: Instant) -> Instant {
        match self {
            Trigger::ProcessingTime(interval) => now + *interval,
            Trigger::AvailableNow => now + AVAILABLE_NOW_LINGER,
        }
    }
}

impl Trigger {
    /// When the next batch closes, given when the one before it closed.
    /// A processing-time trigger fires on a fixed schedule, as Spark's does:
    /// one interval after the previous close, so the time a batch took to
    /// process counts towards the next one's interval instead of adding to
    /// it. A batch that overran the interval is followed at once by one
    /// that takes only what is already waiting, so records that arrived
    /// meanwhile do not wait a whole extra interval.
    pub fn next_close(&self, previous: Option<Instant>, now: Instant) -> Instant {
        match (self, previous) {
            (Trigger::ProcessingTime(interval), Some(previous)) => (previous + *interval).max(now),
            _ => self.close_from(now),
        }
    }
}

impl Default for Trigger {
    fn default() -> Self {
        Trigger::ProcessingTime(Duration::from_millis(500))
    }
}

/// A trigger that is neither a duration nor `available-now`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trigger {text:?}: {source} (expected a duration like \"500ms\", \"2s\", \"1m\", or \"available-now\")")]
pub struct TriggerError {
    pub text: String,
    #[source]
    pub source: DurationError,
}

impl FromStr for Trigger {
    type Err = TriggerError;

    fn from_str(s: &str) -> Result<Self, TriggerError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("available-now") || s.eq_ignore_ascii_case("availablenow") {
            return Ok(Trigger::AvailableNow);
        }
        parse_duration(s)
            .map(Trigger::ProcessingTime)
            .map_err(|source| TriggerError {
                text: s.to_string(),
                source,
            })
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::AvailableNow => f.write_str("available-now"),
            Trigger::ProcessingTime(d) => write!(f, "{}ms", d.as_millis()),
        }
    }
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Trigger {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_processing_time_trigger_keeps_its_schedule_and_catches_up_at_once() {
        let trigger = Trigger::ProcessingTime(Duration::from_millis(100));
        let t0 = Instant::now();
        // The first batch: a whole interval from now.
        assert_eq!(
            trigger.next_close(None, t0),
            t0 + Duration::from_millis(100)
        );
        // Processed in 30 ms: the next closes 100 ms after the last close,
        // not 100 ms after processing ended.
        let closed = t0 + Duration::from_millis(100);
        assert_eq!(
            trigger.next_close(Some(closed), closed + Duration::from_millis(30)),
            closed + Duration::from_millis(100)
        );
        // Processed in 250 ms: the next closes now, with what is waiting.
        let late = closed + Duration::from_millis(250);
        assert_eq!(trigger.next_close(Some(closed), late), late);
        // Available-now lingers from now whatever came before.
        assert_eq!(
            Trigger::AvailableNow.next_close(Some(closed), late),
            late + AVAILABLE_NOW_LINGER
        );
    }

    #[test]
    fn parses_triggers() {
        assert_eq!("available-now".parse(), Ok(Trigger::AvailableNow));
        assert_eq!(
            "soon".parse::<Trigger>().unwrap_err().to_string(),
            "invalid trigger \"soon\": bad number \"\" (expected a duration like \"500ms\", \"2s\", \"1m\", or \"available-now\")"
        );
        assert_eq!(
            "500ms".parse(),
            Ok(Trigger::ProcessingTime(Duration::from_millis(500)))
        );
        assert_eq!(
            "1.5s".parse(),
            Ok(Trigger::ProcessingTime(Duration::from_millis(1500)))
        );
        assert!("5 parsecs".parse::<Trigger>().is_err());
        assert!("0s".parse::<Trigger>().is_err());
        assert!("ms".parse::<Trigger>().is_err());
    }
}
