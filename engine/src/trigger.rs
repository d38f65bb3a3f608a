//! When a micro-batch closes.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

impl Default for Trigger {
    fn default() -> Self {
        Trigger::ProcessingTime(Duration::from_millis(500))
    }
}

impl FromStr for Trigger {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("available-now") || s.eq_ignore_ascii_case("availablenow") {
            return Ok(Trigger::AvailableNow);
        }
        parse_duration(s).map(Trigger::ProcessingTime).map_err(|e| {
            format!("invalid trigger {s:?}: {e} (expected a duration like \"500ms\", \"2s\", \"1m\", or \"available-now\")")
        })
    }
}

/// Parses `250ms`, `2s`, `1.5s`, `1m`, `1h`, `2d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| "missing unit".to_string())?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("bad number {num:?}"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "sec" | "secs" | "seconds" => value,
        "m" | "min" | "minutes" => value * 60.0,
        "h" | "hours" => value * 3600.0,
        "d" | "days" => value * 86_400.0,
        other => return Err(format!("unknown unit {other:?}")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err("must be positive".into());
    }
    Ok(Duration::from_secs_f64(secs))
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
    fn parses_triggers() {
        assert_eq!("available-now".parse(), Ok(Trigger::AvailableNow));
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
