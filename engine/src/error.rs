//! Engine errors.

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;
use crate::source::SourceError;

/// Sinks wrap their write failures in this (inside DataFusion's
/// `External` error) so the engine can tell an unreachable sink — stop,
/// never dead-letter — from a record that makes a transform fail.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkFailure(pub String);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A SQL file that cannot be read, parsed or planned. The message names
    /// the file and, where DataFusion reports one, the line.
    #[error("{file}: {message}")]
    Sql { file: PathBuf, message: String },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The decoder broke an invariant of its own (an engine bug).
    #[error(transparent)]
    Decoder(#[from] ember_decode::DecodeBug),
    /// A sink could not be written (after its retries); nothing committed.
    #[error("batch {batch_id}: sink failed: {message}")]
    Sink { batch_id: u64, message: String },
    /// Records were deleted before they were processed.
    #[error(
        "data loss: {0} (set `fail_on_data_loss = false` under [source] to skip with a warning)"
    )]
    DataLoss(String),
    /// A batch could not be written; nothing of it was committed.
    #[error("batch {batch_id} failed in {file}: {message}")]
    Batch {
        batch_id: u64,
        file: PathBuf,
        message: String,
    },
    /// The session could not be set up (a table could not be registered).
    #[error("{what}: {source}")]
    Setup {
        what: String,
        #[source]
        source: datafusion::common::DataFusionError,
    },
    /// The pipeline file names no SQL files.
    #[error("the pipeline names no SQL files (`sql = [...]`)")]
    NoSqlFiles,
    /// The pipeline fails on every record: a broken transform or sink, not
    /// broken records. Nothing of the batch was dead-lettered or committed.
    #[error("batch {batch_id}: {message}")]
    Broken { batch_id: u64, message: String },
    /// An invariant of the engine broke (a bug): stop, commit nothing.
    #[error("engine bug: {0}")]
    Internal(String),
}
