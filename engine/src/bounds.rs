//! How large one micro-batch (or one piece of a replay) may grow.
//!
//! A batch closes at `max_records` records or `max_bytes` bytes (the sum of
//! its records' key and value lengths), whichever comes first, or at the
//! trigger interval. The record that reaches a bound is still taken, so a
//! single record larger than `max_bytes` makes a batch of one instead of
//! stalling the job. Records bound the work per batch (rows, write times,
//! dead letters); bytes bound the memory, which records alone cannot: 20,000
//! records of 1 MiB would be 20 GiB.
//!
//! The same bounds cut a replay into pieces (see
//! [`crate::pipeline`]): a plan made under larger bounds, or by an older
//! version, is read and written piece by piece, never held whole.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::source::RawRecord;

/// A size in bytes, written in a pipeline file as a number of bytes
/// (`1048576`) or a string with a unit: `"64MiB"`, `"512 KiB"`, `"1GiB"`
/// (binary, powers of 1024) or `"100kB"`, `"5MB"`, `"1GB"` (decimal,
/// powers of 1000), `"4096B"`. Units are case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const KIB: u64 = 1024;
    pub const MIB: u64 = 1024 * 1024;

    /// Parses `"64MiB"`, `"100 kB"`, `"4096"`.
    pub fn parse(text: &str) -> Result<ByteSize, ByteSizeError> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        if number.is_empty() {
            return Err(ByteSizeError::NotASize { text: text.into() });
        }
        let n: u64 = number.parse().map_err(|source| ByteSizeError::BadNumber {
            text: text.into(),
            source,
        })?;
        let multiplier = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            other => {
                return Err(ByteSizeError::UnknownUnit {
                    text: text.into(),
                    unit: other.into(),
                })
            }
        };
        n.checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| ByteSizeError::TooLarge { text: text.into() })
    }
}

/// Why a text is not a [`ByteSize`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    #[error(
        "{text:?} is not a size: use a number of bytes or e.g. \"64MiB\", \"512KiB\", \"1GB\""
    )]
    NotASize { text: String },
    #[error("{text:?} is not a size: {source}")]
    BadNumber {
        text: String,
        #[source]
        source: std::num::ParseIntError,
    },
    #[error("{text:?}: unknown unit {unit:?} (B, KiB, MiB, GiB, kB, MB, GB)")]
    UnknownUnit { text: String, unit: String },
    #[error("{text:?} is too large")]
    TooLarge { text: String },
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= size && n.is_multiple_of(size) {
                return write!(f, "{}{unit}", n / size);
            }
        }
        write!(f, "{n}B")
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Bytes(u64),
            Text(String),
        }
        match Given::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a number of bytes or a size such as \"64MiB\"")
        })? {
            Given::Bytes(n) => Ok(ByteSize(n)),
            Given::Text(text) => ByteSize::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// The bounds of one batch, or of one piece of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchBounds {
    /// A batch closes once it holds this many records (at least 1).
    pub max_records: usize,
    /// ... or once its records' keys and values add up to this many bytes.
    pub max_bytes: u64,
}

impl BatchBounds {
    /// The defaults of `[source]`: 20,000 records, 64 MiB.
    pub const DEFAULT: BatchBounds = BatchBounds {
        max_records: 20_000,
        max_bytes: 64 * ByteSize::MIB,
    };

    /// An empty tally to count a batch's records against these bounds.
    pub fn tally(self) -> Tally {
        Tally {
            bounds: self,
            records: 0,
            bytes: 0,
        }
    }
}

impl Default for BatchBounds {
    fn default() -> Self {
        BatchBounds::DEFAULT
    }
}

/// The bytes of a record that count against `max_bytes`: its key and value.
pub fn record_bytes(r: &RawRecord) -> u64 {
    (r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())) as u64
}

/// Counts records into a batch until one of its bounds is reached.
#[derive(Debug, Clone, Copy)]
pub struct Tally {
    bounds: BatchBounds,
    records: usize,
    bytes: u64,
}

impl Tally {
    /// Counts one record of `bytes` bytes in.
    pub fn add(&mut self, bytes: u64) {
        self.records += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }

    /// Whether the batch is complete: the last record counted reached a
    /// bound (it stays in the batch).
    pub fn full(&self) -> bool {
        self.records >= self.bounds.max_records.max(1) || self.bytes >= self.bounds.max_bytes
    }

    pub fn records(&self) -> usize {
        self.records
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        for (text, want) in [
            ("4096", 4096),
            ("4096B", 4096),
            ("64MiB", 64 << 20),
            ("64mib", 64 << 20),
            ("512 KiB", 512 << 10),
            ("1GiB", 1 << 30),
            ("100kB", 100_000),
            ("5MB", 5_000_000),
            ("2GB", 2_000_000_000),
        ] {
            assert_eq!(ByteSize::parse(text), Ok(ByteSize(want)), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "-1",
            "1.5MiB",
            "12 parsecs",
            "99999999999999999999GiB",
        ] {
            assert!(ByteSize::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }

    #[test]
    fn the_record_that_reaches_a_bound_completes_the_batch() {
        let bounds = BatchBounds {
            max_records: 10,
            max_bytes: 250,
        };
        let mut tally = bounds.tally();
        tally.add(100);
        tally.add(100);
        assert!(!tally.full());
        tally.add(100);
        assert!(tally.full(), "300 bytes >= 250");
        // A record larger than the bound alone is a batch of one.
        let mut one = bounds.tally();
        one.add(10_000);
        assert!(one.full());
        assert_eq!(one.records(), 1);
    }
}
