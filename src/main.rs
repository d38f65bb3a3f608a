//! `ember`: run, feed and check Ember pipelines.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use ember::config::LoadedPipeline;
use ember::ingest::{produce, ProduceOptions};
use ember::runner::build_pipeline;
use ember_connectors::secret::scrub;
use ember_engine::trigger::parse_duration;
use ember_engine::Trigger;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

mod run_report;
mod signals;

use run_report::{print_run_summary, summary_json_line, LineReporter};
use signals::Signals;

/// Ember: a real-time Kafka → DataFusion SQL → Cassandra pipeline.
#[derive(Parser, Debug)]
#[command(name = "ember", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a pipeline: read Kafka in micro-batches, run its SQL, upsert into Cassandra.
    ///
    /// SIGTERM or Ctrl-C lets the batch in flight finish and commit, then exits 0; a
    /// second signal exits 130 at once, and the next start replays that batch.
    Run {
        /// The pipeline file (e.g. pipelines/users.toml).
        pipeline: PathBuf,
        /// Override the file's trigger: "available-now" processes everything up to the
        /// end offsets seen at start and exits 0; "500ms" runs continuously, a batch
        /// closing every 500 ms or at max_records ("10ms" with max_records 2000 for low
        /// latency; the run summary reports it).
        #[arg(long)]
        trigger: Option<Trigger>,
        /// Print the run's totals as one JSON line at the end (for schedulers).
        #[arg(long)]
        summary_json: bool,
    },
    /// Produce randomuser-shaped records to Kafka (generator or --api-url).
    Produce {
        /// Bootstrap servers (default: the pipeline's, else 127.0.0.1:9092).
        #[arg(long, env = "EMBER_SOURCE__BROKERS")]
        brokers: Option<String>,
        /// Take brokers, topic, TLS/SASL settings and options from this
        /// pipeline's [source] (with its EMBER_ overrides).
        #[arg(long)]
        pipeline: Option<PathBuf>,
        /// The topic (default: the pipeline's, else users_created).
        #[arg(long, env = "EMBER_SOURCE__TOPIC")]
        topic: Option<String>,
        /// Create the topic with this many partitions if it is missing.
        #[arg(long)]
        partitions: Option<i32>,
        /// How many records (default 1000 unless --duration is given).
        #[arg(long)]
        count: Option<u64>,
        /// At most this many records per second.
        #[arg(long)]
        rate: Option<f64>,
        /// Stop after this long ("30s", "5m").
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Seed of the generator (and of the ids given to API users).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Fetch users from a randomuser.me-format API instead of generating them.
        #[arg(long)]
        api_url: Option<String>,
        /// Users per API request (results=N).
        #[arg(long, default_value_t = 500)]
        api_page_size: usize,
        /// Print the totals as one JSON line at the end.
        #[arg(long)]
        summary_json: bool,
    },
    /// Count how many of the users `ember produce --seed S` sent (the first N)
    /// are rows of a sink's table: one run's rows, whatever else it holds.
    Landed {
        /// The pipeline file whose sink to look in (EMBER_ overrides apply).
        pipeline: PathBuf,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// How many records that produce run sent.
        #[arg(long)]
        count: u64,
        /// The run fetched users from an API (--api-url): its ids are drawn alone.
        #[arg(long)]
        api: bool,
        /// The sink, if the pipeline has several.
        #[arg(long)]
        sink: Option<String>,
        /// Print the counts as one JSON line at the end.
        #[arg(long)]
        summary_json: bool,
    },
    /// Validate a pipeline file offline and list the EMBER_ variables it read.
    Check { pipeline: PathBuf },
    /// Run one CQL statement against Cassandra and print the result as a table.
    Cql {
        /// The statement, e.g. "SELECT COUNT(*) FROM spark_streams.created_users".
        statement: String,
        #[arg(long, default_value = "127.0.0.1:9042")]
        contact_point: String,
        /// Connect like this pipeline's sink instead (contact points,
        /// username/password, TLS); --contact-point is then ignored.
        #[arg(long)]
        pipeline: Option<PathBuf>,
        /// Which sink of --pipeline (default: the first).
        #[arg(long)]
        sink: Option<String>,
        /// Print rows as tab-separated values without a header (for scripts).
        #[arg(long)]
        tsv: bool,
    },
}

fn main() -> std::process::ExitCode {
    init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Scrubbed: a client library may have repeated a secret.
            eprintln!("error: {}", scrub(&format!("{e:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Run {
            pipeline,
            trigger,
            summary_json,
        } => run(pipeline, trigger, summary_json).await,
        Command::Produce {
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
        } => {
            let count = count.or(if duration.is_none() { Some(1000) } else { None });
            let source = match &pipeline {
                Some(p) => Some(LoadedPipeline::load(p, std::env::vars())?.config.source),
                None => None,
            };
            let topic = topic
                .or_else(|| source.as_ref().map(|s| s.topic.clone()))
                .unwrap_or_else(|| "users_created".into());
            ember::config::validate_topic(&topic).map_err(anyhow::Error::msg)?;
            let opts = ProduceOptions {
                brokers: brokers
                    .or_else(|| source.as_ref().map(|s| s.brokers.clone()))
                    .unwrap_or_else(|| "127.0.0.1:9092".into()),
                topic,
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
        Command::Check { pipeline } => check(pipeline),
        Command::Landed {
            pipeline,
            seed,
            count,
            api,
            sink,
            summary_json,
        } => landed(pipeline, seed, count, api, sink, summary_json).await,
        Command::Cql {
            statement,
            contact_point,
            pipeline,
            sink,
            tsv,
        } => {
            let (names, rows) = match pipeline {
                None => ember::query::run_cql(&contact_point, &statement).await?,
                Some(p) => {
                    let loaded = LoadedPipeline::load(&p, std::env::vars())?;
                    let config =
                        match &sink {
                            Some(name) => loaded.config.sinks.get(name).with_context(|| {
                                format!("{}: no sink named `{name}`", p.display())
                            })?,
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
    }
}

async fn run(pipeline: PathBuf, trigger: Option<Trigger>, summary_json: bool) -> Result<()> {
    // The handlers first: a SIGTERM while the job still connects (seconds,
    // longer with a broker down) is a clean stop before any batch, not a kill.
    let mut signals = Signals::new();
    let loaded = LoadedPipeline::load(&pipeline, std::env::vars())?;
    let mut engine = tokio::select! {
        built = build_pipeline(&loaded, trigger) => built?,
        _ = signals.recv() => {
            eprintln!("ember: shutdown requested while starting: stopped before any batch");
            return Ok(());
        }
    };
    let spec = engine.spec().clone();
    println!(
        "ember run {}: {} → {} ({} SQL file(s)), trigger {}",
        spec.name,
        loaded.config.source.topic,
        loaded
            .config
            .sinks
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        spec.sql_files.len(),
        spec.trigger
    );
    println!("  checkpoint {}", loaded.checkpoint_location());
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!(
            "shutdown requested: finishing the batch in flight (signal again to exit at once)"
        );
        let _ = stop.send(true);
        // A batch can wait minutes for an unavailable sink; an operator who
        // cannot wait gets out now. Nothing of that batch is committed, so
        // the next start replays it.
        signals.recv().await;
        eprintln!("ember: second signal: exiting without committing the batch in flight (it is replayed on the next start)");
        std::process::exit(130);
    });
    let mut reporter = LineReporter;
    let outcome = engine.run(&mut reporter, stopped).await;
    // Everything is committed by now. Closing the consumer leaves the group
    // cleanly, but librdkafka's close can block forever when a rebalance
    // lands in the middle of it: give it a few seconds on its own thread,
    // then exit regardless (the broker then drops the member by timeout).
    let (closed, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(engine);
        let _ = closed.send(());
    });
    if wait.recv_timeout(Duration::from_secs(5)).is_err() {
        tracing::warn!("the Kafka consumer did not close within 5 s; exiting anyway");
    }
    let summary = outcome?;
    print_run_summary(&summary);
    if summary_json {
        println!("{}", summary_json_line(&summary));
    }
    Ok(())
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

async fn landed(
    pipeline: PathBuf,
    seed: u64,
    count: u64,
    api: bool,
    sink: Option<String>,
    summary_json: bool,
) -> Result<()> {
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
    let table = config.table.as_deref().unwrap_or(name);
    let ids = ember::ingest::produced_ids(seed, count, api);
    let present: std::collections::HashSet<uuid::Uuid> =
        ember::query::present_ids(config, table, &ids)
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

fn check(pipeline: PathBuf) -> Result<()> {
    let loaded = LoadedPipeline::load(&pipeline, std::env::vars())?;
    let c = &loaded.config;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec!["setting", "value"]);
    table.add_row(vec!["pipeline".to_string(), c.name.clone()]);
    table.add_row(vec!["trigger".to_string(), c.trigger.to_string()]);
    table.add_row(vec![
        "source".to_string(),
        format!("kafka {} @ {}", c.source.topic, c.source.brokers),
    ]);
    table.add_row(vec![
        "source security".to_string(),
        c.source.security.describe(),
    ]);
    for (k, v) in c.source.options.shown() {
        table.add_row(vec![format!("source option {k}"), v.to_string()]);
    }
    table.add_row(vec!["consumer group".to_string(), loaded.group_id()]);
    table.add_row(vec!["source table".to_string(), c.source.table.clone()]);
    table.add_row(vec![
        "max records / batch".to_string(),
        c.source.max_records.to_string(),
    ]);
    for (name, sink) in &c.sinks {
        table.add_row(vec![
            format!("sink {name}"),
            format!(
                "cassandra {}.{} @ {}",
                sink.keyspace,
                sink.table.as_deref().unwrap_or(name),
                sink.contact_points.join(",")
            ),
        ]);
        table.add_row(vec![
            format!("sink {name} security"),
            sink.describe_security(),
        ]);
    }
    for sql in &c.sql {
        table.add_row(vec!["sql".to_string(), sql.display().to_string()]);
    }
    table.add_row(vec!["checkpoint".to_string(), loaded.checkpoint_location()]);
    table.add_row(vec![
        "max write time skew".to_string(),
        c.max_write_time_skew.to_string(),
    ]);
    println!("{table}");
    // Offline: parsed and checked for non-deterministic functions; planned
    // against the sink tables only by `ember run`.
    for sql in &c.sql {
        ember_engine::sql::check_file(sql)?;
    }
    if let Some(warning) = loaded.local_checkpoint_warning() {
        println!("warning: {warning}");
    }
    if loaded.overrides.is_empty() {
        println!("no EMBER_ variables applied");
    } else {
        println!("EMBER_ variables applied:");
        for o in &loaded.overrides {
            println!("  {} → {} = {}", o.var, o.path.join("."), o.shown);
        }
    }
    println!("{}: ok", pipeline.display());
    Ok(())
}

/// Logs go to stderr: `EMBER_LOG` filters (default `info`),
/// `EMBER_LOG_FORMAT=json` switches to JSON lines.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("EMBER_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,scylla::network::connection=error,ember=info,ember_engine=info,ember_connectors=info"));
    // Colours only for a person at a terminal: logs that go to a file (a
    // job's log, Airflow, docker logs) stay plain text. NO_COLOR as usual.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(|| ScrubbingStderr(Vec::new()));
    if std::env::var("EMBER_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// A log event's bytes, written to stderr with every secret replaced by
/// `***` when the event is complete (tracing's fmt layer writes one event
/// per writer). Passwords are never logged by Ember itself; this catches
/// client libraries' messages (librdkafka's, the driver's) that might.
struct ScrubbingStderr(Vec<u8>);

impl std::io::Write for ScrubbingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbingStderr {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().write_all(scrub(&text).as_bytes());
    }
}
