//! A broken pipeline is told from broken records whatever the batch size
//! (issue 16, scenario 8): with one-record batches "every row of the batch
//! fails" is a single row, so a transform that fails every record, or a
//! sink table that lost a column, would otherwise dead-letter and commit
//! every good record one by one.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use ember::ingest::generator::UserGenerator;

fn records(seed: u64, n: usize) -> Vec<KeyValue> {
    UserGenerator::users(seed, n)
        .iter()
        .map(|u| (Some(u.id.to_string().into_bytes()), Some(u.to_json())))
        .collect()
}

fn one_record_batches(names: &Names) -> Vec<(String, String)> {
    let mut env = names.env();
    env.push(("EMBER_SOURCE__MAX_RECORDS".into(), "1".into()));
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transform_that_fails_every_record_stops_after_the_streak_limit() {
    let names = Names::new("streak");
    create_topic(&names.topic, 1);
    produce_raw(&names.topic, &records(8, 20)).await;
    // Plans (a string cast to a number and back), fails on every name.
    let dir = std::env::temp_dir().join(unique("streak_sql"));
    std::fs::create_dir_all(&dir).unwrap();
    let sql = dir.join("numeric_names.sql");
    std::fs::write(
        &sql,
        "INSERT INTO created_users (id, first_name)\n\
         SELECT id, CAST(CAST(first_name AS INT) AS VARCHAR) FROM users_created",
    )
    .unwrap();
    let mut env = one_record_batches(&names);
    env.push(("EMBER_SQL".into(), sql.display().to_string()));
    env.push(("EMBER_MAX_CONSECUTIVE_FAILURES".into(), "5".into()));
    let out = run_available_now_output(&env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job should stop:\n{stderr}");
    assert!(
        stderr.contains("5 records in a row") && stderr.contains("max_consecutive_failures = 5"),
        "{stderr}"
    );
    // The four before it went to the dead-letter topic; the rest wait.
    assert_eq!(record_count(&format!("{}.dlq", names.topic)), 4);
    let state = checkpoint_state(&names, 0);
    assert_eq!(state["committed_end"], 4, "{state}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_table_that_lost_a_column_stops_the_job_without_dead_letters() {
    let names = Names::new("lost_column");
    create_topic(&names.topic, 1);
    let mut env = one_record_batches(&names);
    env.push(("EMBER_TRIGGER".into(), "100ms".into()));
    let (mut child, _stdout) = start_run(&env, Stdio::piped());

    let session = session().await;
    produce_raw(&names.topic, &records(9, 1)).await;
    eventually(Duration::from_secs(30), "the first row", || {
        let (session, keyspace) = (&session, names.keyspace.clone());
        async move { count_rows(session, &keyspace).await == 1 }
    })
    .await;
    session
        .query_unpaged(
            format!("ALTER TABLE {}.created_users DROP email", names.keyspace),
            (),
        )
        .await
        .expect("drop a column");
    produce_raw(&names.topic, &records(10, 3)).await;

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the job kept running with a table it cannot write");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("the pipeline's fault"), "{stderr}");
    assert_eq!(
        record_count(&format!("{}.dlq", names.topic)),
        0,
        "good records must not be dead-lettered: {stderr}"
    );
    assert_eq!(count_rows(&session, &names.keyspace).await, 1);
}
