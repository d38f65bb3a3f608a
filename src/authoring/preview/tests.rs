//! Preview runs the engine's loop: decoding, SQL, and the narrowing of a
//! failing transform down to its records, exactly as `ember run` does.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};

use super::*;

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-preview-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

fn users(env: Vec<(String, String)>) -> LoadedPipeline {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/users.toml");
    LoadedPipeline::load(&file, env).unwrap()
}

fn column(rows: &[RecordBatch], name: &str) -> Vec<String> {
    rows.iter()
        .flat_map(|b| {
            let c = b.column_by_name(name).unwrap().as_string::<i32>();
            (0..c.len())
                .map(|i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

const ID: &str = "6f1c5e2a-8b4d-4c3e-9f0a-1b2c3d4e5f6";

fn user(i: usize, post_code: &str) -> String {
    format!(r#"{{"id": "{ID}{i}", "first_name": "u{i}", "post_code": {post_code}}}"#)
}

#[tokio::test]
async fn a_file_is_decoded_and_transformed_with_the_pipelines_sql() {
    let lines = [
        user(0, "\"1000\""),
        String::new(),
        "{\"id\": 1".into(),
        user(1, "2000"),
    ];
    let file = scratch("plain.jsonl", &lines.join("\n"));
    let (records, at) = read_jsonl(&file, None).unwrap();
    assert_eq!(at, [1, 3, 4], "blank lines are skipped, line numbers kept");
    let p = preview(&users(Vec::new()), None, records, "test")
        .await
        .unwrap();
    let (sink, _, rows) = &p.sinks[0];
    assert_eq!(sink, "created_users");
    assert_eq!(column(rows, "first_name"), ["u0", "u1"]);
    // A number is accepted for a string column, as by `ember run`.
    assert_eq!(column(rows, "post_code"), ["1000", "2000"]);
    assert_eq!(p.dead_letters.len(), 1);
    assert_eq!(p.dead_letters[0].reason.code(), "invalid_json");
    assert_eq!(p.dead_letters[0].offset, 1, "the second record");
    assert_eq!(
        (p.summary.rows_in, p.summary.decoded, p.summary.rejected),
        (3, 2, 1)
    );
}

#[tokio::test]
async fn records_a_transform_fails_on_are_narrowed_down_and_dead_lettered() {
    // Post codes made numbers: a UK-style code fails the cast, and only
    // the records holding one are set aside.
    let sql = scratch(
        "numeric.sql",
        "INSERT INTO created_users (id, first_name, post_code)\n\
         SELECT id, first_name, CAST(CAST(post_code AS BIGINT) AS VARCHAR) FROM users_created",
    );
    let lines: Vec<String> = (0..8)
        .map(|i| match i {
            2 | 5 => user(i, "\"EC1A 1BB\""),
            _ => user(i, &format!("\"{}\"", 100 + i)),
        })
        .collect();
    let file = scratch("mixed.jsonl", &lines.join("\n"));
    let (records, _) = read_jsonl(&file, None).unwrap();
    let p = preview(&users(Vec::new()), Some(vec![sql]), records, "test")
        .await
        .unwrap();
    let written = column(&p.sinks[0].2, "first_name");
    assert_eq!(written.len(), 6, "{written:?}");
    assert!(!written.contains(&"u2".to_string()) && !written.contains(&"u5".to_string()));
    let failed: Vec<(i64, &str)> = p
        .dead_letters
        .iter()
        .map(|l| (l.offset, l.reason.code()))
        .collect();
    assert_eq!(failed, [(2, "transform_failed"), (5, "transform_failed")]);
    assert!(
        p.dead_letters[0].detail.contains("numeric.sql"),
        "{}",
        p.dead_letters[0].detail
    );
}

#[tokio::test]
async fn a_limit_reads_only_the_first_records() {
    let lines: Vec<String> = (0..5).map(|i| user(i, "1")).collect();
    let file = scratch("limit.jsonl", &lines.join("\n"));
    let (records, _) = read_jsonl(&file, Some(2)).unwrap();
    assert_eq!(records.len(), 2);
}

#[tokio::test]
async fn tombstones_delete_by_key_where_the_sink_has_deletes_and_are_dead_lettered_elsewhere() {
    let id = format!("{ID}9");
    let records = vec![
        RawRecord {
            partition: 0,
            offset: 10,
            timestamp_ms: None,
            key: Some(Bytes::from(id.clone())),
            value: Some(Bytes::from(user(9, "1"))),
        },
        RawRecord {
            partition: 0,
            offset: 11,
            timestamp_ms: None,
            key: Some(Bytes::from(id.clone())),
            value: None,
        },
    ];
    let deletes = users(vec![(
        "EMBER_SINKS__CREATED_USERS__DELETES".into(),
        "true".into(),
    )]);
    let p = preview(&deletes, None, records.clone(), "test")
        .await
        .unwrap();
    assert_eq!((p.summary.deleted, p.dead_letters.len()), (1, 0));
    let p = preview(&users(Vec::new()), None, records, "test")
        .await
        .unwrap();
    assert_eq!(p.summary.deleted, 0);
    assert_eq!(p.dead_letters[0].reason.code(), "tombstone");
    assert_eq!(p.dead_letters[0].offset, 11);
}

#[tokio::test]
async fn a_row_with_a_null_key_is_refused_as_cassandra_refuses_it() {
    // The SQL nulls one record's id: Cassandra refuses that row, and the
    // engine sets aside that record only.
    let sql = scratch(
        "nullkey.sql",
        "INSERT INTO created_users (id, first_name)\n\
         SELECT CASE WHEN first_name = 'u1' THEN NULL ELSE id END, first_name FROM users_created",
    );
    let lines: Vec<String> = (0..3).map(|i| user(i, "1")).collect();
    let file = scratch("nullkey.jsonl", &lines.join("\n"));
    let (records, _) = read_jsonl(&file, None).unwrap();
    let p = preview(&users(Vec::new()), Some(vec![sql]), records, "test")
        .await
        .unwrap();
    assert_eq!(column(&p.sinks[0].2, "first_name"), ["u0", "u2"]);
    assert_eq!(p.dead_letters.len(), 1);
    assert_eq!(p.dead_letters[0].offset, 1);
    assert!(
        p.dead_letters[0].detail.contains("null value"),
        "{}",
        p.dead_letters[0].detail
    );
}
