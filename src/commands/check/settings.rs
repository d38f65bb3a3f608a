//! The settings table `ember check` prints first.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use ember::config::LoadedPipeline;

/// The pipeline's settings, as loaded (passwords shown as `***`).
pub(super) fn settings(loaded: &LoadedPipeline) -> Table {
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
    table.add_row(vec![
        "max bytes / batch".to_string(),
        c.source.max_bytes.to_string(),
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
        table.add_row(vec![
            format!("sink {name} tombstones, nulls"),
            format!(
                "{}, {}",
                if sink.deletes {
                    "tombstones delete by key (deletes = true)"
                } else {
                    "tombstones dead-lettered"
                },
                if sink.ignore_nulls {
                    "nulls left unset (ignore_nulls = true)"
                } else {
                    "nulls written"
                }
            ),
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
    table.add_row(vec![
        "max consecutive failures".to_string(),
        match c.max_consecutive_failures {
            0 => "no limit".to_string(),
            n => n.to_string(),
        },
    ]);
    table
}
