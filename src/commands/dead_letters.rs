//! `ember dead-letters <pipeline> ls|show|redrive`: the dead-letter topic
//! counted, shown, and re-driven through the pipeline's current config.

use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Utc};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use ember::authoring::dead_letters::{
    count_dead_letters, find_dead_letters, redrive_group, redrive_pipeline, redrive_start,
};
use ember::authoring::preview::preview;
use ember::config::LoadedPipeline;
use ember_connectors::kafka::ReadWindow;
use ember_engine::source::RawRecord;
use ember_engine::Trigger;

use super::lifecycle::{
    build_unless_signalled, close_within, sink_names, stop_on_signals, CONSUMER_CLOSE,
};
use crate::commands::preview::{print_preview, Format, Where};
use crate::run_report::{print_run_summary, summary_json_line, LineReporter};
use crate::signals::Signals;

#[derive(clap::Args, Debug)]
pub(crate) struct DeadLettersArgs {
    /// The pipeline file whose dead-letter topic to read.
    pub(crate) pipeline: PathBuf,
    #[command(subcommand)]
    pub(crate) action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Action {
    /// Count the dead letters by reason, with the oldest and newest of each.
    Ls {
        /// One JSON object instead of a table: {"total", "reasons": {reason: {count, oldest, newest}}}.
        #[arg(long)]
        json: bool,
    },
    /// Print dead letters (oldest first): position, time, headers, key and value.
    Show {
        /// Only letters with this reason (e.g. invalid_json, transform_failed).
        #[arg(long)]
        reason: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Feed the dead letters back through the pipeline's current config and SQL
    /// (after a fix), into its sinks with the normal idempotent writes. Reads with
    /// a consumer group and checkpoint of its own (<group>-redrive), so each letter
    /// is re-driven once however often this runs; what fails again goes back to the
    /// dead-letter topic with its reason (and is re-driven by a later redrive).
    /// Rows are written at the redrive's time: they overwrite newer rows of the
    /// same key written since the letter was set aside.
    Redrive {
        /// Print the run's totals as one JSON line at the end.
        #[arg(long)]
        summary_json: bool,
        /// Only show what the next redrive would write and set aside again (the
        /// letters after the redrive group's offsets, run as `ember preview`
        /// does: no sink written, no offset committed), in this format.
        #[arg(long, value_enum, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "table")]
        dry_run: Option<Format>,
    },
}

pub(crate) async fn dead_letters(args: DeadLettersArgs) -> Result<()> {
    let loaded = LoadedPipeline::load(&args.pipeline, std::env::vars())?;
    match args.action {
        Action::Ls { json } => ls(&loaded, json).await,
        Action::Show { reason, limit } => show(&loaded, reason, limit).await,
        Action::Redrive {
            dry_run: Some(format),
            ..
        } => dry_run(&loaded, format).await,
        Action::Redrive { summary_json, .. } => redrive(loaded, summary_json).await,
    }
}

fn time(ms: Option<i64>) -> String {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
        .map_or_else(
            || "-".into(),
            |t| t.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string(),
        )
}

/// Said on stderr when the dead-letter topic does not exist.
fn no_topic(loaded: &LoadedPipeline) {
    eprintln!(
        "note: topic {} does not exist yet (the pipeline creates it on its first run)",
        loaded.dead_letter_topic()
    );
}

async fn ls(loaded: &LoadedPipeline, json: bool) -> Result<()> {
    let counts = count_dead_letters(loaded).await?.unwrap_or_else(|| {
        no_topic(loaded);
        Vec::new()
    });
    let total: u64 = counts.iter().map(|c| c.count).sum();
    if json {
        let reasons: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .map(|c| {
                let v = serde_json::json!({
                    "count": c.count,
                    "oldest": c.oldest_ms.map(|_| time(c.oldest_ms)),
                    "newest": c.newest_ms.map(|_| time(c.newest_ms)),
                });
                (c.reason.clone(), v)
            })
            .collect();
        let doc = serde_json::json!({
            "topic": loaded.dead_letter_topic().to_string(),
            "total": total,
            "reasons": reasons,
        });
        println!("{doc}");
        return Ok(());
    }
    println!("{}: {total} dead letter(s)", loaded.dead_letter_topic());
    if counts.is_empty() {
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec!["reason", "count", "oldest", "newest"]);
    for c in &counts {
        t.add_row(vec![
            c.reason.clone(),
            c.count.to_string(),
            time(c.oldest_ms),
            time(c.newest_ms),
        ]);
    }
    println!("{t}");
    Ok(())
}

async fn show(loaded: &LoadedPipeline, reason: Option<String>, limit: usize) -> Result<()> {
    let (chosen, total) = find_dead_letters(loaded, ReadWindow::All, reason.clone(), limit)
        .await?
        .unwrap_or_else(|| {
            no_topic(loaded);
            (Vec::new(), 0)
        });
    println!(
        "{}: showing {} of {} dead letter(s){}",
        loaded.dead_letter_topic(),
        chosen.len(),
        total,
        reason.map_or(String::new(), |r| format!(" with reason {r}"))
    );
    let text = |b: &Option<bytes::Bytes>| match b {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => "(none)".into(),
    };
    for l in chosen {
        println!(
            "\n--- partition {} offset {} at {}",
            l.partition,
            l.offset,
            time(l.timestamp_ms)
        );
        for (k, v) in &l.headers {
            println!("  {k}: {v}");
        }
        println!("  key: {}", text(&l.key));
        println!("  value: {}", text(&l.value));
    }
    Ok(())
}

/// The letters run through the current config and SQL by `ember preview`'s
/// loop: what a redrive would write, and what would fail again.
async fn dry_run(loaded: &LoadedPipeline, format: Format) -> Result<()> {
    // Only what the next redrive would read: after the redrive group's
    // offsets, not the letters earlier redrives took already.
    let start = redrive_start(loaded).await?;
    let (letters, _) = find_dead_letters(loaded, start, None, usize::MAX)
        .await?
        .unwrap_or_else(|| {
            no_topic(loaded);
            (Vec::new(), 0)
        });
    let records = letters
        .into_iter()
        .map(|l| RawRecord {
            partition: l.partition,
            offset: l.offset,
            timestamp_ms: l.timestamp_ms,
            key: l.key,
            value: l.value,
        })
        .collect();
    let what = format!("topic {} (dry run)", loaded.dead_letter_topic());
    let result = preview(loaded, None, records, &what).await?;
    print_preview(&result, format, &|p, o| Where::Kafka(p, o))
}

async fn redrive(loaded: LoadedPipeline, summary_json: bool) -> Result<()> {
    let mut signals = Signals::new();
    let group = redrive_group(&loaded);
    let loaded = redrive_pipeline(loaded);
    let Some(built) =
        build_unless_signalled(&loaded, Some(Trigger::AvailableNow), &mut signals).await?
    else {
        return Ok(());
    };
    let mut engine = built.pipeline;
    println!(
        "ember dead-letters redrive: {} (group {group}) → {} ({} SQL file(s))",
        loaded.config.source.topic,
        sink_names(&loaded),
        loaded.config.sql.len()
    );
    println!("  checkpoint {}", loaded.checkpoint_location());
    let stopped = stop_on_signals(signals);
    let outcome = engine.run(&mut LineReporter, stopped).await;
    close_within(engine, CONSUMER_CLOSE);
    let summary = outcome?;
    print_run_summary(&summary);
    if summary_json {
        println!("{}", summary_json_line(&summary));
    }
    Ok(())
}
