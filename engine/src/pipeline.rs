//! The micro-batch loop, top to bottom:
//!
//! 1. collect a batch from the [`Source`] (closes at `max_records` or at the
//!    trigger interval);
//! 2. decode the payload bytes into one Arrow batch; records that do not
//!    decode are set aside with a reason;
//! 3. run every SQL transform on the batch; each writes into its sink table
//!    and returns once the sink acknowledged every row;
//! 4. commit the batch's offsets at the source — only now, so a crash at any
//!    earlier point replays the batch instead of losing it;
//! 5. report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use datafusion::catalog::TableProvider;
use ember_decode::{JsonDecoder, SourceSchema};
use tokio::sync::watch;

use crate::batch_context::BatchContext;
use crate::error::EngineError;
use crate::report::{BatchReport, Reporter};
use crate::source::{ranges_of, Source};
use crate::sql::SqlEngine;
use crate::trigger::Trigger;

/// How long an available-now batch waits for more records before it closes.
const AVAILABLE_NOW_LINGER: Duration = Duration::from_millis(200);

/// Everything the engine needs to know about a pipeline, independent of the
/// connectors.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub name: String,
    /// The table name the SQL reads the decoded batch from.
    pub source_table: String,
    pub schema: SourceSchema,
    pub max_records: usize,
    pub trigger: Trigger,
    pub sql_files: Vec<PathBuf>,
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    pub batches: u64,
    pub rows_in: u64,
    pub decoded: u64,
    pub rejected: u64,
    /// Rows acknowledged per sink table.
    pub written: Vec<(String, u64)>,
    pub duration: Duration,
}

impl RunSummary {
    fn add(&mut self, r: &BatchReport) {
        self.batches += 1;
        self.rows_in += r.rows_in as u64;
        self.decoded += r.decoded as u64;
        self.rejected += r.rejected as u64;
        for (sink, n) in &r.written {
            match self.written.iter_mut().find(|(s, _)| s == sink) {
                Some((_, total)) => *total += n,
                None => self.written.push((sink.clone(), *n)),
            }
        }
    }

    /// Rows written by all sinks together.
    pub fn total_written(&self) -> u64 {
        self.written.iter().map(|(_, n)| n).sum()
    }
}

/// A planned pipeline bound to its source and sinks.
pub struct Pipeline {
    spec: PipelineSpec,
    source: Box<dyn Source>,
    decoder: JsonDecoder,
    sql: SqlEngine,
    next_batch_id: u64,
    /// The first write timestamp the next batch may use.
    next_write_time: i64,
}

impl Pipeline {
    /// Plans the SQL against the sinks; fails before reading anything if a
    /// file does not parse or plan.
    pub async fn new(
        spec: PipelineSpec,
        source: Box<dyn Source>,
        sinks: Vec<(String, Arc<dyn TableProvider>)>,
    ) -> Result<Self, EngineError> {
        let decoder = JsonDecoder::new(spec.schema.clone());
        let sql = SqlEngine::plan(
            &spec.source_table,
            decoder.schema().clone(),
            sinks,
            &spec.sql_files,
        )
        .await?;
        Ok(Pipeline {
            spec,
            source,
            decoder,
            sql,
            next_batch_id: 0,
            next_write_time: 0,
        })
    }

    pub fn spec(&self) -> &PipelineSpec {
        &self.spec
    }

    /// Runs until the source is finished (available-now) or `shutdown`
    /// becomes true. A shutdown request lets the batch in flight finish and
    /// commit; only the wait for new records is cut short.
    pub async fn run(
        &mut self,
        reporter: &mut dyn Reporter,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<RunSummary, EngineError> {
        let started = Instant::now();
        let mut summary = RunSummary::default();
        let wait = match self.spec.trigger {
            Trigger::ProcessingTime(interval) => interval,
            Trigger::AvailableNow => AVAILABLE_NOW_LINGER,
        };
        loop {
            if *shutdown.borrow() {
                break;
            }
            // 1. Collect.
            let deadline = Instant::now() + wait;
            let records = tokio::select! {
                next = self.source.next_batch(self.spec.max_records, deadline) => next?,
                _ = shutdown.changed() => break,
            };
            let Some(records) = records else { break };
            if records.is_empty() {
                reporter.idle();
                continue;
            }
            let batch_started = Instant::now();
            let batch_id = self.next_batch_id;

            // 2. Decode.
            let payloads: Vec<Option<&[u8]>> = records.iter().map(|r| r.value.as_deref()).collect();
            let decoded = self.decoder.decode(&payloads);
            for reject in &decoded.rejects {
                let r = &records[reject.index];
                tracing::warn!(
                    batch = batch_id,
                    partition = r.partition,
                    offset = r.offset,
                    reason = reject.reason.code(),
                    detail = %reject.detail,
                    "record rejected"
                );
            }

            // 3. Transform and write.
            let write_time = self.plan_write_time(records.len());
            let decoded_rows = decoded.batch.num_rows();
            let written = if decoded_rows > 0 {
                self.sql
                    .run(BatchContext {
                        batch_id,
                        input: decoded.batch,
                        write_time_micros: write_time,
                    })
                    .await?
            } else {
                self.sql
                    .transforms()
                    .iter()
                    .map(|t| (t.sink_table.clone(), 0))
                    .collect()
            };

            // 4. Commit, only after every sink acknowledged.
            self.source.commit(&ranges_of(&records)).await?;
            self.next_batch_id += 1;

            // 5. Report.
            let report = BatchReport {
                batch_id,
                rows_in: records.len(),
                decoded: decoded_rows,
                rejected: decoded.rejects.len(),
                written,
                duration: batch_started.elapsed(),
            };
            summary.add(&report);
            reporter.batch_done(&report);
        }
        summary.duration = started.elapsed();
        Ok(summary)
    }

    /// Chooses the batch's base write timestamp: the wall clock, but never
    /// at or below the previous batch's last row, so batches never overlap.
    fn plan_write_time(&mut self, rows: usize) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let base = now.max(self.next_write_time);
        self.next_write_time = base + rows as i64 + 1;
        base
    }
}
