//! `CassandraSink`: the `DataSink` behind `INSERT INTO <cassandra table>`.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::DataFusionError;
use datafusion::datasource::sink::DataSink;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use ember_engine::{BatchContext, SinkFailure};
use futures::stream::{FuturesUnordered, StreamExt};

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
        // Outside a micro-batch (e.g. an ad-hoc INSERT) write at wall time.
        let base_ts = BatchContext::of(context)
            .map(|b| b.write_time_micros)
            .unwrap_or_else(now_micros);
        let mut position = 0i64;
        let mut written = 0u64;
        let mut in_flight = FuturesUnordered::new();
        while let Some(batch) = data.next().await {
            let batch = Arc::new(batch?);
            let rows = batch.num_rows() as i64;
            for chunk in self.writer.chunks(batch, base_ts + position) {
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
        Some(Err(e)) if e.transient => Err(DataFusionError::External(Box::new(SinkFailure(
            format!("writing to Cassandra table {name}: {}", e.error),
        )))),
        // Cassandra rejected these rows: the engine narrows it down to them.
        Some(Err(e)) => Err(DataFusionError::Execution(format!(
            "Cassandra rejected a row of {name}: {}",
            e.error
        ))),
        None => Ok(0),
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
