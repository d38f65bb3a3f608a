//! `ember preview`: the pipeline's transforms run on records from a local
//! file (or a sample of the topic) by the engine's own loop — the same
//! decoder, the same per-file SQL execution, the same narrowing of a failing
//! batch down to its records — into offline sink tables and an in-memory
//! dead-letter sink. So what it shows is what `ember run` would write and
//! set aside, minus Cassandra.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use ember_engine::dead_letter::{DeadLetter, DeadLetterSink};
use ember_engine::source::{RawRecord, SourceError};
use ember_engine::{BatchReport, Checkpoint, DeleteSink, Pipeline, Reporter, RunSummary, Trigger};
use tokio::sync::watch;

use super::records_source::RecordsSource;
use super::sinks::{providers, sink_tables, ColumnsFrom};
use crate::config::LoadedPipeline;

/// What a preview produced.
#[derive(Debug)]
pub struct Preview {
    /// Per sink (by the name the SQL inserts into): its columns and the rows
    /// written, in write order.
    pub sinks: Vec<(String, SchemaRef, Vec<RecordBatch>)>,
    /// What would have gone to the dead-letter topic, in (partition,
    /// offset) order.
    pub dead_letters: Vec<DeadLetter>,
    pub summary: RunSummary,
}

/// The lines of a JSON Lines file as records of partition 0: record `i` is
/// the `i`-th non-blank line (offset `i`); `lines[i]` is its line number.
pub fn read_jsonl(file: &Path, limit: Option<usize>) -> Result<(Vec<RawRecord>, Vec<usize>)> {
    let text = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut records = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if limit.is_some_and(|n| records.len() >= n) {
            break;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        records.push(RawRecord {
            partition: 0,
            offset: records.len() as i64,
            timestamp_ms: None,
            key: None,
            value: Some(Bytes::copy_from_slice(line)),
        });
        lines.push(i + 1);
    }
    Ok((records, lines))
}

/// Runs `sql` (the pipeline's files unless given) over `records`.
pub async fn preview(
    loaded: &LoadedPipeline,
    sql: Option<Vec<PathBuf>>,
    records: Vec<RawRecord>,
    what: &str,
) -> Result<Preview> {
    let (sinks, errors) = sink_tables(loaded, ColumnsFrom::CreateCql).await;
    if let Some((_, first)) = errors.into_iter().next() {
        return Err(first);
    }
    let mut spec = loaded.spec(Some(Trigger::AvailableNow));
    if let Some(files) = sql {
        spec.sql_files = files;
    }
    for file in &spec.sql_files {
        ember_engine::sql::check_file(file)?;
    }
    let scratch = Scratch::new()?;
    let checkpoint = Checkpoint::open(&scratch.0.display().to_string(), "preview")?;
    let letters = Collected::default();
    let mut pipeline = Pipeline::new(
        spec,
        Box::new(RecordsSource::new(records, what)),
        providers(&sinks),
        checkpoint,
        Some(Box::new(letters.clone())),
    )
    .await?
    .with_deletes(
        sinks
            .iter()
            .filter(|s| s.deletes)
            .map(|s| s.table.clone() as Arc<dyn DeleteSink>)
            .collect(),
    )
    .with_max_consecutive_failures(loaded.config.max_consecutive_failures);
    let (_keep, stopped) = watch::channel(false);
    let summary = pipeline.run(&mut Quiet, stopped).await?;
    let mut dead_letters = letters.0.lock().map(|l| l.clone()).unwrap_or_default();
    dead_letters.sort_by_key(|l| (l.partition, l.offset));
    if dead_letters.len() as u64 != summary.rejected {
        bail!(
            "preview: {} record(s) rejected but {} dead letter(s) collected (an engine bug)",
            summary.rejected,
            dead_letters.len()
        );
    }
    Ok(Preview {
        sinks: sinks
            .iter()
            .map(|s| (s.name.clone(), s.columns().schema.clone(), s.table.rows()))
            .collect(),
        dead_letters,
        summary,
    })
}

/// A checkpoint directory of its own, removed afterwards: a preview never
/// touches the pipeline's checkpoint.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("ember-preview-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The dead-letter sink of a preview: it keeps every letter.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<DeadLetter>>>);

#[async_trait]
impl DeadLetterSink for Collected {
    async fn send(&self, letters: &[DeadLetter]) -> Result<(), SourceError> {
        self.0
            .lock()
            .map_err(|_| SourceError::Other {
                message: "preview dead letters: lock poisoned".into(),
                cause: None,
            })?
            .extend_from_slice(letters);
        Ok(())
    }

    fn describe(&self) -> String {
        "preview (in memory)".into()
    }
}

/// Batch progress is not shown: the preview prints its result at the end.
struct Quiet;

impl Reporter for Quiet {
    fn batch_done(&mut self, _report: &BatchReport) {}
}

#[cfg(test)]
mod tests;
