//! The time a row is written at: Cassandra's `USING TIMESTAMP`, in
//! microseconds since the Unix epoch.
//!
//! Write times carry the engine's ordering guarantees (a batch's rows are
//! written at consecutive write times above every earlier batch's, a replay
//! at its first attempt's), so they get a type of their own instead of an
//! `i64` that a Kafka timestamp in milliseconds or an offset could be
//! mistaken for.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch; stored in the checkpoint and
/// reported as a plain number.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct WriteTime(i64);

impl WriteTime {
    pub const fn from_micros(micros: i64) -> Self {
        WriteTime(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// This machine's clock.
    pub fn now() -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        WriteTime(micros)
    }

    /// The write time `rows` rows after this one: row `i` of a batch based
    /// here is written at `base.after_rows(i)`.
    pub fn after_rows(self, rows: usize) -> Self {
        WriteTime(
            self.0
                .saturating_add(i64::try_from(rows).unwrap_or(i64::MAX)),
        )
    }

    /// The write time just below this one: it loses against every row of
    /// a batch based here.
    pub fn just_before(self) -> Self {
        WriteTime(self.0.saturating_sub(1))
    }

    /// How far this write time is ahead of `other`, in microseconds
    /// (negative when behind).
    pub fn micros_since(self, other: WriteTime) -> i64 {
        self.0.saturating_sub(other.0)
    }
}

impl fmt::Display for WriteTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `WriteTime::from_micros`, short for the engine's tests.
#[cfg(test)]
pub(crate) const fn at(micros: i64) -> WriteTime {
    WriteTime::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_time_is_stored_as_a_plain_number() {
        let t = WriteTime::from_micros(1_700_000_000_000_000);
        assert_eq!(
            serde_json::to_string(&t).ok().as_deref(),
            Some("1700000000000000")
        );
        assert_eq!(
            serde_json::from_str::<WriteTime>("1700000000000000").ok(),
            Some(t)
        );
        assert_eq!(t.after_rows(3).as_micros(), 1_700_000_000_000_003);
        assert_eq!(t.after_rows(3).micros_since(t), 3);
        assert_eq!(
            WriteTime::from_micros(i64::MAX).after_rows(1).as_micros(),
            i64::MAX
        );
    }
}
