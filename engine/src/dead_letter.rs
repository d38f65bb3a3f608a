//! Records that did not make it, and where they go.

use async_trait::async_trait;
use bytes::Bytes;
use ember_decode::RejectReason;

use crate::source::SourceError;

/// Why a record was set aside: the stable code of its `ember.reason`
/// header, which operators filter and re-drive by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// It did not decode (not UTF-8, not JSON, a missing `id`, …).
    Undecodable(RejectReason),
    /// A transform failed on it; the detail names the file(s).
    TransformFailed,
    /// A tombstone for a sink with `deletes = true`, but without a key.
    TombstoneWithoutKey,
    /// A tombstone whose key does not name a full primary key.
    TombstoneInvalidKey,
    /// Cassandra refused to delete the row the tombstone names.
    DeleteFailed,
}

impl DeadLetterReason {
    /// The header value: `invalid_json`, `transform_failed`, ….
    pub fn code(self) -> &'static str {
        match self {
            DeadLetterReason::Undecodable(reason) => reason.code(),
            DeadLetterReason::TransformFailed => "transform_failed",
            DeadLetterReason::TombstoneWithoutKey => "tombstone_without_key",
            DeadLetterReason::TombstoneInvalidKey => "tombstone_invalid_key",
            DeadLetterReason::DeleteFailed => "delete_failed",
        }
    }
}

impl std::fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A record set aside with the reason, carrying the original key and value
/// byte for byte so nothing is lost and it can be replayed after a fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub reason: DeadLetterReason,
    /// What exactly was wrong.
    pub detail: String,
}

/// Where dead letters go. `send` returns only once every letter is durably
/// stored: the batch is committed after that, never before.
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    async fn send(&self, letters: &[DeadLetter]) -> Result<(), SourceError>;
    fn describe(&self) -> String;
}
