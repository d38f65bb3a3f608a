//! Builds a runnable [`Pipeline`] from a loaded pipeline file: connects the
//! Kafka source and every sink, then plans the SQL against them.

use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::catalog::TableProvider;
use ember_connectors::cassandra::CassandraTable;
use ember_connectors::kafka::KafkaSource;
use ember_engine::{Pipeline, Trigger};

use crate::config::LoadedPipeline;

/// Connects and plans; every failure here happens before a record is read.
pub async fn build_pipeline(loaded: &LoadedPipeline, trigger: Option<Trigger>) -> Result<Pipeline> {
    let spec = loaded.spec(trigger);
    let config = &loaded.config;
    let mut sinks: Vec<(String, Arc<dyn TableProvider>)> = Vec::new();
    for (name, sink) in &config.sinks {
        let table = CassandraTable::connect(name, sink)
            .await
            .with_context(|| format!("sink `{name}`"))?;
        tracing::info!(sink = %name, table = table.qualified_name(), "sink ready");
        sinks.push((name.clone(), Arc::new(table)));
    }
    let source = KafkaSource::connect(
        &config.source,
        &loaded.group_id(),
        spec.trigger == Trigger::AvailableNow,
    )
    .await
    .context("source")?;
    Ok(Pipeline::new(spec, Box::new(source), sinks).await?)
}
