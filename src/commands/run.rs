//! `ember run`: a pipeline until it is finished or stopped.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use ember::config::LoadedPipeline;
use ember::observe::progress::{SinkInfo, SqlFile};
use ember::observe::{self, Observer, ObservingReporter, PipelineInfo};
use ember::runner::BuiltPipeline;
use ember_engine::{Reporter, Trigger};

use super::lifecycle::{
    build_unless_signalled, close_within, sink_names, stop_on_signals, CONSUMER_CLOSE,
};
use crate::run_report::{print_run_summary, summary_json_line, LineReporter, StatusLine};
use crate::signals::Signals;

#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// The pipeline file (e.g. pipelines/users.toml).
    pub(crate) pipeline: PathBuf,
    /// Override the file's trigger: "available-now" processes everything up to the
    /// end offsets seen at start and exits 0; "500ms" runs continuously, a batch
    /// closing every 500 ms or at max_records ("10ms" with max_records 2000 for low
    /// latency; the run summary reports it).
    #[arg(long)]
    pub(crate) trigger: Option<Trigger>,
    /// Print the run's totals as one JSON line at the end (for schedulers).
    #[arg(long)]
    pub(crate) summary_json: bool,
    /// Serve /metrics, /progress, /health/live, /health/ready and the live
    /// dashboard at / on this address ("127.0.0.1:9400"; port 0 picks a free
    /// one); overrides the file's metrics_address.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<SocketAddr>,
}

/// How long the loop may go without finishing a batch or an idle interval
/// before /health/ready says it is stalled: a minute, or twenty trigger
/// intervals for a slow trigger.
fn stall_bound(trigger: &Trigger) -> Duration {
    match trigger {
        Trigger::ProcessingTime(every) => (*every * 20).max(Duration::from_secs(60)),
        Trigger::AvailableNow => Duration::from_secs(60),
    }
}

fn pipeline_info(loaded: &LoadedPipeline, trigger: &Trigger) -> PipelineInfo {
    let config = &loaded.config;
    PipelineInfo {
        name: config.name.clone(),
        topic: config.source.topic.to_string(),
        trigger: trigger.to_string(),
        sql: config.sql.iter().map(|f| SqlFile::read(f)).collect(),
        sinks: config
            .sinks
            .iter()
            .map(|(name, sink)| SinkInfo {
                name: name.clone(),
                table: format!(
                    "{}.{}",
                    sink.keyspace,
                    sink.table.as_ref().map_or(name.as_str(), |t| t.as_ref())
                ),
            })
            .collect(),
    }
}

/// `ember run`.
pub(crate) async fn run(args: RunArgs) -> Result<()> {
    let RunArgs {
        pipeline,
        trigger,
        summary_json,
        metrics,
    } = args;
    // The handlers first: a SIGTERM while the job still connects (seconds,
    // longer with a broker down) is a clean stop before any batch, not a kill.
    let mut signals = Signals::new();
    let loaded = LoadedPipeline::load(&pipeline, std::env::vars())?;
    let metrics_address = metrics.or(loaded.config.metrics_address);
    let on_terminal = std::io::stdout().is_terminal();
    let effective_trigger = trigger.unwrap_or(loaded.config.trigger);
    // Observed when serving the endpoints, or for the terminal's status
    // line (its lag); a run in a log pays for neither.
    let observer = (metrics_address.is_some() || on_terminal).then(|| {
        Observer::new(
            pipeline_info(&loaded, &effective_trigger),
            stall_bound(&effective_trigger),
        )
    });
    // Served before connecting, so /health/live answers at once and
    // /health/ready says "connecting" until the source and sinks are.
    let served = match (metrics_address, &observer) {
        (Some(address), Some(o)) => Some(
            observe::server::serve(address, o.clone())
                .await
                .with_context(|| format!("serving metrics on {address}"))?,
        ),
        _ => None,
    };
    let Some(BuiltPipeline {
        pipeline: mut engine,
        sink_activity,
    }) = build_unless_signalled(&loaded, trigger, &mut signals).await?
    else {
        return Ok(());
    };
    let spec = engine.spec().clone();
    println!(
        "ember run {}: {} → {} ({} SQL file(s)), trigger {}",
        spec.name,
        loaded.config.source.topic,
        sink_names(&loaded),
        spec.sql_files.len(),
        spec.trigger
    );
    println!("  checkpoint {}", loaded.checkpoint_location());
    if let Some(bound) = served {
        println!("  metrics http://{bound}/metrics, dashboard http://{bound}/");
    }
    if let Some(o) = &observer {
        o.metrics.watch_sinks(sink_activity);
        o.connected();
        observe::lag::spawn(
            o.clone(),
            &loaded.config.source,
            &loaded.group_id(),
            Duration::from_secs(1),
        );
    }
    let stopped = stop_on_signals(signals);
    let mut lines = LineReporter;
    let mut status = match (&observer, on_terminal) {
        (Some(o), true) => Some(StatusLine::new(o.clone())),
        _ => None,
    };
    let inner: &mut dyn Reporter = match &mut status {
        Some(s) => s,
        None => &mut lines,
    };
    let mut reporter = ObservingReporter {
        inner,
        observer: observer.clone(),
    };
    let outcome = engine.run(&mut reporter, stopped).await;
    drop(reporter);
    if let Some(s) = &mut status {
        s.finish();
    }
    close_within(engine, CONSUMER_CLOSE);
    let summary = outcome?;
    print_run_summary(&summary);
    if summary_json {
        println!("{}", summary_json_line(&summary));
    }
    Ok(())
}
