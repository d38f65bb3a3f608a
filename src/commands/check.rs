//! `ember check`: a pipeline validated without running it — the file, the
//! source schema, and every SQL file planned (logical and physical plan)
//! against the source table and the sink tables' columns: those of each
//! sink's `create_cql` file, or with `--connect` those of the live table.
//! Every problem is reported (file:line:column where there is one), then
//! the exit status says whether there was any, for CI.

use std::path::PathBuf;

use anyhow::{bail, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use datafusion::physical_plan::displayable;
use ember::authoring::mapping::column_mapping;
use ember::authoring::sinks::{plan, sink_tables, undeclared_sinks, ColumnsFrom, SinkTable};
use ember::config::LoadedPipeline;
use ember_decode::JsonDecoder;
use ember_engine::error::EngineError;

mod settings;

#[derive(clap::Args, Debug)]
pub(crate) struct CheckArgs {
    /// The pipeline file (e.g. pipelines/users.toml).
    pub(crate) pipeline: PathBuf,
    /// Plan against the live sink tables' columns (read from Cassandra's
    /// system_schema; nothing is created) instead of their create_cql files. A
    /// table that does not exist yet is planned from its create_cql file, as
    /// `ember run` would create it.
    #[arg(long)]
    pub(crate) connect: bool,
}

/// `ember check`.
pub(crate) async fn check(args: CheckArgs) -> Result<()> {
    let CheckArgs { pipeline, connect } = args;
    // A file that does not load is the one problem there is to report.
    let loaded = LoadedPipeline::load(&pipeline, std::env::vars())?;
    println!("{}", settings::settings(&loaded));
    let mut problems: Vec<String> = Vec::new();

    println!("{}", source_table(&loaded));

    let from = if connect {
        ColumnsFrom::Live
    } else {
        ColumnsFrom::CreateCql
    };
    let (sinks, errors) = sink_tables(&loaded, from).await;
    // A table created by other means (no create_cql) is not a mistake:
    // offline, the SQL into it is parsed but cannot be planned.
    let undeclared = match from {
        ColumnsFrom::CreateCql => undeclared_sinks(&loaded),
        ColumnsFrom::Live => Vec::new(),
    };
    let mut warnings: Vec<String> = Vec::new();
    for (name, e) in &errors {
        match undeclared.contains(name) {
            true => warnings.push(format!(
                "sink `{name}` has no create_cql file: the SQL into it is parsed, not planned \
                 (ember check --connect plans it against the live table)"
            )),
            false => problems.push(format!("{e:#}")),
        }
    }
    for sink in &sinks {
        println!(
            "\nsink `{}` → {} ({} columns, from {})",
            sink.name,
            sink.columns().table,
            sink.columns().names.len(),
            sink.origin
        );
    }

    let (found, unplanned) = check_sql(&loaded, &sinks, &undeclared).await;
    problems.extend(found);
    warnings.extend(unplanned);

    warnings.extend(loaded.local_checkpoint_warning());
    for warning in &warnings {
        println!("\nwarning: {warning}");
    }
    if loaded.overrides.is_empty() {
        println!("no EMBER_ variables applied");
    } else {
        println!("EMBER_ variables applied:");
        for o in &loaded.overrides {
            println!("  {} → {} = {}", o.var, o.path.join("."), o.shown);
        }
    }
    if problems.is_empty() {
        println!("{}: ok", pipeline.display());
        return Ok(());
    }
    for p in &problems {
        eprintln!("error: {p}");
    }
    bail!(
        "{}: {} problem(s) found",
        pipeline.display(),
        problems.len()
    )
}

/// The source table as the SQL sees it: each field, its schema type and the
/// Arrow type the decoder gives it.
fn source_table(loaded: &LoadedPipeline) -> String {
    let c = &loaded.config;
    let decoder = JsonDecoder::new(c.source.schema.clone());
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec!["column", "type", "SQL type", "required"]);
    for (field, arrow) in c.source.schema.fields.iter().zip(decoder.schema().fields()) {
        t.add_row(vec![
            field.name.clone(),
            format!("{:?}", field.ty).to_lowercase(),
            arrow.data_type().to_string(),
            if field.required { "yes" } else { "" }.to_string(),
        ]);
    }
    format!(
        "\nsource table `{}` (decoded from {}):\n{t}",
        c.source.table, c.source.topic
    )
}

/// Parses and plans every SQL file on its own (so each mistake is
/// reported), printing what planned; returns the problems, and the warnings
/// for files into a sink whose columns are unknown offline.
async fn check_sql(
    loaded: &LoadedPipeline,
    sinks: &[SinkTable],
    undeclared: &[String],
) -> (Vec<String>, Vec<String>) {
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    for file in &loaded.config.sql {
        if let Err(e) = ember_engine::sql::check_file(file) {
            problems.push(positioned(&e, sinks));
            continue;
        }
        match plan(loaded, sinks, std::slice::from_ref(file)).await {
            Ok(engine) => {
                for t in engine.transforms() {
                    report_transform(t, sinks, &mut problems);
                }
            }
            Err(EngineError::Sql { message, .. })
                if missing_table(&message).is_some_and(|t| undeclared.iter().any(|u| u == t)) =>
            {
                warnings.push(format!(
                    "{}: not planned (its sink has no create_cql)",
                    file.display()
                ));
            }
            Err(e) => problems.push(positioned(&e, sinks)),
        }
    }
    (problems, warnings)
}

/// Prints one planned file: its plans and its sink's column mapping.
fn report_transform(
    t: &ember_engine::sql::Transform,
    sinks: &[SinkTable],
    problems: &mut Vec<String>,
) {
    println!("\n{} → sink `{}`", t.file.display(), t.sink_table);
    println!("  logical plan:");
    for line in t.logical_plan().display_indent().to_string().lines() {
        println!("    {line}");
    }
    println!("  physical plan:");
    for line in displayable(t.physical_plan().as_ref())
        .indent(false)
        .to_string()
        .lines()
    {
        println!("    {line}");
    }
    let Some(sink) = sinks.iter().find(|s| s.name == t.sink_table) else {
        return;
    };
    let mut mapping = Table::new();
    mapping.load_preset(UTF8_FULL_CONDENSED);
    mapping.set_header(vec!["sink column", "CQL type", "key", "from"]);
    for m in column_mapping(t, sink.columns()) {
        if m.key && m.from.is_none() {
            problems.push(format!(
                "{}: primary key column `{}` of {} is not set by the SQL: Cassandra would refuse every row",
                t.file.display(),
                m.sink_column,
                sink.columns().table
            ));
        }
        mapping.add_row(vec![
            m.sink_column,
            m.cql_type,
            if m.key { "key" } else { "" }.to_string(),
            m.from.unwrap_or_else(|| "(not set: null)".into()),
        ]);
    }
    println!("  column mapping:\n{mapping}");
}

/// An engine error about a SQL file as `file:line:column: message`: the
/// position the engine named (`line 3:7: …`, `line 3: …`), or one found in
/// the file for the errors DataFusion gives none (a table that does not
/// exist, a statement cut short).
fn positioned(e: &EngineError, sinks: &[SinkTable]) -> String {
    let EngineError::Sql { file, message } = e else {
        return e.to_string();
    };
    let (mut position, text) = split_position(message);
    let mut text = text.to_string();
    if let Some(table) = missing_table(&text).map(str::to_string) {
        let names: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
        text = format!("{text} (the pipeline's sinks: {})", names.join(", "));
        let source = std::fs::read_to_string(file).unwrap_or_default();
        if let Some(at) = find_word(&source, &table) {
            position = Some(at);
        }
    } else if let Some(column) =
        missing_column(&text).filter(|_| !matches!(position, Some((_, Some(_)))))
    {
        // e.g. an INSERT column list naming a column the sink lacks.
        let source = std::fs::read_to_string(file).unwrap_or_default();
        position = find_word(&source, &column).or(position);
    } else if text.contains("found: EOF") {
        let source = std::fs::read_to_string(file).unwrap_or_default();
        position = end_of_code(&source).or(position);
    }
    match position {
        Some((line, Some(column))) => format!("{}:{line}:{column}: {text}", file.display()),
        Some((line, None)) => format!("{}:{line}: {text}", file.display()),
        None => format!("{}: {text}", file.display()),
    }
}

type Position = (usize, Option<usize>);

/// `line 3:7: text` → ((3, Some(7)), text); `line 3: text` → ((3, None), text).
fn split_position(message: &str) -> (Option<Position>, &str) {
    let parsed = message.strip_prefix("line ").and_then(|rest| {
        let (position, text) = rest.split_once(": ")?;
        let mut parts = position.split(':');
        let line = parts.next()?.parse().ok()?;
        let column = match parts.next() {
            Some(c) => Some(c.parse().ok()?),
            None => None,
        };
        Some(((line, column), text))
    });
    match parsed {
        Some((position, text)) => (Some(position), text),
        None => (None, message),
    }
}

/// `nope` from DataFusion's "table 'datafusion.public.nope' not found".
fn missing_table(text: &str) -> Option<&str> {
    let rest = &text[text.find("table '")? + 7..];
    let name = rest.split_once("' not found")?.0;
    name.rsplit('.').next()
}

/// `gender` from DataFusion's "No field named gender." (or `t.gender`).
fn missing_column(text: &str) -> Option<String> {
    let rest = &text[text.find("No field named ")? + 15..];
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '"'))
        .collect();
    let name = name.trim_end_matches('.').replace('"', "");
    name.rsplit('.')
        .next()
        .map(str::to_string)
        .filter(|n| !n.is_empty())
}

/// The first place `word` stands as a whole word, outside `--` comments
/// (1-based line and column).
fn find_word(text: &str, word: &str) -> Option<Position> {
    let word = word.to_lowercase();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("--").next().unwrap_or_default().to_lowercase();
        let mut from = 0;
        while let Some(at) = code[from..].find(&word) {
            let start = from + at;
            let end = start + word.len();
            let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            if boundary(code[..start].chars().last()) && boundary(code[end..].chars().next()) {
                return Some((i + 1, Some(code[..start].chars().count() + 1)));
            }
            from = end;
        }
    }
    None
}

/// Just after the last character of code: where a statement cut short ends.
fn end_of_code(text: &str) -> Option<Position> {
    text.lines()
        .collect::<Vec<_>>()
        .into_iter()
        .enumerate()
        .rev()
        .find_map(|(i, line)| {
            let code = line.split("--").next().unwrap_or_default().trim_end();
            (!code.is_empty()).then(|| (i + 1, Some(code.chars().count() + 1)))
        })
}

#[cfg(test)]
mod tests;
