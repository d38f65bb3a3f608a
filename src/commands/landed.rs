//! `ember landed`: how many of a produce run's users are rows of a sink.

use std::path::PathBuf;

use anyhow::Result;
use ember::config::LoadedPipeline;

#[derive(clap::Args, Debug)]
pub(crate) struct LandedArgs {
    /// The pipeline file whose sink to look in (EMBER_ overrides apply).
    pub(crate) pipeline: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// How many records that produce run sent.
    #[arg(long)]
    pub(crate) count: u64,
    /// The run fetched users from an API (--api-url): its ids are drawn alone.
    #[arg(long)]
    pub(crate) api: bool,
    /// The sink, if the pipeline has several.
    #[arg(long)]
    pub(crate) sink: Option<String>,
    /// Print the counts as one JSON line at the end.
    #[arg(long)]
    pub(crate) summary_json: bool,
}

/// `ember landed`.
pub(crate) async fn landed(args: LandedArgs) -> Result<()> {
    let LandedArgs {
        pipeline,
        seed,
        count,
        api,
        sink,
        summary_json,
    } = args;
    let loaded = LoadedPipeline::load(&pipeline, std::env::vars())?;
    let sinks = &loaded.config.sinks;
    let (name, config) = match (&sink, sinks.len()) {
        (Some(name), _) => sinks
            .get_key_value(name)
            .ok_or_else(|| anyhow::anyhow!("{}: no sink named {name}", pipeline.display()))?,
        (None, 1) => sinks
            .iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no sink"))?,
        (None, _) => anyhow::bail!(
            "{} has {} sinks: say which with --sink",
            pipeline.display(),
            sinks.len()
        ),
    };
    let table = config.table_name(name)?;
    let ids = ember::ingest::produced_ids(seed, count, api);
    let present: std::collections::HashSet<uuid::Uuid> =
        ember::query::present_ids(config, &table, &ids)
            .await?
            .into_iter()
            .collect();
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !present.contains(id))
        .take(5)
        .map(|id| id.to_string())
        .collect();
    let qualified = format!("{}.{table}", config.keyspace);
    println!(
        "{} of {count} user(s) of seed {seed} are in {qualified}",
        present.len()
    );
    if summary_json {
        println!(
            "{}",
            serde_json::json!({
                "expected": count,
                "found": present.len(),
                "table": qualified,
                "missing_sample": missing,
            })
        );
    }
    Ok(())
}
