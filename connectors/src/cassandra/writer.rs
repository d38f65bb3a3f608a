//! Writing rows: chunked into unlogged batches by size, a bounded number of
//! requests in flight, transient failures retried with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use scylla::client::session::Session;
use scylla::errors::{ExecutionError, RequestAttemptError};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use super::row::{estimated_size, ArrowRow};
use super::schema::CqlKind;

/// Everything needed to write rows to one table.
#[derive(Debug)]
pub(crate) struct Writer {
    pub session: Arc<Session>,
    pub insert: PreparedStatement,
    pub kinds: Vec<CqlKind>,
    pub batch_max_rows: usize,
    pub batch_max_bytes: usize,
    pub retry_for: Duration,
}

/// A write that failed for good.
#[derive(Debug)]
pub(crate) struct WriteError {
    /// True when retries ran out on a transient error: Cassandra is
    /// unavailable. False when Cassandra rejected these rows.
    pub transient: bool,
    pub error: ExecutionError,
}

/// Rows `[start, end)` of a batch, written at `base_ts + (row - start)`.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub batch: Arc<RecordBatch>,
    pub start: usize,
    pub end: usize,
    pub base_ts: i64,
}

impl Writer {
    /// Splits a batch into request-sized chunks: at most `batch_max_rows`
    /// rows and `batch_max_bytes` bytes each (a single larger row goes alone).
    pub fn chunks(&self, batch: Arc<RecordBatch>, base_ts: i64) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        let (mut start, mut bytes) = (0, 0);
        for row in 0..batch.num_rows() {
            let size = estimated_size(&batch, &self.kinds, row);
            let full = row - start >= self.batch_max_rows || bytes + size > self.batch_max_bytes;
            if row > start && full {
                chunks.push(Chunk {
                    batch: batch.clone(),
                    start,
                    end: row,
                    base_ts: base_ts + start as i64,
                });
                (start, bytes) = (row, 0);
            }
            bytes += size;
        }
        if start < batch.num_rows() {
            chunks.push(Chunk {
                batch: batch.clone(),
                start,
                end: batch.num_rows(),
                base_ts: base_ts + start as i64,
            });
        }
        chunks
    }

    /// Writes one chunk, retrying transient failures until `retry_for` has
    /// passed. Returns the rows written, or the error and whether it was
    /// transient (the sink is unavailable) rather than about these rows.
    pub async fn write(&self, chunk: Chunk) -> Result<u64, WriteError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            match self.write_once(&chunk).await {
                Ok(()) => return Ok((chunk.end - chunk.start) as u64),
                Err(e) if is_transient(&e) && started.elapsed() < self.retry_for => {
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "cassandra write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    return Err(WriteError {
                        transient: is_transient(&e),
                        error: e,
                    })
                }
            }
        }
    }

    async fn write_once(&self, chunk: &Chunk) -> Result<(), ExecutionError> {
        let row = |r: usize| ArrowRow {
            batch: &chunk.batch,
            kinds: &self.kinds,
            row: r,
            timestamp: chunk.base_ts + (r - chunk.start) as i64,
        };
        if chunk.end - chunk.start == 1 {
            self.session
                .execute_unpaged(&self.insert, row(chunk.start))
                .await?;
            return Ok(());
        }
        let mut batch = Batch::new(BatchType::Unlogged);
        for _ in chunk.start..chunk.end {
            batch.append_statement(self.insert.clone());
        }
        let values: Vec<ArrowRow<'_>> = (chunk.start..chunk.end).map(row).collect();
        self.session.batch(&batch, values).await?;
        Ok(())
    }
}

/// Timeouts, unavailability, overload and lost connections pass; a request
/// Cassandra rejects as wrong would fail the same way again.
fn is_transient(e: &ExecutionError) -> bool {
    use scylla::errors::DbError;
    match e {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => !matches!(
            db,
            DbError::SyntaxError
                | DbError::Invalid
                | DbError::AlreadyExists { .. }
                | DbError::FunctionFailure { .. }
                | DbError::AuthenticationError
                | DbError::Unauthorized
                | DbError::ConfigError
                | DbError::ProtocolError
        ),
        ExecutionError::LastAttemptError(RequestAttemptError::SerializationError(_))
        | ExecutionError::BadQuery(_)
        | ExecutionError::PrepareError(_) => false,
        _ => true,
    }
}
