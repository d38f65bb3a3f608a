//! `ember cql`: one CQL statement, its rows as a table.

use std::path::PathBuf;

use anyhow::{Context, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use ember::config::LoadedPipeline;

#[derive(clap::Args, Debug)]
pub(crate) struct CqlArgs {
    /// The statement, e.g. "SELECT COUNT(*) FROM spark_streams.created_users".
    pub(crate) statement: String,
    #[arg(long, default_value = "127.0.0.1:9042")]
    pub(crate) contact_point: String,
    /// Connect like this pipeline's sink instead (contact points,
    /// username/password, TLS); --contact-point is then ignored.
    #[arg(long)]
    pub(crate) pipeline: Option<PathBuf>,
    /// Which sink of --pipeline (default: the first).
    #[arg(long)]
    pub(crate) sink: Option<String>,
    /// Print rows as tab-separated values without a header (for scripts).
    #[arg(long)]
    pub(crate) tsv: bool,
}

/// `ember cql`.
pub(crate) async fn cql(args: CqlArgs) -> Result<()> {
    let CqlArgs {
        statement,
        contact_point,
        pipeline,
        sink,
        tsv,
    } = args;
    let (names, rows) = match pipeline {
        None => ember::query::run_cql(&contact_point, &statement).await?,
        Some(p) => {
            let loaded = LoadedPipeline::load(&p, std::env::vars())?;
            let config = match &sink {
                Some(name) => loaded
                    .config
                    .sinks
                    .get(name)
                    .with_context(|| format!("{}: no sink named `{name}`", p.display()))?,
                None => loaded
                    .config
                    .sinks
                    .values()
                    .next()
                    .context("the pipeline has no sinks")?,
            };
            ember::query::run_cql_with(config, &statement).await?
        }
    };
    if tsv {
        for row in rows {
            println!("{}", row.join("\t"));
        }
    } else {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(names);
        for row in rows {
            table.add_row(row);
        }
        println!("{table}");
    }
    Ok(())
}
