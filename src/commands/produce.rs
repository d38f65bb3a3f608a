//! `ember produce`: randomuser-shaped records to Kafka.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use ember::config::LoadedPipeline;
use ember::ingest::{produce, ProduceOptions};
use ember_engine::parse_duration;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Args, Debug)]
pub(crate) struct ProduceArgs {
    /// Bootstrap servers (default: the pipeline's, else 127.0.0.1:9092).
    #[arg(long, env = "EMBER_SOURCE__BROKERS")]
    pub(crate) brokers: Option<String>,
    /// Take brokers, topic, TLS/SASL settings and options from this
    /// pipeline's [source] (with its EMBER_ overrides).
    #[arg(long)]
    pub(crate) pipeline: Option<PathBuf>,
    /// The topic (default: the pipeline's, else users_created).
    #[arg(long, env = "EMBER_SOURCE__TOPIC")]
    pub(crate) topic: Option<String>,
    /// Create the topic with this many partitions if it is missing.
    #[arg(long)]
    pub(crate) partitions: Option<i32>,
    /// How many records (default 1000 unless --duration is given).
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// At most this many records per second.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Stop after this long ("30s", "5m").
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,
    /// Seed of the generator (and of the ids given to API users).
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Fetch users from a randomuser.me-format API instead of generating them.
    #[arg(long)]
    pub(crate) api_url: Option<String>,
    /// Users per API request (results=N).
    #[arg(long, default_value_t = 500)]
    pub(crate) api_page_size: usize,
    /// Print the totals as one JSON line at the end.
    #[arg(long)]
    pub(crate) summary_json: bool,
}

/// `ember produce`.
pub(crate) async fn produce_command(args: ProduceArgs) -> Result<()> {
    let ProduceArgs {
        brokers,
        pipeline,
        topic,
        partitions,
        count,
        rate,
        duration,
        seed,
        api_url,
        api_page_size,
        summary_json,
    } = args;
    let count = count.or(if duration.is_none() { Some(1000) } else { None });
    let source = match &pipeline {
        Some(p) => Some(LoadedPipeline::load(p, std::env::vars())?.config.source),
        None => None,
    };
    let topic = topic
        .or_else(|| source.as_ref().map(|s| s.topic.to_string()))
        .unwrap_or_else(|| "users_created".into());
    let topic = ember_connectors::kafka::TopicName::try_from(topic)?;
    let opts = ProduceOptions {
        brokers: brokers
            .or_else(|| source.as_ref().map(|s| s.brokers.clone()))
            .unwrap_or_else(|| "127.0.0.1:9092".into()),
        topic: topic.into(),
        partitions,
        count,
        rate,
        duration,
        seed,
        api_url,
        api_page_size,
        security: source
            .as_ref()
            .map(|s| s.security.clone())
            .unwrap_or_default(),
        kafka_options: source.map(|s| s.options.0).unwrap_or_default(),
    };
    run_produce(opts, summary_json).await
}

async fn run_produce(opts: ProduceOptions, summary_json: bool) -> Result<()> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = match opts.count {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} records, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let summary = produce(&opts, |n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    println!(
        "produced {} record(s) to {} from the {} in {:.1} s ({:.0} records/s)",
        summary.produced,
        summary.topic,
        summary.source,
        secs,
        summary.produced as f64 / secs
    );
    if summary_json {
        println!(
            "{}",
            serde_json::json!({
                "produced": summary.produced,
                "topic": summary.topic,
                "source": summary.source,
                "seconds": secs,
            })
        );
    }
    Ok(())
}
