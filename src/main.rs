//! `ember`: run, feed and check Ember pipelines.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use clap::{Parser, Subcommand};
use ember_connectors::secret::scrub;

mod commands;
mod run_report;
mod signals;

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
    Run(commands::run::RunArgs),
    /// Produce randomuser-shaped records to Kafka (generator or --api-url).
    Produce(commands::produce::ProduceArgs),
    /// Count how many of the users `ember produce --seed S` sent (the first N)
    /// are rows of a sink's table: one run's rows, whatever else it holds.
    Landed(commands::landed::LandedArgs),
    /// Validate a pipeline offline: the file, the source schema, and every SQL
    /// file planned against the sink tables' columns (their create_cql files,
    /// or the live tables with --connect). Prints each file's plans and column
    /// mapping; exits 1 if anything is wrong (file:line:column).
    Check(commands::check::CheckArgs),
    /// Run the transforms on local records (a JSON Lines file, or a sample of
    /// the live topic) and print the rows per sink and what would be
    /// dead-lettered, with the reason. No Cassandra needed.
    Preview(commands::preview::PreviewArgs),
    /// List, show and re-drive the pipeline's dead-letter topic.
    #[command(subcommand_value_name = "ACTION")]
    DeadLetters(commands::dead_letters::DeadLettersArgs),
    /// Run one CQL statement against Cassandra and print the result as a table.
    Cql(commands::cql::CqlArgs),
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
        Command::Run(args) => commands::run::run(args).await,
        Command::Produce(args) => commands::produce::produce_command(args).await,
        Command::Check(args) => commands::check::check(args).await,
        Command::Preview(args) => commands::preview::preview(args).await,
        Command::DeadLetters(args) => commands::dead_letters::dead_letters(args).await,
        Command::Landed(args) => commands::landed::landed(args).await,
        Command::Cql(args) => commands::cql::cql(args).await,
    }
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
