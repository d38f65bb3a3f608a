//! Records that did not make it, and where they go.

use async_trait::async_trait;

use crate::source::SourceError;

/// A record set aside with the reason, carrying the original key and value
/// byte for byte so nothing is lost and it can be replayed after a fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// A stable code (`invalid_json`, `transform_failed`, …).
    pub reason: String,
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
