//! The authoring and operating commands against the real stack:
//! `ember check --connect` plans against the live table (and changes
//! nothing), `ember preview --from-topic` samples the topic without touching
//! the pipeline's group, and `ember dead-letters ls|show|redrive` count,
//! show and re-drive dead letters once each after a fix.

mod common;

use std::path::PathBuf;

use common::*;

/// A SQL file of this test's own (under the target's tmp folder).
fn sql_file(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("authoring");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.sql", unique(name)));
    std::fs::write(&file, text).unwrap();
    file
}

fn with(env: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.push((key.into(), value.into()));
    env
}

fn pipeline() -> String {
    users_pipeline().display().to_string()
}

#[tokio::test]
async fn check_connect_plans_against_the_live_table_and_creates_nothing() {
    let names = Names::new("check_connect");
    let session = session().await;
    // The live table lacks most of the columns the create_cql file (and the
    // SQL) name: offline the pipeline is fine, against the cluster it is not.
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE {} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}",
                names.keyspace
            ),
            (),
        )
        .await
        .unwrap();
    session
        .query_unpaged(
            format!(
                "CREATE TABLE {}.created_users (id uuid PRIMARY KEY, first_name text, last_name text)",
                names.keyspace
            ),
            (),
        )
        .await
        .unwrap();
    let env = names.env();
    let offline = ember(&["check", &pipeline()], &env);
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );

    let live = ember(&["check", &pipeline(), "--connect"], &env);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&live.stdout),
        String::from_utf8_lossy(&live.stderr),
    );
    assert_eq!(live.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("from live table {}.created_users", names.keyspace)),
        "{stdout}"
    );
    // The first column the live table lacks, named in the SQL file at its
    // line and column (sql/created_users.sql lists `gender` on line 5).
    assert!(stderr.contains("sql/created_users.sql:5:"), "{stderr}");
    assert!(stderr.contains("gender"), "{stderr}");

    // A SQL file that only uses the live columns plans with --connect.
    let fits = sql_file(
        "fits",
        "INSERT INTO created_users (id, first_name, last_name)\nSELECT id, first_name, last_name FROM users_created\n",
    );
    let ok = ember(
        &["check", &pipeline(), "--connect"],
        &with(&env, "EMBER_SQL", &fits.display().to_string()),
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("│ id          ┆ uuid     ┆ key ┆ users_created.id"),
        "{stdout}"
    );

    // A keyspace that does not exist yet: planned against create_cql, as
    // `ember run` would create the table from it, and nothing is created.
    let missing = format!("{}_none", names.keyspace);
    let out = ember(
        &["check", &pipeline(), "--connect"],
        &with(&env, "EMBER_SINKS__CREATED_USERS__KEYSPACE", &missing),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("(the live table does not exist: ember run creates it from this file)"),
        "{stdout}"
    );
    let keyspaces = session
        .query_unpaged(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (missing.as_str(),),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    assert_eq!(keyspaces.rows_num(), 0, "check --connect created {missing}");
}

#[tokio::test]
async fn preview_from_topic_samples_the_latest_records_without_the_pipelines_group() {
    let names = Names::new("preview_topic");
    produce_users(&names.topic, 1, 5, 17);
    produce_raw(&names.topic, &[(None, Some(b"{not json".to_vec()))]).await;
    let env = names.env();
    let out = ember_ok(
        &[
            "preview",
            &pipeline(),
            "--from-topic",
            "--limit",
            "3",
            "--format",
            "json",
        ],
        &env,
    );
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    // The latest 3 records: two users and the broken one, at its offset.
    assert_eq!(
        doc["sinks"]["created_users"].as_array().unwrap().len(),
        2,
        "{out}"
    );
    assert_eq!(doc["dead_letters"][0]["reason"], "invalid_json", "{out}");
    assert_eq!(doc["dead_letters"][0]["partition"], 0, "{out}");
    assert_eq!(doc["dead_letters"][0]["offset"], 5, "{out}");
    assert_eq!(doc["summary"]["rows_in"], 3, "{out}");
    // Nothing was committed for the pipeline's group, nor written.
    assert!(committed(&names.group, &names.topic, 1).is_empty());
    let session = session().await;
    assert_eq!(count_rows(&session, &names.keyspace).await, 0);
    // So the pipeline still reads everything.
    let run = run_available_now(&names);
    assert_eq!(run["rows_in"], 6, "{run}");
}

/// A user with this post code, as the ingestion would produce it.
fn user(i: usize, post_code: &str) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let id = format!("00000000-0000-4000-8000-{i:012}");
    let value = format!(
        r#"{{"id": "{id}", "first_name": "user{i}", "last_name": "L", "post_code": "{post_code}"}}"#
    );
    (Some(id.into_bytes()), Some(value.into_bytes()))
}

fn ls(env: &[(String, String)]) -> serde_json::Value {
    let out = ember_ok(&["dead-letters", &pipeline(), "ls", "--json"], env);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn dead_letters_are_counted_shown_and_redriven_once_after_a_fix() {
    let names = Names::new("redrive");
    create_topic(&names.topic, 1);
    // No dead-letter topic yet: nothing to list, and not an error.
    assert_eq!(ls(&names.env())["total"], 0);
    // Four numeric post codes, three UK ones the first SQL cannot make a
    // number of, two records that are not JSON at all.
    let mut records = Vec::new();
    for i in 0..7 {
        records.push(user(
            i,
            if i % 2 == 1 && i < 6 {
                "EC1A 1BB"
            } else {
                "1000"
            },
        ));
    }
    records.push((None, Some(b"{\"id\": ".to_vec())));
    records.push((None, Some(b"garbage".to_vec())));
    produce_raw(&names.topic, &records).await;
    let numeric = sql_file(
        "numeric",
        "INSERT INTO created_users (id, first_name, last_name, post_code)\n\
         SELECT id, first_name, last_name, CAST(CAST(post_code AS BIGINT) AS VARCHAR)\n\
         FROM users_created\n",
    );
    let broken = with(&names.env(), "EMBER_SQL", &numeric.display().to_string());
    let run = run_available_now_with(&broken);
    assert_eq!(run["written"]["created_users"], 4, "{run}");
    assert_eq!(run["rejected"], 5, "{run}");

    let counts = ls(&names.env());
    assert_eq!(counts["total"], 5, "{counts}");
    assert_eq!(
        counts["reasons"]["transform_failed"]["count"], 3,
        "{counts}"
    );
    assert_eq!(counts["reasons"]["invalid_json"]["count"], 2, "{counts}");
    assert!(
        counts["reasons"]["invalid_json"]["oldest"].is_string(),
        "{counts}"
    );

    let shown = ember_ok(
        &[
            "dead-letters",
            &pipeline(),
            "show",
            "--reason",
            "invalid_json",
            "--limit",
            "1",
        ],
        &names.env(),
    );
    assert!(
        shown.contains("showing 1 of 2 dead letter(s) with reason invalid_json"),
        "{shown}"
    );
    assert!(shown.contains("ember.reason: invalid_json"), "{shown}");
    assert!(shown.contains("ember.source.offset: 7"), "{shown}");
    assert!(shown.contains("value: {\"id\": "), "{shown}");
    assert!(!shown.contains("garbage"), "{shown}");

    // The fix: the pipeline's own SQL, which keeps post codes as text.
    let fixed = names.env();
    let redrive = |env: &[(String, String)]| {
        let out = ember_ok(
            &["dead-letters", &pipeline(), "redrive", "--summary-json"],
            env,
        );
        summary(&out)
    };
    // A dry run first: what the fix would write and what fails again,
    // with nothing written and no offset committed.
    let dry = ember_ok(
        &["dead-letters", &pipeline(), "redrive", "--dry-run", "json"],
        &fixed,
    );
    let doc: serde_json::Value =
        serde_json::from_str(&dry).unwrap_or_else(|e| panic!("{e}: {dry}"));
    assert_eq!(
        doc["sinks"]["created_users"].as_array().unwrap().len(),
        3,
        "{dry}"
    );
    assert_eq!(doc["dead_letters"].as_array().unwrap().len(), 2, "{dry}");
    assert_eq!(doc["dead_letters"][0]["reason"], "invalid_json", "{dry}");
    let dlq = format!("{}.dlq", names.topic);
    let redrive_group = format!("{}-redrive", names.group);
    assert!(committed(&redrive_group, &dlq, 1).is_empty());
    let session = session().await;
    assert_eq!(stored_rows(&session, &names.keyspace).await.len(), 4);

    let first = redrive(&fixed);
    assert_eq!(first["rows_in"], 5, "{first}");
    assert_eq!(first["written"]["created_users"], 3, "{first}");
    assert_eq!(first["rejected"], 2, "{first}");
    let rows = stored_rows(&session, &names.keyspace).await;
    assert_eq!(rows.len(), 7);
    for i in [1, 3, 5] {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        assert_eq!(rows[&id][5].as_deref(), Some("EC1A 1BB"), "{id}");
    }
    // What failed again went back with its reason.
    let counts = ls(&fixed);
    assert_eq!(counts["total"], 7, "{counts}");
    assert_eq!(counts["reasons"]["invalid_json"]["count"], 4, "{counts}");
    assert_eq!(
        counts["reasons"]["transform_failed"]["count"], 3,
        "{counts}"
    );

    // A dry run now sees only what the next redrive would read: the two
    // letters that came back, not the five the first redrive took.
    let dry = ember_ok(
        &["dead-letters", &pipeline(), "redrive", "--dry-run", "json"],
        &fixed,
    );
    let doc: serde_json::Value =
        serde_json::from_str(&dry).unwrap_or_else(|e| panic!("{e}: {dry}"));
    assert_eq!(doc["summary"]["rows_in"], 2, "{dry}");
    assert_eq!(doc["dead_letters"][0]["offset"], 5, "{dry}");

    // A second redrive re-drives none of the first one's letters: only the
    // two that came back, which fail again.
    let second = redrive(&fixed);
    assert_eq!(second["rows_in"], 2, "{second}");
    assert_eq!(second["written_total"], 0, "{second}");
    assert_eq!(second["rejected"], 2, "{second}");
    assert_eq!(stored_rows(&session, &names.keyspace).await.len(), 7);
    // The pipeline's own group never read the dead-letter topic.
    assert!(committed(&names.group, &dlq, 1).is_empty());
    assert_eq!(committed(&redrive_group, &dlq, 1)[&0], 7);
}
