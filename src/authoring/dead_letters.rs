//! `ember dead-letters`: the dead-letter topic read back (counted by
//! reason, shown) and re-driven.
//!
//! Re-driving is the pipeline itself pointed at its dead-letter topic: the
//! same decoder, SQL files and sinks as the current configuration (after
//! the fix), the normal idempotent write path with its checkpoint and
//! `USING TIMESTAMP`, but a consumer group and a checkpoint of its own
//! (`<group>-redrive`), so each dead letter is re-driven once however often
//! `redrive` runs. A record that fails again is a new dead letter with its
//! new reason, appended to the same topic (its `ember.source.*` headers then
//! name its place in the dead-letter topic); the run reads only up to the
//! end the topic had when it started, so that letter waits for the next
//! `redrive`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use ember_connectors::kafka::dead_letters::REASON;
use ember_connectors::kafka::{
    committed_offsets, read_topic, scan_topic, ReadWindow, StartingOffsets, StoredRecord,
};
use ember_engine::source::SourceError;

use crate::config::LoadedPipeline;

/// Every record of the pipeline's dead-letter topic handed to `visit`
/// (false stops), read without a consumer group and without holding them
/// all; false when the topic does not exist (yet: the pipeline creates it
/// on its first run).
pub async fn scan_dead_letters(
    loaded: &LoadedPipeline,
    window: ReadWindow,
    mut visit: impl FnMut(StoredRecord) -> bool + Send + 'static,
) -> Result<bool> {
    let topic = loaded.dead_letter_topic().to_string();
    let source = &loaded.config.source;
    let (brokers, security, options) = (
        source.brokers.clone(),
        source.security.clone(),
        source.options.0.clone(),
    );
    let what = topic.clone();
    let scanned = tokio::task::spawn_blocking(move || {
        scan_topic(
            &brokers,
            &security,
            &options,
            &topic,
            window,
            Duration::from_secs(30),
            &mut visit,
        )
    })
    .await
    .context("the topic reader stopped")?;
    match scanned {
        Ok(()) => Ok(true),
        Err(SourceError::Topic { .. }) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("reading topic {what}")),
    }
}

/// The letters counted by reason; `None` when the topic does not exist.
pub async fn count_dead_letters(loaded: &LoadedPipeline) -> Result<Option<Vec<ReasonCount>>> {
    let counter = std::sync::Arc::new(std::sync::Mutex::new(ReasonCounter::default()));
    let adding = counter.clone();
    let exists = scan_dead_letters(loaded, ReadWindow::All, move |letter| {
        if let Ok(mut c) = adding.lock() {
            c.add(&letter);
        }
        true
    })
    .await?;
    let counts = counter
        .lock()
        .map_err(|_| anyhow::anyhow!("dead-letter counter lock poisoned"))?
        .finish();
    Ok(exists.then_some(counts))
}

/// The first `limit` letters with `reason` (any, if `None`) in (partition,
/// offset) order, and how many there are in all; `None` when the topic
/// does not exist.
pub async fn find_dead_letters(
    loaded: &LoadedPipeline,
    window: ReadWindow,
    reason: Option<String>,
    limit: usize,
) -> Result<Option<(Vec<StoredRecord>, u64)>> {
    let found = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), 0u64)));
    let adding = found.clone();
    let exists = scan_dead_letters(loaded, window, move |letter| {
        if reason
            .as_deref()
            .is_none_or(|r| letter.header(REASON) == Some(r))
        {
            if let Ok(mut f) = adding.lock() {
                f.1 += 1;
                if f.0.len() < limit {
                    f.0.push(letter);
                }
            }
        }
        true
    })
    .await?;
    let (mut letters, total) = std::mem::take(
        &mut *found
            .lock()
            .map_err(|_| anyhow::anyhow!("dead-letter reader lock poisoned"))?,
    );
    letters.sort_by_key(|l| (l.partition, l.offset));
    Ok(exists.then_some((letters, total)))
}

/// The latest `n` records of the pipeline's source topic, read without a
/// consumer group: the pipeline's group offsets are not touched.
pub async fn sample_source(loaded: &LoadedPipeline, n: usize) -> Result<Vec<StoredRecord>> {
    let source = &loaded.config.source;
    let (brokers, security, options, topic) = (
        source.brokers.clone(),
        source.security.clone(),
        source.options.0.clone(),
        source.topic.to_string(),
    );
    let what = topic.clone();
    tokio::task::spawn_blocking(move || {
        read_topic(
            &brokers,
            &security,
            &options,
            &topic,
            ReadWindow::Latest(n),
            Duration::from_secs(30),
        )
    })
    .await
    .context("the topic reader stopped")?
    .with_context(|| format!("reading topic {what}"))
}

/// How many dead letters one reason has, and when the first and last were
/// written (Kafka timestamps, milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
}

/// Counts letters by their `ember.reason` header (a record without the
/// header counts as `unknown`), one at a time.
#[derive(Debug, Default)]
pub struct ReasonCounter {
    by: BTreeMap<String, ReasonCount>,
}

impl ReasonCounter {
    pub fn add(&mut self, letter: &StoredRecord) {
        let reason = letter.header(REASON).unwrap_or("unknown");
        let entry = self
            .by
            .entry(reason.to_string())
            .or_insert_with(|| ReasonCount {
                reason: reason.to_string(),
                count: 0,
                oldest_ms: None,
                newest_ms: None,
            });
        entry.count += 1;
        if let Some(t) = letter.timestamp_ms {
            entry.oldest_ms = Some(entry.oldest_ms.map_or(t, |o| o.min(t)));
            entry.newest_ms = Some(entry.newest_ms.map_or(t, |n| n.max(t)));
        }
    }

    /// The counts by reason name.
    pub fn finish(&mut self) -> Vec<ReasonCount> {
        std::mem::take(&mut self.by).into_values().collect()
    }
}

/// `letters` counted by reason (see [`ReasonCounter`]).
pub fn count_by_reason(letters: &[StoredRecord]) -> Vec<ReasonCount> {
    let mut counter = ReasonCounter::default();
    letters.iter().for_each(|l| counter.add(l));
    counter.finish()
}

/// Where the next redrive starts in each partition of the dead-letter
/// topic: the redrive group's committed offsets (the mirror of its
/// checkpoint), from the start where it committed nothing.
pub async fn redrive_start(loaded: &LoadedPipeline) -> Result<ReadWindow> {
    let source = &loaded.config.source;
    let (brokers, security, options, group, topic) = (
        source.brokers.clone(),
        source.security.clone(),
        source.options.0.clone(),
        redrive_group(loaded),
        loaded.dead_letter_topic().to_string(),
    );
    let offsets = tokio::task::spawn_blocking(move || {
        committed_offsets(&brokers, &security, &options, &group, &topic)
    })
    .await
    .context("the offsets reader stopped")??;
    Ok(ReadWindow::From(offsets))
}

/// The consumer group a pipeline's re-drives read with.
pub fn redrive_group(loaded: &LoadedPipeline) -> String {
    format!("{}-redrive", loaded.group_id())
}

/// The pipeline as `redrive` runs it: reading its dead-letter topic from
/// the start with a group and checkpoint of its own, setting aside again
/// into the same topic. Everything else (schema, SQL, sinks) is as loaded.
pub fn redrive_pipeline(mut loaded: LoadedPipeline) -> LoadedPipeline {
    let dead_letters = loaded.dead_letter_topic().clone();
    let group = redrive_group(&loaded);
    let c = &mut loaded.config;
    // The checkpoint: a configured location keeps one folder per topic, so
    // the dead-letter topic's state never meets the source topic's; the
    // default location is per group, the redrive group's.
    c.source.topic = dead_letters.clone();
    c.source.group_id = Some(group);
    c.source.starting_offsets = StartingOffsets::Earliest;
    c.dead_letter.enabled = true;
    c.dead_letter.topic = Some(dead_letters);
    loaded
}

#[cfg(test)]
mod tests;
