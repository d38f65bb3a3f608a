//! `/progress`: one JSON object per batch, in the spirit of Spark's
//! `StreamingQueryProgress` (batch id, offsets per partition, rows, input
//! and processing rates, duration per stage), and `/pipeline`: what the
//! job runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ember_engine::BatchReport;
use serde::Serialize;

/// One batch, as `/progress` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BatchProgress {
    pub batch_id: u64,
    /// When the batch was committed (RFC 3339, UTC).
    pub timestamp: String,
    pub replay: bool,
    pub pieces: usize,
    /// Per partition, `{start, end}` (end exclusive), as planned.
    pub ranges: BTreeMap<i32, ember_engine::OffsetRange>,
    /// The base write time (Cassandra `USING TIMESTAMP`, microseconds).
    pub write_time: ember_engine::WriteTime,
    pub rows_in: usize,
    pub decoded: usize,
    pub written: BTreeMap<String, u64>,
    /// Records dead-lettered (set aside), by reason.
    pub rejected: usize,
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    pub deleted: usize,
    /// Records in over the wall time since the previous batch was
    /// committed (Spark's `inputRowsPerSecond`); for the first batch, over
    /// its own fetch and processing time.
    pub input_rows_per_second: f64,
    /// Records in over the batch's processing time (decode to commit;
    /// Spark's `processedRowsPerSecond`).
    pub processed_rows_per_second: f64,
    /// Milliseconds per stage, and `total` (decode to commit).
    pub duration_ms: BTreeMap<&'static str, f64>,
    /// This batch's end-to-end latency (sink ack − Kafka timestamp).
    pub latency_ms: Option<LatencyMs>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyMs {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn per_second(rows: usize, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 {
        rows as f64 / secs
    } else {
        0.0
    }
}

impl BatchProgress {
    /// `since_previous`: wall time since the previous batch was committed.
    pub fn of(r: &BatchReport, since_previous: Option<Duration>) -> Self {
        let mut duration_ms: BTreeMap<&'static str, f64> = r
            .stages
            .labelled()
            .into_iter()
            .map(|(stage, took)| (stage, ms(took)))
            .collect();
        duration_ms.insert("total", ms(r.duration));
        let input_over = since_previous.unwrap_or(r.stages.fetch + r.duration);
        BatchProgress {
            batch_id: r.batch_id,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            replay: r.replay,
            pieces: r.pieces,
            ranges: r.ranges.clone(),
            write_time: r.write_time,
            rows_in: r.rows_in,
            decoded: r.decoded,
            written: r.written.clone(),
            rejected: r.rejected,
            rejected_by_reason: r.dead_lettered_by_reason.clone(),
            deleted: r.deleted,
            input_rows_per_second: per_second(r.rows_in, input_over),
            processed_rows_per_second: per_second(r.rows_in, r.duration),
            duration_ms,
            latency_ms: r.latency.as_ref().map(|l| LatencyMs {
                p50: l.p50_ms,
                p99: l.p99_ms,
                max: l.max_ms,
            }),
        }
    }
}

/// What the job runs, for the dashboard (`/pipeline`).
#[derive(Debug, Clone, Serialize)]
pub struct PipelineInfo {
    pub name: String,
    pub topic: String,
    pub trigger: String,
    pub sql: Vec<SqlFile>,
    pub sinks: Vec<SinkInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SqlFile {
    pub file: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SinkInfo {
    /// The name the SQL writes to.
    pub name: String,
    /// `keyspace.table` in Cassandra.
    pub table: String,
}

impl SqlFile {
    /// The file's text; a file that cannot be read now (it planned at
    /// start) is shown with the error instead.
    pub fn read(path: &Path) -> Self {
        SqlFile {
            file: path.display().to_string(),
            text: std::fs::read_to_string(path).unwrap_or_else(|e| format!("-- unreadable: {e}")),
        }
    }
}
