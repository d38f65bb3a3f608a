//! Where `ember check` says a SQL mistake is: planned for real against the
//! users pipeline's sink, declared by its create_cql file.

use std::path::{Path, PathBuf};

use ember::authoring::sinks::{plan, sink_tables, ColumnsFrom};
use ember::config::LoadedPipeline;

use super::*;

/// Plans `sql` (written to a file of its own) as `ember check` does and
/// returns its one problem.
async fn problem(name: &str, sql: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("ember-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.sql"));
    std::fs::write(&file, sql).unwrap();
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/users.toml");
    let env = vec![("EMBER_SQL".to_string(), file.display().to_string())];
    let loaded = LoadedPipeline::load(&pipeline, env).unwrap();
    let (sinks, errors) = sink_tables(&loaded, ColumnsFrom::CreateCql).await;
    assert!(errors.is_empty(), "{errors:?}");
    let e = match ember_engine::sql::check_file(&file) {
        Err(e) => e,
        Ok(()) => plan(&loaded, &sinks, std::slice::from_ref(&file))
            .await
            .expect_err("the SQL must not plan"),
    };
    let shown = positioned(&e, &sinks);
    (file, shown)
}

#[tokio::test]
async fn an_unknown_column_is_named_at_its_line_and_column() {
    let sql = "-- typo\nINSERT INTO created_users (id, first_name)\nSELECT id,\n       frist_name\nFROM users_created\n";
    let (file, shown) = problem("typo", sql).await;
    let want = format!("{}:4:8: ", file.display());
    assert!(shown.starts_with(&want), "{shown}");
    assert!(shown.contains("frist_name"), "{shown}");
}

#[tokio::test]
async fn a_sink_that_does_not_exist_is_found_in_the_text() {
    let sql = "\n-- writes nowhere\nINSERT INTO   nope (id) SELECT id FROM users_created";
    let (file, shown) = problem("nosink", sql).await;
    assert!(
        shown.starts_with(&format!("{}:3:15: ", file.display())),
        "{shown}"
    );
    assert!(
        shown.contains("(the pipeline's sinks: created_users)"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_statement_cut_short_points_at_its_end() {
    let sql =
        "INSERT INTO created_users (id)\nSELECT id FROM users_created WHERE\n-- nothing follows\n";
    let (file, shown) = problem("cut", sql).await;
    assert!(
        shown.starts_with(&format!("{}:2:35: ", file.display())),
        "{shown}"
    );
}

#[tokio::test]
async fn a_non_deterministic_call_is_refused_at_its_position() {
    let sql = "INSERT INTO created_users (id, first_name)\nSELECT id, CAST(random() AS VARCHAR) FROM users_created";
    let (file, shown) = problem("random", sql).await;
    assert!(
        shown.starts_with(&format!("{}:", file.display())),
        "{shown}"
    );
    assert!(shown.contains("random"), "{shown}");
}

#[test]
fn positions_are_split_from_the_engine_message() {
    assert_eq!(
        split_position("line 3:7: x: y"),
        (Some((3, Some(7))), "x: y")
    );
    assert_eq!(split_position("line 3: x"), (Some((3, None)), "x"));
    assert_eq!(split_position("no position"), (None, "no position"));
    assert_eq!(
        find_word("a -- nope\n  x nope_2 nope", "nope"),
        Some((2, Some(12)))
    );
}

#[test]
fn a_missing_column_without_a_span_is_found_in_the_text() {
    assert_eq!(
        missing_column("Schema error: No field named gender.\nValid fields are id.").as_deref(),
        Some("gender")
    );
    assert_eq!(
        missing_column("No field named users_created.\"Name\". Valid").as_deref(),
        Some("Name")
    );
    assert_eq!(missing_column("other"), None);
}

/// The users pipeline, rewritten into a scratch folder with `edit`.
fn users_variant(name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join("pipelines/users.toml")).unwrap();
    let text = text.replace("../sql/", &format!("{}/sql/", repo.display()));
    let dir = std::env::temp_dir().join(format!("ember-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, edit(&text)).unwrap();
    file
}

#[tokio::test]
async fn the_exit_status_says_whether_anything_is_wrong() {
    let ok = users_variant("ok", str::to_string);
    assert!(check(CheckArgs {
        pipeline: ok,
        connect: false
    })
    .await
    .is_ok());
    // A table created by other means is not a mistake: its SQL is parsed only.
    let undeclared = users_variant("undeclared", |t| {
        t.lines()
            .filter(|l| !l.starts_with("create_cql"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    assert!(check(CheckArgs {
        pipeline: undeclared,
        connect: false
    })
    .await
    .is_ok());
    // A create_cql file the SQL does not fit: a problem, exit 1.
    let cql = std::env::temp_dir().join(format!("ember-check-{}/narrow.cql", std::process::id()));
    std::fs::write(
        &cql,
        "CREATE TABLE created_users (id uuid PRIMARY KEY, first_name text);",
    )
    .unwrap();
    let narrow = users_variant("narrow", |t| {
        t.lines()
            .map(|l| match l.starts_with("create_cql") {
                true => format!("create_cql = \"{}\"", cql.display()),
                false => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let e = check(CheckArgs {
        pipeline: narrow,
        connect: false,
    })
    .await
    .unwrap_err();
    assert!(e.to_string().ends_with("1 problem(s) found"), "{e}");
}

#[tokio::test]
async fn a_create_cql_mistake_is_named_at_its_file_line_and_column() {
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/users.toml");
    let mut loaded = LoadedPipeline::load(&pipeline, Vec::new()).unwrap();
    let cql = std::env::temp_dir().join(format!("ember-check-{}-bad.cql", std::process::id()));
    std::fs::write(
        &cql,
        "CREATE TABLE created_users (\n  id uuid PRIMARY KEY,\n  tags set<text>\n);",
    )
    .unwrap();
    for sink in loaded.config.sinks.values_mut() {
        sink.create_cql = Some(cql.clone());
    }
    let (sinks, errors) = sink_tables(&loaded, ColumnsFrom::CreateCql).await;
    assert!(sinks.is_empty());
    let shown = format!("{:#}", errors[0].1);
    let want = format!(
        "sink `created_users`: {}:3:8: column `tags` has type `set<text>`",
        cql.display()
    );
    assert!(shown.starts_with(&want), "{shown}");
}
