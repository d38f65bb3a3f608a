//! Running the transforms on a batch, and narrowing a failure down to the
//! records that cause it.
//!
//! Transforms are independent, like the sinks they write: each SQL file
//! runs on the whole batch on its own. When one fails, its batch is split in
//! halves and each half run again, until the failing rows stand alone;
//! those rows are dead-lettered, naming the file(s) they failed in, and the
//! rest written. So a record one transform rejects is still written by the
//! others (per sink: rows in = written + filtered out by its SQL +
//! dead-lettered by it), and its dead letter says which sinks lack it. A
//! sink failure is never narrowed (the records are fine, the sink is not),
//! and neither is a batch in which every row fails one transform: that is
//! a broken pipeline, not broken records.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::batch_context::BatchContext;
use crate::error::EngineError;
use crate::report::PerSink;
use crate::sql::SqlEngine;
use crate::write_time::WriteTime;

/// What the transforms did with a batch.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Rows acknowledged, per sink table.
    pub written: PerSink,
    /// Input rows (by index into the batch) that failed at least one
    /// transform, sorted, with the files and errors.
    pub failed: Vec<(usize, String)>,
    /// Per sink table, the input rows its transform(s) dead-lettered.
    pub failed_by_sink: PerSink,
}

/// Runs every transform on `input`; row `i` is written at
/// `write_time + i` by every transform.
pub(crate) async fn run_narrowing(
    sql: &SqlEngine,
    batch_id: u64,
    input: RecordBatch,
    write_time: WriteTime,
) -> Result<Outcome, EngineError> {
    let rows = input.num_rows();
    let mut outcome = Outcome::default();
    // Per failing row, "file: error" for each transform it failed.
    let mut failures: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (index, t) in sql.transforms().iter().enumerate() {
        let mut run = TransformRun {
            sql,
            index,
            batch_id,
            write_time,
            written: 0,
            failed: Vec::new(),
        };
        run.part(input.clone(), 0).await?;
        if rows > 1 && run.failed.len() == rows {
            let (_, message) = &run.failed[0];
            return Err(EngineError::Broken {
                batch_id,
                message: format!(
                    "every one of its {rows} rows fails {}, so the pipeline is broken, not the \
                     records (nothing was dead-lettered or committed): {message}",
                    t.file.display()
                ),
            });
        }
        *outcome.written.entry(t.sink_table.clone()).or_default() += run.written;
        *outcome
            .failed_by_sink
            .entry(t.sink_table.clone())
            .or_default() += run.failed.len() as u64;
        for (row, message) in run.failed {
            failures
                .entry(row)
                .or_default()
                .push(format!("{}: {message}", t.file.display()));
        }
    }
    outcome.failed = failures
        .into_iter()
        .map(|(row, messages)| (row, messages.join("; ")))
        .collect();
    Ok(outcome)
}

/// One transform's run over a batch, narrowing its failures.
struct TransformRun<'a> {
    sql: &'a SqlEngine,
    index: usize,
    batch_id: u64,
    write_time: WriteTime,
    written: u64,
    failed: Vec<(usize, String)>,
}

impl TransformRun<'_> {
    fn part(
        &mut self,
        part: RecordBatch,
        first_row: usize,
    ) -> BoxFuture<'_, Result<(), EngineError>> {
        async move {
            let rows = part.num_rows();
            if rows == 0 {
                return Ok(());
            }
            let context = Arc::new(BatchContext {
                batch_id: self.batch_id,
                input: part.clone(),
                write_time: self.write_time.after_rows(first_row),
            });
            match self.sql.run_transform(self.index, context).await {
                Ok(written) => {
                    self.written += written;
                    Ok(())
                }
                Err(EngineError::Batch { message, .. }) if rows == 1 => {
                    self.failed.push((first_row, message));
                    Ok(())
                }
                Err(EngineError::Batch { .. }) => {
                    let half = rows / 2;
                    let (left, right) = (part.slice(0, half), part.slice(half, rows - half));
                    self.part(left, first_row).await?;
                    self.part(right, first_row + half).await
                }
                Err(other) => Err(other),
            }
        }
        .boxed()
    }
}

/// Records that failed a transform or were rejected by a sink, in a row,
/// across batches. Within a batch, "every row fails" tells a broken
/// pipeline from broken records; with one-record batches (a short trigger
/// at a low rate) every batch is all-or-nothing, so the streak is what
/// stops a pipeline that fails every record before it dead-letters them all.
#[derive(Debug)]
pub(crate) struct FailureStreak {
    in_a_row: usize,
    /// `max_consecutive_failures`; 0: no limit.
    limit: usize,
}

impl FailureStreak {
    /// The default of `max_consecutive_failures`.
    pub(crate) const DEFAULT_LIMIT: usize = 100;

    pub(crate) fn new(limit: usize) -> Self {
        FailureStreak { in_a_row: 0, limit }
    }

    /// Takes one batch's outcome (`rows` decoded rows; `failed` sorted by
    /// row): the streak grows by a batch that failed whole, and restarts
    /// from the failures after its last good row otherwise. Past the limit,
    /// the batch stops the pipeline before its dead letters are sent.
    pub(crate) fn observe(
        &mut self,
        batch_id: u64,
        rows: usize,
        failed: &[(usize, String)],
    ) -> Result<(), EngineError> {
        if failed.len() < rows {
            let trailing = failed
                .iter()
                .rev()
                .zip((0..rows).rev())
                .take_while(|((row, _), expected)| row == expected)
                .count();
            self.in_a_row = trailing;
        } else {
            self.in_a_row += failed.len();
        }
        match failed.last() {
            Some((_, message)) if self.limit > 0 && self.in_a_row >= self.limit => {
                Err(EngineError::Broken {
                    batch_id,
                    message: format!(
                        "{} records in a row failed a transform or were rejected by a sink \
                         (max_consecutive_failures = {}), so the pipeline is broken, not the \
                         records; this batch was neither dead-lettered nor committed. Last \
                         error: {message}",
                        self.in_a_row, self.limit
                    ),
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(rows: &[usize]) -> Vec<(usize, String)> {
        rows.iter()
            .map(|&r| (r, format!("row {r} failed")))
            .collect()
    }

    #[test]
    fn one_record_batches_that_all_fail_stop_at_the_limit() {
        let mut streak = FailureStreak::new(3);
        assert!(streak.observe(0, 1, &failed(&[0])).is_ok());
        assert!(streak.observe(1, 1, &failed(&[0])).is_ok());
        let err = streak.observe(2, 1, &failed(&[0])).unwrap_err().to_string();
        assert!(err.contains("3 records in a row"), "{err}");
        assert!(err.contains("max_consecutive_failures = 3"), "{err}");
        assert!(err.contains("row 0 failed"), "{err}");
    }

    #[test]
    fn a_good_row_restarts_the_streak_from_the_failures_after_it() {
        let mut streak = FailureStreak::new(4);
        assert!(streak.observe(0, 2, &failed(&[0, 1])).is_ok());
        // Row 1 is good; rows 2 and 3 failed after it.
        assert!(streak.observe(1, 4, &failed(&[0, 2, 3])).is_ok());
        assert_eq!(streak.in_a_row, 2);
        assert!(streak.observe(2, 3, &[]).is_ok());
        assert_eq!(streak.in_a_row, 0);
        // No limit: never stops.
        let mut unlimited = FailureStreak::new(0);
        for batch in 0..1_000 {
            assert!(unlimited.observe(batch, 1, &failed(&[0])).is_ok());
        }
    }
}
