//! `CassandraSink`: the `DataSink` behind `INSERT INTO <cassandra table>`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::DataFusionError;
use datafusion::datasource::sink::DataSink;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use ember_engine::{BatchContext, SinkFailure, WriteTime};
use futures::stream::{FuturesUnordered, StreamExt};

use super::fault::Fault;
use super::writer::{WriteError, Writer};

/// Upserts every row of its input and returns once all are acknowledged.
pub(crate) struct CassandraSink {
    pub name: String,
    pub schema: SchemaRef,
    pub writer: Arc<Writer>,
    pub concurrency: usize,
}

impl fmt::Debug for CassandraSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CassandraSink({})", self.name)
    }
}

impl DisplayAs for CassandraSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CassandraSink: table={}", self.name)
    }
}

#[async_trait]
impl DataSink for CassandraSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> datafusion::common::Result<u64> {
        let base_ts = planned_write_time(context, &self.name)?;
        let mut position = 0usize;
        let mut written = 0u64;
        let mut in_flight = FuturesUnordered::new();
        while let Some(batch) = data.next().await {
            let batch = Arc::new(batch?);
            let rows = batch.num_rows();
            for chunk in self.writer.chunks(batch, base_ts.after_rows(position)) {
                while in_flight.len() >= self.concurrency {
                    written += next_result(&mut in_flight, &self.name).await?;
                }
                let writer = self.writer.clone();
                in_flight.push(async move { writer.write(chunk).await });
            }
            position += rows;
        }
        while !in_flight.is_empty() {
            written += next_result(&mut in_flight, &self.name).await?;
        }
        Ok(written)
    }
}

async fn next_result<F>(
    in_flight: &mut FuturesUnordered<F>,
    name: &str,
) -> datafusion::common::Result<u64>
where
    F: std::future::Future<Output = Result<u64, WriteError>>,
{
    match in_flight.next().await {
        Some(Ok(n)) => Ok(n),
        // Cassandra unavailable after every retry: the pipeline must stop.
        Some(Err(e)) if e.fault == Fault::Transient => Err(DataFusionError::External(Box::new(
            SinkFailure(format!("writing to Cassandra table {name}: {}", e.error)),
        ))),
        // Refused whatever the values: stop too, never dead-letter.
        Some(Err(e)) if e.fault == Fault::Pipeline => {
            Err(DataFusionError::External(Box::new(SinkFailure(format!(
                "Cassandra refused writes to table {name} (the pipeline's fault, \
                 not the records': permissions, schema or statement): {}",
                e.error
            )))))
        }
        // Cassandra rejected these rows: the engine narrows it down to them.
        Some(Err(e)) => Err(DataFusionError::Execution(format!(
            "Cassandra rejected a row of {name}: {}",
            e.error
        ))),
        None => Ok(0),
    }
}

/// The write time the engine planned for this batch. Every write of a
/// pipeline carries it, which is what makes a replay idempotent; there is no
/// ad-hoc path that writes without one, so its absence is an engine bug, not
/// a reason to fall back to the wall clock.
fn planned_write_time(context: &TaskContext, table: &str) -> datafusion::common::Result<WriteTime> {
    match BatchContext::of(context) {
        Some(batch) => Ok(batch.write_time),
        None => datafusion::common::internal_err!(
            "Cassandra table {table} was written outside a planned micro-batch (no write time)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_without_a_planned_write_time_is_an_error_not_the_wall_clock() {
        let err = planned_write_time(&TaskContext::default(), "ks.t").unwrap_err();
        assert!(
            err.to_string().contains("outside a planned micro-batch"),
            "{err}"
        );
    }
}
