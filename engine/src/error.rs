//! Engine errors.

use std::path::PathBuf;

use crate::source::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A SQL file that cannot be read, parsed or planned. The message names
    /// the file and, where DataFusion reports one, the line.
    #[error("{file}: {message}")]
    Sql { file: PathBuf, message: String },
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A batch could not be written; nothing of it was committed.
    #[error("batch {batch_id} failed in {file}: {message}")]
    Batch {
        batch_id: u64,
        file: PathBuf,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}
