//! Running the transforms on a batch, and narrowing a failure down to the
//! records that cause it.
//!
//! A batch whose SQL fails is split in halves and each half run again,
//! until the failing rows stand alone; those are dead-lettered and the rest
//! written. A sink failure is never narrowed (the records are fine, the sink
//! is not), and neither is a batch in which every row fails: that is a
//! broken pipeline, not broken records.

use std::collections::BTreeMap;

use datafusion::arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::batch_context::BatchContext;
use crate::error::EngineError;
use crate::sql::SqlEngine;

/// Rows written per sink, and the input rows (by index into the batch)
/// that failed with the error message.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub written: BTreeMap<String, u64>,
    pub failed: Vec<(usize, String)>,
}

/// Runs every transform on `input`; row `i` is written at
/// `write_time + i`.
pub(crate) async fn run_narrowing(
    sql: &SqlEngine,
    batch_id: u64,
    input: RecordBatch,
    write_time: i64,
) -> Result<Outcome, EngineError> {
    let rows = input.num_rows();
    let mut outcome = Outcome::default();
    for t in sql.transforms() {
        outcome.written.insert(t.sink_table.clone(), 0);
    }
    run_part(sql, batch_id, input, 0, write_time, &mut outcome).await?;
    if rows > 1 && outcome.failed.len() == rows {
        let (_, message) = &outcome.failed[0];
        return Err(EngineError::Other(format!(
            "batch {batch_id}: every one of its {rows} rows fails the SQL, so the pipeline is broken, \
             not the records (nothing was dead-lettered or committed): {message}"
        )));
    }
    outcome.failed.sort_by_key(|(i, _)| *i);
    Ok(outcome)
}

fn run_part<'a>(
    sql: &'a SqlEngine,
    batch_id: u64,
    part: RecordBatch,
    first_row: usize,
    write_time: i64,
    outcome: &'a mut Outcome,
) -> BoxFuture<'a, Result<(), EngineError>> {
    async move {
        let rows = part.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let context = BatchContext {
            batch_id,
            input: part.clone(),
            write_time_micros: write_time + first_row as i64,
        };
        match sql.run(context).await {
            Ok(written) => {
                for (sink, n) in written {
                    *outcome.written.entry(sink).or_default() += n;
                }
                Ok(())
            }
            Err(EngineError::Batch { message, .. }) if rows == 1 => {
                outcome.failed.push((first_row, message));
                Ok(())
            }
            Err(EngineError::Batch { .. }) => {
                let half = rows / 2;
                let (left, right) = (part.slice(0, half), part.slice(half, rows - half));
                run_part(sql, batch_id, left, first_row, write_time, outcome).await?;
                run_part(sql, batch_id, right, first_row + half, write_time, outcome).await
            }
            Err(other) => Err(other),
        }
    }
    .boxed()
}
