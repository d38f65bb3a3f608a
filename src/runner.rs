//! Builds a runnable [`Pipeline`] from a loaded pipeline file: connects the
//! Kafka source and every sink, then plans the SQL against them.

use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::catalog::TableProvider;
use ember_connectors::cassandra::{CassandraTable, SinkActivity};
use ember_connectors::kafka::{ensure_dead_letter_topic, KafkaDeadLetters, KafkaSource, ReadUntil};
use ember_engine::{Checkpoint, DeadLetterSink, DeleteSink, Pipeline, Trigger};

use crate::config::LoadedPipeline;

/// A pipeline ready to run.
pub struct BuiltPipeline {
    pub pipeline: Pipeline,
    /// Per sink, its requests in flight, sent and retried, counted live
    /// (the metrics endpoint reads them at each scrape).
    pub sink_activity: Vec<(String, Arc<SinkActivity>)>,
}

/// Connects and plans; every failure here happens before a record is read.
pub async fn build_pipeline(
    loaded: &LoadedPipeline,
    trigger: Option<Trigger>,
) -> Result<BuiltPipeline> {
    let spec = loaded.spec(trigger);
    let config = &loaded.config;
    // Refused before connecting anything: a transform that cannot be
    // replayed identically is a broken pipeline, not a broken record.
    for sql in &config.sql {
        ember_engine::sql::check_file(sql)?;
    }
    if let Some(warning) = loaded.local_checkpoint_warning() {
        tracing::warn!("{warning}");
    }
    let mut sinks: Vec<(String, Arc<dyn TableProvider>)> = Vec::new();
    let mut deletes: Vec<Arc<dyn DeleteSink>> = Vec::new();
    let mut sink_activity = Vec::new();
    for (name, sink) in &config.sinks {
        let table = CassandraTable::connect(name, sink)
            .await
            .with_context(|| format!("sink `{name}`"))?;
        tracing::info!(sink = %name, table = table.qualified_name(), deletes = table.deletes(), "sink ready");
        sink_activity.push((name.clone(), table.activity()));
        let table = Arc::new(table);
        if table.deletes() {
            deletes.push(table.clone());
        }
        sinks.push((name.clone(), table));
    }
    let source = KafkaSource::connect(
        &config.source,
        &loaded.group_id(),
        match spec.trigger {
            Trigger::AvailableNow => ReadUntil::EndAtStart,
            Trigger::ProcessingTime(_) => ReadUntil::Stopped,
        },
    )
    .await
    .context("source")?;
    let checkpoint = Checkpoint::open(&loaded.checkpoint_location(), &config.source.topic)?
        .with_max_write_time_skew(config.max_write_time_skew);
    let dead_letters: Option<Box<dyn DeadLetterSink>> = if config.dead_letter.enabled {
        let topic = ensure_dead_letter_topic(
            &config.source.brokers,
            &config.source.security,
            loaded.dead_letter_topic(),
            &config.source.topic,
            config.dead_letter.partitions,
            config.dead_letter.replication_factor,
        )
        .await
        .context("dead-letter topic")?;
        Some(Box::new(KafkaDeadLetters::new(
            &config.source.brokers,
            &config.source.security,
            &topic,
            &config.source.topic,
            &config.name,
            &config.source.options,
        )?))
    } else {
        None
    };
    let pipeline = Pipeline::new(spec, Box::new(source), sinks, checkpoint, dead_letters)
        .await?
        .with_deletes(deletes)
        .with_max_consecutive_failures(config.max_consecutive_failures);
    Ok(BuiltPipeline {
        pipeline,
        sink_activity,
    })
}
