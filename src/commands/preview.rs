//! `ember preview`: the transforms run on local records, printed.

use std::path::PathBuf;

use anyhow::{bail, Result};
use ember::authoring::dead_letters::sample_source;
use ember::authoring::preview::{preview as run_preview, read_jsonl};
use ember::config::LoadedPipeline;
use ember_engine::source::RawRecord;

mod output;
pub(crate) use output::{print as print_preview, Format, Where};

#[derive(clap::Args, Debug)]
pub(crate) struct PreviewArgs {
    /// The pipeline file (e.g. pipelines/users.toml): schema, sinks, SQL.
    pub(crate) pipeline: PathBuf,
    /// Run this SQL file instead of the pipeline's (repeat for several).
    #[arg(long = "sql", value_name = "FILE")]
    pub(crate) sql: Vec<PathBuf>,
    /// A JSON Lines file: one record value (the Kafka payload) per line.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "from_topic",
        conflicts_with = "from_topic"
    )]
    pub(crate) input: Option<PathBuf>,
    /// Take the latest records of the pipeline's topic instead, read without a
    /// consumer group (nothing is committed; the pipeline's group is untouched).
    #[arg(long)]
    pub(crate) from_topic: bool,
    /// At most this many records (default: the whole file, or 100 from the topic).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
    /// How to print the rows and dead letters.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
}

/// `ember preview`.
pub(crate) async fn preview(args: PreviewArgs) -> Result<()> {
    let loaded = LoadedPipeline::load(&args.pipeline, std::env::vars())?;
    if args.limit == Some(0) {
        bail!("--limit must be at least 1");
    }
    let (records, wheres, what): (Vec<RawRecord>, Vec<Where>, String) = match &args.input {
        Some(file) => {
            let (records, lines) = read_jsonl(file, args.limit)?;
            let wheres = lines.into_iter().map(Where::Line).collect();
            (records, wheres, file.display().to_string())
        }
        None => {
            let sample = sample_source(&loaded, args.limit.unwrap_or(100)).await?;
            let wheres = sample
                .iter()
                .map(|r| Where::Kafka(r.partition, r.offset))
                .collect();
            let records = sample
                .into_iter()
                .map(|r| RawRecord {
                    partition: r.partition,
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key,
                    value: r.value,
                })
                .collect();
            (
                records,
                wheres,
                format!("topic {}", loaded.config.source.topic),
            )
        }
    };
    let located: Vec<(i32, i64, Where)> = records
        .iter()
        .zip(wheres)
        .map(|(r, w)| (r.partition, r.offset, w))
        .collect();
    let sql = (!args.sql.is_empty()).then(|| args.sql.clone());
    let result = run_preview(&loaded, sql, records, &what).await?;
    let place = |partition: i32, offset: i64| {
        located
            .iter()
            .find(|(p, o, _)| *p == partition && *o == offset)
            .map_or(Where::Kafka(partition, offset), |(_, _, w)| *w)
    };
    output::print(&result, args.format, &place)
}
