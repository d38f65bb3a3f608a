//! How `ember preview` prints: tables for a person, JSON or CSV for tools.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use ember::authoring::preview::Preview;
use ember_engine::dead_letter::DeadLetter;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Json,
    Csv,
}

/// Where a record came from: a line of the input file, or a topic position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Where {
    Line(usize),
    Kafka(i32, i64),
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Where::Line(n) => write!(f, "line {n}"),
            Where::Kafka(p, o) => write!(f, "partition {p} offset {o}"),
        }
    }
}

pub(crate) fn print(
    preview: &Preview,
    format: Format,
    place: &dyn Fn(i32, i64) -> Where,
) -> Result<()> {
    let text = match format {
        Format::Table => table(preview, place)?,
        Format::Json => json(preview, place)?,
        Format::Csv => csv(preview, place)?,
    };
    print!("{text}");
    Ok(())
}

fn value_text(l: &DeadLetter) -> String {
    match &l.value {
        Some(v) => String::from_utf8_lossy(v).into_owned(),
        None => "(tombstone: no value)".into(),
    }
}

pub(crate) fn table(p: &Preview, place: &dyn Fn(i32, i64) -> Where) -> Result<String> {
    let mut out = String::new();
    for (sink, _, rows) in &p.sinks {
        let n: usize = rows.iter().map(RecordBatch::num_rows).sum();
        writeln!(out, "sink `{sink}`: {n} row(s)")?;
        if n > 0 {
            writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(rows)?)?;
        }
    }
    writeln!(out, "dead letters: {}", p.dead_letters.len())?;
    if !p.dead_letters.is_empty() {
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(vec!["record", "reason", "detail", "value"]);
        for l in &p.dead_letters {
            t.add_row(vec![
                place(l.partition, l.offset).to_string(),
                l.reason.code().to_string(),
                l.detail.clone(),
                value_text(l),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    let s = &p.summary;
    let written: Vec<String> = s.written.iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(
        out,
        "{} record(s): {} decoded, {}{} dead-lettered; written: {}",
        s.rows_in,
        s.decoded,
        match s.deleted {
            0 => String::new(),
            n => format!("{n} deleted (tombstones), "),
        },
        s.rejected,
        if written.is_empty() {
            "nothing".to_string()
        } else {
            written.join(", ")
        }
    )?;
    Ok(out)
}

/// Rows as JSON objects (arrow-json, the way Arrow writes them).
fn rows_json(rows: &[RecordBatch]) -> Result<Vec<serde_json::Value>> {
    let mut buf = Vec::new();
    {
        let mut writer = arrow_json::ArrayWriter::new(&mut buf);
        for b in rows {
            writer.write(b)?;
        }
        writer.finish()?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buf).context("arrow-json output")
}

pub(crate) fn json(p: &Preview, place: &dyn Fn(i32, i64) -> Where) -> Result<String> {
    let mut sinks = serde_json::Map::new();
    for (sink, _, rows) in &p.sinks {
        sinks.insert(sink.clone(), serde_json::Value::Array(rows_json(rows)?));
    }
    let letters: Vec<serde_json::Value> = p
        .dead_letters
        .iter()
        .map(|l| {
            let mut v = serde_json::json!({
                "reason": l.reason.code(),
                "detail": l.detail,
                "value": l.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()),
            });
            match place(l.partition, l.offset) {
                Where::Line(n) => v["line"] = n.into(),
                Where::Kafka(partition, offset) => {
                    v["partition"] = partition.into();
                    v["offset"] = offset.into();
                }
            }
            v
        })
        .collect();
    let s = &p.summary;
    let doc = serde_json::json!({
        "sinks": sinks,
        "dead_letters": letters,
        "summary": {
            "rows_in": s.rows_in,
            "decoded": s.decoded,
            "rejected": s.rejected,
            "deleted": s.deleted,
            "written": s.written,
        },
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&doc)?))
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

pub(crate) fn csv(p: &Preview, place: &dyn Fn(i32, i64) -> Where) -> Result<String> {
    let mut out = String::new();
    let options = FormatOptions::default();
    for (sink, schema, rows) in &p.sinks {
        writeln!(out, "# sink {sink}")?;
        let header: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| csv_field(f.name()))
            .collect();
        writeln!(out, "{}", header.join(","))?;
        for b in rows {
            let formatters = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()?;
            for row in 0..b.num_rows() {
                let fields: Vec<String> = formatters
                    .iter()
                    .zip(b.columns())
                    .map(|(f, c)| match c.is_null(row) {
                        true => String::new(),
                        false => csv_field(&f.value(row).to_string()),
                    })
                    .collect();
                writeln!(out, "{}", fields.join(","))?;
            }
        }
    }
    writeln!(out, "# dead letters")?;
    writeln!(out, "record,reason,detail,value")?;
    for l in &p.dead_letters {
        writeln!(
            out,
            "{},{},{},{}",
            csv_field(&place(l.partition, l.offset).to_string()),
            l.reason.code(),
            csv_field(&l.detail),
            csv_field(&value_text(l))
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
