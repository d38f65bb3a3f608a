//! Durations as a pipeline file writes them: `"500ms"`, `"2s"`, `"1.5s"`,
//! `"2m"`, `"1h"`, `"400d"`.
//!
//! One parser for every duration of the configuration (the trigger,
//! `max_write_time_skew`, a sink's `retry_for`) and of the CLI
//! (`--duration`), so that they all accept the same spellings. It lives in
//! a module of its own, not in [`crate::trigger`], because the connectors
//! parse their durations with it too and have no business with triggers.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a text is not a duration. The messages are the ones the pipeline
/// file's errors carry (after the key and the text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("missing unit")]
    MissingUnit,
    #[error("bad number {0:?}")]
    BadNumber(String),
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
    #[error("must be positive")]
    NotPositive,
}

/// Parses `250ms`, `2s`, `1.5s`, `1m`, `1h`, `2d` (a positive number and a
/// unit; `sec`/`secs`/`seconds`, `min`/`minutes`, `hours`, `days` too).
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or(DurationError::MissingUnit)?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| DurationError::BadNumber(num.to_string()))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "sec" | "secs" | "seconds" => value,
        "m" | "min" | "minutes" => value * 60.0,
        "h" | "hours" => value * 3600.0,
        "d" | "days" => value * 86_400.0,
        other => return Err(DurationError::UnknownUnit(other.to_string())),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(DurationError::NotPositive);
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A positive duration parsed when the pipeline file loads, from the text
/// [`parse_duration`] reads. Prints as the largest unit that divides it
/// (`120s` → `2m`), which parses back to the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// `const` so that defaults can be constants: `HumanDuration::from_secs(120)`.
    pub const fn from_secs(secs: u64) -> Self {
        HumanDuration(Duration::from_secs(secs))
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, DurationError> {
        parse_duration(s).map(HumanDuration)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() != 0 || d.as_secs() == 0 {
            return write!(f, "{}ms", d.as_millis());
        }
        let secs = d.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if secs.is_multiple_of(size) {
                return write!(f, "{}{unit}", secs / size);
            }
        }
        write!(f, "{secs}s")
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_refuses_the_rest() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 2m "), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(
            parse_duration("400d"),
            Ok(Duration::from_secs(400 * 86_400))
        );
        assert_eq!(parse_duration("5"), Err(DurationError::MissingUnit));
        assert_eq!(
            parse_duration("1.2.3s"),
            Err(DurationError::BadNumber("1.2.3".into()))
        );
        assert_eq!(
            parse_duration("5 parsecs"),
            Err(DurationError::UnknownUnit("parsecs".into()))
        );
        assert_eq!(parse_duration("0s"), Err(DurationError::NotPositive));
        assert_eq!(
            parse_duration("ms").unwrap_err().to_string(),
            "bad number \"\""
        );
    }

    #[test]
    fn prints_what_parses_back() {
        for (d, shown) in [
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(86_400 * 400), "400d"),
        ] {
            let h = HumanDuration(d);
            assert_eq!(h.to_string(), shown);
            assert_eq!(shown.parse::<HumanDuration>(), Ok(h));
        }
    }

    #[test]
    fn deserialize_names_the_text() {
        #[derive(Deserialize)]
        struct T {
            #[allow(dead_code)]
            d: HumanDuration,
        }
        let err = toml::from_str::<T>("d = \"soon\"").err().unwrap();
        assert!(err.message().contains("\"soon\": bad number"), "{err}");
    }
}
