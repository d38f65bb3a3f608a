use super::*;
use datafusion::arrow::array::{AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;

fn source_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("first_name", DataType::Utf8, true),
        Field::new("last_name", DataType::Utf8, true),
    ]))
}

fn sink() -> Arc<MemTable> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    Arc::new(MemTable::try_new(schema, vec![vec![]]).unwrap())
}

fn write_sql(dir: &Path, name: &str, sql: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, sql).unwrap();
    path
}

fn batch(ids: &[&str]) -> BatchContext {
    let input = RecordBatch::try_new(
        source_schema(),
        vec![
            Arc::new(StringArray::from(ids.to_vec())),
            Arc::new(StringArray::from(vec!["a"; ids.len()])),
            Arc::new(StringArray::from(vec!["b"; ids.len()])),
        ],
    )
    .unwrap();
    BatchContext {
        batch_id: 0,
        input,
        write_time: crate::WriteTime::default(),
    }
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-sql-test-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uuid_like() -> String {
    format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test]
async fn a_plan_runs_again_for_every_batch() {
    let dir = tempdir();
    let file = write_sql(
        &dir,
        "t.sql",
        "-- comment\nINSERT INTO out SELECT id, concat_ws(' ', first_name, last_name) FROM src",
    );
    let out = sink();
    let engine = SqlEngine::plan(
        "src",
        source_schema(),
        vec![("out".into(), out.clone() as _)],
        &[file],
    )
    .await
    .unwrap();
    assert_eq!(
        engine.run(batch(&["1", "2"])).await.unwrap(),
        vec![("out".to_string(), 2)]
    );
    assert_eq!(
        engine.run(batch(&["3"])).await.unwrap(),
        vec![("out".to_string(), 1)]
    );
    let ctx = SessionContext::new();
    ctx.register_table("out", out).unwrap();
    let rows = ctx
        .sql("SELECT id, name FROM out ORDER BY id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let ids: Vec<&str> = rows
        .iter()
        .flat_map(|b| b.column(0).as_string::<i32>().iter().flatten())
        .collect();
    assert_eq!(ids, vec!["1", "2", "3"]);
    let names = rows[0].column(1).as_string::<i32>();
    assert_eq!(names.value(0), "a b");
}

#[tokio::test]
async fn sql_errors_name_the_file_and_line() {
    let dir = tempdir();
    let bad_column = write_sql(
        &dir,
        "col.sql",
        "\n\nINSERT INTO out\nSELECT id, nope FROM src",
    );
    let err = SqlEngine::plan(
        "src",
        source_schema(),
        vec![("out".into(), sink() as _)],
        std::slice::from_ref(&bad_column),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(&format!("{}: line 4", bad_column.display())),
        "{err}"
    );
    assert!(err.contains("nope"), "{err}");

    let syntax = write_sql(&dir, "syn.sql", "INSERT INTO out\nSELEC id FROM src");
    let err = SqlEngine::plan(
        "src",
        source_schema(),
        vec![("out".into(), sink() as _)],
        std::slice::from_ref(&syntax),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("syn.sql: line 2"), "{err}");

    let not_insert = write_sql(&dir, "sel.sql", "SELECT id FROM src");
    let err = SqlEngine::plan(
        "src",
        source_schema(),
        vec![("out".into(), sink() as _)],
        &[not_insert],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("expected one `INSERT INTO"), "{err}");

    let missing = dir.join("missing.sql");
    let err = SqlEngine::plan(
        "src",
        source_schema(),
        vec![("out".into(), sink() as _)],
        &[missing],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("missing.sql: cannot read"), "{err}");
}

/// Plans one SQL text against the test tables; the error as text.
async fn plan_error(name: &str, sql: &str) -> (PathBuf, String) {
    let file = write_sql(&tempdir(), name, sql);
    let err = SqlEngine::plan(
        "src",
        source_schema(),
        vec![("out".into(), sink() as _)],
        std::slice::from_ref(&file),
    )
    .await
    .expect_err("a non-deterministic transform must not plan")
    .to_string();
    (file, err)
}

#[tokio::test]
async fn volatile_functions_are_refused_naming_file_line_and_function() {
    // uuid() in the key inserts a new row on every replay; now() is fixed
    // per run, so a replay after a restart writes another value.
    let (file, err) = plan_error(
        "volatile.sql",
        "-- a transform that cannot be replayed\nINSERT INTO out\nSELECT uuid(),\n       concat_ws(' ', first_name, CAST(now() AS VARCHAR)) FROM src",
    )
    .await;
    assert!(err.starts_with(&format!("{}: ", file.display())), "{err}");
    assert!(err.contains("line 3:8: `uuid()`"), "{err}");
    assert!(err.contains("line 4:40: `now()`"), "{err}");

    let (_, err) = plan_error(
        "random.sql",
        "INSERT INTO out SELECT id, first_name FROM src WHERE RANDOM() < 0.5",
    )
    .await;
    assert!(err.contains("line 1:54: `random()`"), "{err}");

    // The SQL-standard spellings without parentheses too.
    let (_, err) = plan_error(
        "current.sql",
        "INSERT INTO out SELECT id, CAST(CURRENT_DATE AS VARCHAR) FROM src",
    )
    .await;
    assert!(err.contains("line 1:33: `current_date()`"), "{err}");
}

#[test]
fn the_offline_check_refuses_volatile_functions_and_passes_deterministic_ones() {
    let dir = tempdir();
    let fine = write_sql(
        &dir,
        "fine.sql",
        "INSERT INTO out SELECT lower(id), concat_ws(' ', first_name, last_name) FROM src",
    );
    check_file(&fine).unwrap();
    let volatile = write_sql(
        &dir,
        "ts.sql",
        "INSERT INTO out SELECT id, CAST(current_timestamp AS VARCHAR) FROM src",
    );
    let err = check_file(&volatile).unwrap_err().to_string();
    assert!(
        err.contains("ts.sql: line 1:33: `current_timestamp()`"),
        "{err}"
    );
}

#[test]
fn an_insert_without_a_row_count_is_an_error_not_zero_rows() {
    let file = Path::new("sql/x.sql");
    let err = acknowledged_rows(&[], file).unwrap_err().to_string();
    assert!(
        err.contains("sql/x.sql: the INSERT returned no row count"),
        "{err}"
    );
    let counted = RecordBatch::try_from_iter([(
        "count",
        Arc::new(UInt64Array::from(vec![3u64])) as datafusion::arrow::array::ArrayRef,
    )])
    .unwrap();
    assert_eq!(acknowledged_rows(&[counted], file).unwrap(), 3);
}
