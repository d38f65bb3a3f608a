//! Several transforms over one source (issue 16, scenario 9): each SQL file
//! runs, and is narrowed, on its own. A record one transform fails on is
//! dead-lettered naming that file, and still written by the others; per
//! sink, decoded = written + filtered + dead-lettered.

mod common;

use common::*;
use ember::ingest::generator::{PostCode, UserGenerator};

#[tokio::test(flavor = "multi_thread")]
async fn a_record_one_transform_fails_on_is_dead_lettered_naming_it_and_kept_by_the_other() {
    let names = Names::new("two_sql");
    create_topic(&names.topic, 1);
    let dir = std::env::temp_dir().join(unique("two_sql"));
    std::fs::create_dir_all(&dir).unwrap();

    // The seed transform, and one that keeps numeric post codes of everyone
    // but `skip` (a cast that fails on a post code with letters).
    let numbers = dir.join("numbers.sql");
    std::fs::write(
        &numbers,
        "INSERT INTO numbered_users (id, post_code)\n\
         SELECT id, CAST(post_code AS INT) FROM users_created WHERE gender <> 'skip'",
    )
    .unwrap();
    let cql = dir.join("numbered_users.cql");
    std::fs::write(
        &cql,
        "CREATE TABLE IF NOT EXISTS numbered_users (id uuid PRIMARY KEY, post_code int)",
    )
    .unwrap();
    let seed_sql = repo().join("sql/created_users.sql");
    let pipeline_text = std::fs::read_to_string(users_pipeline())
        .unwrap()
        .replace(
            r#"sql = ["../sql/created_users.sql"]"#,
            &format!(
                "sql = [{:?}, {:?}]",
                seed_sql.display().to_string(),
                numbers.display().to_string()
            ),
        )
        .replace(
            r#"create_cql = "../sql/created_users.cql""#,
            &format!(
                "create_cql = {:?}",
                repo().join("sql/created_users.cql").display().to_string()
            ),
        );
    let pipeline = dir.join("two.toml");
    std::fs::write(
        &pipeline,
        format!(
            "{pipeline_text}\n[sinks.numbered_users]\ntype = \"cassandra\"\n\
             contact_points = [{:?}]\nkeyspace = {:?}\ncreate_cql = {:?}\n",
            cassandra(),
            names.keyspace,
            cql.display().to_string()
        ),
    )
    .unwrap();

    let mut users = UserGenerator::users(12, 6);
    for (i, u) in users.iter_mut().enumerate() {
        u.post_code = match i {
            0 | 1 => PostCode::Text(format!("AB-{i}")),
            _ => PostCode::Number(1000 + i as u32),
        };
        if i >= 4 {
            u.gender = "skip".into();
        }
    }
    let records: Vec<KeyValue> = users
        .iter()
        .map(|u| (Some(u.id.to_string().into_bytes()), Some(u.to_json())))
        .collect();
    produce_raw(&names.topic, &records).await;

    let stdout = ember_ok(
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--trigger",
            "available-now",
            "--summary-json",
        ],
        &names.env(),
    );
    let summary = summary(&stdout);
    assert_eq!(summary["rows_in"], 6, "{summary}");
    assert_eq!(summary["rejected"], 2, "{summary}");
    assert_eq!(
        summary["sinks"]["created_users"],
        serde_json::json!({"written": 6, "filtered": 0, "dead_lettered": 0}),
        "{summary}"
    );
    assert_eq!(
        summary["sinks"]["numbered_users"],
        serde_json::json!({"written": 2, "filtered": 2, "dead_lettered": 2}),
        "{summary}"
    );
    assert!(
        stdout.contains("numbered_users: 2 row(s), 2 filtered out, 2 dead-lettered"),
        "{stdout}"
    );

    let session = session().await;
    assert_eq!(count_rows(&session, &names.keyspace).await, 6);
    let letters = consume_with_headers(&format!("{}.dlq", names.topic), 2);
    let mut offsets = Vec::new();
    for letter in &letters {
        let header = |name: &str| {
            letter
                .headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(header("ember.reason"), "transform_failed");
        let detail = header("ember.detail");
        assert!(
            detail.contains(&numbers.display().to_string())
                && !detail.contains("created_users.sql"),
            "{detail}"
        );
        offsets.push(header("ember.source.offset"));
    }
    offsets.sort();
    assert_eq!(offsets, ["0", "1"]);
}
