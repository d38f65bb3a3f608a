//! The sink tables `ember check` and `ember preview` plan against: the
//! columns of each sink's `create_cql` file, or (`ember check --connect`) of
//! the live table, behind an [`OfflineTable`] that keeps what is written.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use datafusion::catalog::TableProvider;
use ember_connectors::cassandra::{live_columns, read_create_table, OfflineTable, SinkColumns};
use ember_decode::JsonDecoder;
use ember_engine::error::EngineError;
use ember_engine::sql::SqlEngine;

use crate::config::LoadedPipeline;

/// Where a sink's columns are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnsFrom {
    /// The sink's `create_cql` file: no cluster needed.
    CreateCql,
    /// The live table's `system_schema` (nothing is created).
    Live,
}

/// One sink of the pipeline, offline.
#[derive(Debug, Clone)]
pub struct SinkTable {
    /// The name the SQL inserts into.
    pub name: String,
    /// Where its columns came from (the file, or `live keyspace.table`).
    pub origin: String,
    pub table: Arc<OfflineTable>,
    /// `deletes = true`: tombstones delete by key.
    pub deletes: bool,
}

impl SinkTable {
    pub fn columns(&self) -> &SinkColumns {
        self.table.columns()
    }
}

/// Every sink's table, or, per sink that has none, its name and why.
pub async fn sink_tables(
    loaded: &LoadedPipeline,
    from: ColumnsFrom,
) -> (Vec<SinkTable>, Vec<(String, anyhow::Error)>) {
    let mut tables = Vec::new();
    let mut errors = Vec::new();
    for (name, sink) in &loaded.config.sinks {
        match sink_table(name, sink, from).await {
            Ok(t) => tables.push(t),
            Err(e) => errors.push((name.clone(), e.context(format!("sink `{name}`")))),
        }
    }
    (tables, errors)
}

async fn sink_table(
    name: &str,
    sink: &ember_connectors::cassandra::CassandraSinkConfig,
    from: ColumnsFrom,
) -> Result<SinkTable> {
    let table = sink.table_name(name).map_err(|e| anyhow!("table: {e}"))?;
    let ks = &sink.keyspace;
    // The columns of the create_cql file; `without` says what its absence
    // means, `note` is added to where the columns came from.
    let declared = |without: String, note: &str| -> Result<(SinkColumns, String)> {
        let file: &PathBuf = sink.create_cql.as_ref().ok_or_else(|| anyhow!(without))?;
        let mut columns = read_create_table(file, table.as_str())?;
        // The file runs in the sink's keyspace (`ember run` uses it first).
        if !columns.table.contains('.') {
            columns.table = format!("{ks}.{table}");
        }
        Ok((columns, format!("{}{note}", file.display())))
    };
    let (columns, origin) = match from {
        ColumnsFrom::CreateCql => declared(
            format!(
                "no `create_cql` file to read table {ks}.{table}'s columns from \
                 (ember check --connect reads the live table)"
            ),
            "",
        )?,
        ColumnsFrom::Live => match live_columns(sink, name).await? {
            Some(columns) => (columns, format!("live table {ks}.{table}")),
            // What `ember run` would do: create it from the file.
            None => declared(
                format!(
                    "table {ks}.{table} does not exist and the sink names no `create_cql` file"
                ),
                " (the live table does not exist: ember run creates it from this file)",
            )?,
        },
    };
    let mut table = OfflineTable::new(columns).context("the sink's columns")?;
    if sink.deletes {
        table = table.with_deletes().context("deletes = true")?;
    }
    Ok(SinkTable {
        name: name.to_string(),
        origin,
        table: Arc::new(table),
        deletes: sink.deletes,
    })
}

/// The sinks without a `create_cql` file: offline, their columns are
/// unknown (the table was created by other means).
pub fn undeclared_sinks(loaded: &LoadedPipeline) -> Vec<String> {
    loaded
        .config
        .sinks
        .iter()
        .filter(|(_, sink)| sink.create_cql.is_none())
        .map(|(name, _)| name.clone())
        .collect()
}

/// The sinks as the engine registers them.
pub fn providers(sinks: &[SinkTable]) -> Vec<(String, Arc<dyn TableProvider>)> {
    sinks
        .iter()
        .map(|s| (s.name.clone(), s.table.clone() as Arc<dyn TableProvider>))
        .collect()
}

/// Plans `files` exactly as `ember run` does: the source table with the
/// schema the decoder produces, the sinks registered under their names.
pub async fn plan(
    loaded: &LoadedPipeline,
    sinks: &[SinkTable],
    files: &[PathBuf],
) -> Result<SqlEngine, EngineError> {
    let decoder = JsonDecoder::new(loaded.config.source.schema.clone());
    SqlEngine::plan(
        &loaded.config.source.table,
        decoder.schema().clone(),
        providers(sinks),
        files,
    )
    .await
}
