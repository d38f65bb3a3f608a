//! Builds a runnable [`Pipeline`] from a loaded pipeline file: connects the
//! Kafka source and every sink, then plans the SQL against them.

use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::catalog::TableProvider;
use ember_connectors::cassandra::CassandraTable;
use ember_connectors::kafka::{ensure_dead_letter_topic, KafkaDeadLetters, KafkaSource};
use ember_engine::{Checkpoint, DeadLetterSink, Pipeline, Trigger};

use crate::config::LoadedPipeline;

/// Connects and plans; every failure here happens before a record is read.
pub async fn build_pipeline(loaded: &LoadedPipeline, trigger: Option<Trigger>) -> Result<Pipeline> {
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
    // The connections are independent, so they are made at once: start-up
    // (and with it the first batch) waits for the slowest, not the sum.
    let sinks = futures::future::try_join_all(config.sinks.iter().map(|(name, sink)| async move {
        let table = CassandraTable::connect(name, sink)
            .await
            .with_context(|| format!("sink `{name}`"))?;
        tracing::info!(sink = %name, table = table.qualified_name(), "sink ready");
        Ok::<_, anyhow::Error>((name.clone(), Arc::new(table) as Arc<dyn TableProvider>))
    }));
    let source = async {
        KafkaSource::connect(
            &config.source,
            &loaded.group_id(),
            spec.trigger == Trigger::AvailableNow,
        )
        .await
        .context("source")
    };
    let dead_letters = async {
        if !config.dead_letter.enabled {
            return Ok(None);
        }
        let topic = ensure_dead_letter_topic(
            &config.source.brokers,
            &config.source.security,
            &loaded.dead_letter_topic(),
            &config.source.topic,
            config.dead_letter.partitions,
            config.dead_letter.replication_factor,
        )
        .await
        .context("dead-letter topic")?;
        let sink: Box<dyn DeadLetterSink> = Box::new(KafkaDeadLetters::new(
            &config.source.brokers,
            &config.source.security,
            &topic,
            &config.source.topic,
            &config.name,
            &config.source.options,
        )?);
        Ok::<_, anyhow::Error>(Some(sink))
    };
    let (sinks, source, dead_letters) = tokio::try_join!(sinks, source, dead_letters)?;
    let checkpoint = Checkpoint::open(&loaded.checkpoint_location(), &config.source.topic)?
        .with_max_write_time_skew(config.max_write_time_skew);
    Ok(Pipeline::new(spec, Box::new(source), sinks, checkpoint, dead_letters).await?)
}
