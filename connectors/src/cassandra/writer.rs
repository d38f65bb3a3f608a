//! Writing rows: chunked into unlogged batches by size, a bounded number of
//! requests in flight, transient failures retried with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use scylla::client::session::Session;
use scylla::errors::ExecutionError;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use ember_engine::WriteTime;

use super::activity::SinkActivity;
use super::fault::{fault_of, Fault};
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
    /// Null cells are sent unset (the column keeps its value) rather than
    /// null (which writes a cell tombstone): `ignore_nulls = true`.
    pub ignore_nulls: bool,
    pub activity: Arc<SinkActivity>,
}

/// A write that failed for good.
#[derive(Debug)]
pub(crate) struct WriteError {
    /// `Transient` when retries ran out: Cassandra is unavailable.
    pub fault: Fault,
    pub error: ExecutionError,
}

/// Rows `[start, end)` of a batch, row `r` written at `base_ts.after_rows(r - start)`.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub batch: Arc<RecordBatch>,
    pub start: usize,
    pub end: usize,
    pub base_ts: WriteTime,
}

impl Writer {
    /// Splits a batch into request-sized chunks: at most `batch_max_rows`
    /// rows and `batch_max_bytes` bytes each (a single larger row goes alone).
    pub fn chunks(&self, batch: Arc<RecordBatch>, base_ts: WriteTime) -> Vec<Chunk> {
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
                    base_ts: base_ts.after_rows(start),
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
                base_ts: base_ts.after_rows(start),
            });
        }
        chunks
    }

    /// Writes one chunk, retrying transient failures until `retry_for` has
    /// passed. Returns the rows written, or the error and whether it was
    /// transient (the sink is unavailable) rather than about these rows.
    pub async fn write(&self, chunk: Chunk) -> Result<u64, WriteError> {
        with_retries(self.retry_for, &self.activity, || self.write_once(&chunk)).await?;
        Ok((chunk.end - chunk.start) as u64)
    }

    async fn write_once(&self, chunk: &Chunk) -> Result<(), ExecutionError> {
        let row = |r: usize| ArrowRow {
            batch: &chunk.batch,
            kinds: &self.kinds,
            row: r,
            timestamp: chunk.base_ts.after_rows(r - chunk.start),
            ignore_nulls: self.ignore_nulls,
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

/// Runs `attempt` until it succeeds, fails for good, or transient failures
/// have gone on for `retry_for` (with backoff from 100 ms to 5 s). Every
/// attempt is counted in `activity`.
pub(crate) async fn with_retries<F, Fut>(
    retry_for: Duration,
    activity: &SinkActivity,
    mut attempt: F,
) -> Result<(), WriteError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ExecutionError>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            activity.retried();
        }
        let outcome = {
            let _in_flight = activity.request();
            attempt().await
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) if fault_of(&e) == Fault::Transient && started.elapsed() < retry_for => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "cassandra write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return Err(WriteError {
                    fault: fault_of(&e),
                    error: e,
                })
            }
        }
    }
}
