//! What `ember preview` prints, in each format, for one real preview.

use std::path::Path;

use ember::authoring::preview::{preview, read_jsonl, Preview};
use ember::config::LoadedPipeline;

use super::*;

async fn sample() -> Preview {
    let dir = std::env::temp_dir().join(format!("ember-preview-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One file per test thread: the tests run side by side.
    let input = dir.join(format!("in-{:?}.jsonl", std::thread::current().id()));
    std::fs::write(
        &input,
        concat!(
            r#"{"id": "6f1c5e2a-8b4d-4c3e-9f0a-1b2c3d4e5f60", "first_name": "Grace, \"G\"", "last_name": "Hopper"}"#,
            "\n\n",
            r#"{"id": "nope", "first_name": "x"}"#,
            "\n"
        ),
    )
    .unwrap();
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/users.toml");
    let loaded = LoadedPipeline::load(&pipeline, Vec::new()).unwrap();
    let (records, _) = read_jsonl(&input, None).unwrap();
    preview(&loaded, None, records, "test").await.unwrap()
}

fn line_of(_: i32, offset: i64) -> Where {
    // The blank second line: record 1 is line 3.
    Where::Line(if offset == 0 { 1 } else { 3 })
}

#[tokio::test]
async fn the_table_shows_rows_per_sink_then_dead_letters_with_reason_and_line() {
    let text = table(&sample().await, &line_of).unwrap();
    assert!(
        text.starts_with("sink `created_users`: 1 row(s)\n"),
        "{text}"
    );
    assert!(text.contains("| Grace, \"G\" "), "{text}");
    assert!(text.contains("dead letters: 1"), "{text}");
    assert!(text.contains("line 3 ┆ invalid_uuid"), "{text}");
    assert!(
        text.ends_with("2 record(s): 1 decoded, 1 dead-lettered; written: created_users 1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn json_is_one_document_with_rows_letters_and_totals() {
    let text = json(&sample().await, &line_of).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = doc["sinks"]["created_users"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["last_name"], "Hopper");
    assert_eq!(doc["dead_letters"][0]["line"], 3);
    assert_eq!(doc["dead_letters"][0]["reason"], "invalid_uuid");
    assert_eq!(
        doc["dead_letters"][0]["value"],
        r#"{"id": "nope", "first_name": "x"}"#
    );
    assert_eq!(doc["summary"]["written"]["created_users"], 1);
}

#[tokio::test]
async fn csv_quotes_what_needs_quoting() {
    let text = csv(&sample().await, &line_of).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# sink created_users");
    assert!(
        lines[1].starts_with("id,address,email,first_name,"),
        "{text}"
    );
    assert!(lines[2].contains(",\"Grace, \"\"G\"\"\","), "{text}");
    assert_eq!(lines[3], "# dead letters");
    assert!(lines[5].starts_with("line 3,invalid_uuid,"), "{text}");
}
