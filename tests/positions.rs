//! Where a partition continues, on the real stack (issue 16, scenarios 1
//! and 2): the checkpoint decides, not the group offsets (which operators
//! delete, `offsets.retention.minutes` expires, and a new `group_id` never
//! had) and not `starting_offsets`; records deleted by retention are data
//! loss on every path, a replay of a planned batch included.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ember::ingest::generator::UserGenerator;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn admin() -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin client")
}

/// Deletes the consumer group and with it its committed offsets, as an
/// operator (or their expiry) would. The group is empty once the last run
/// left it; its coordinator may take a moment to notice.
async fn delete_group_offsets(group: &str) {
    let admin = admin();
    for _ in 0..40 {
        let results = admin
            .delete_groups(&[group], &AdminOptions::new())
            .await
            .expect("delete groups request");
        if results.iter().all(Result::is_ok) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("group {group} could not be deleted");
}

/// Retention's stand-in: deletes every record of partition 0 below `below`.
async fn delete_records_below(topic: &str, below: i64) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(below))
        .unwrap();
    admin()
        .delete_records(&tpl, &AdminOptions::new())
        .await
        .expect("delete records");
}

fn records(seed: u64, n: usize) -> Vec<KeyValue> {
    UserGenerator::users(seed, n)
        .iter()
        .map(|u| (Some(u.id.to_string().into_bytes()), Some(u.to_json())))
        .collect()
}

fn with_latest(names: &Names) -> Vec<(String, String)> {
    let mut env = names.env();
    env.push(("EMBER_SOURCE__STARTING_OFFSETS".into(), "latest".into()));
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn without_group_offsets_every_partition_continues_at_its_checkpoint_end() {
    let names = Names::new("resume");
    create_topic(&names.topic, 4);
    let session = session().await;
    ember_ok(
        &produce_args(&names.topic, 4, 40, 1)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(run_available_now(&names)["rows_in"], 40);

    // Available-now, the group offsets gone, `starting_offsets = "latest"`:
    // the 40 new records are read, not skipped.
    ember_ok(
        &produce_args(&names.topic, 4, 40, 2)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[],
    );
    delete_group_offsets(&names.group).await;
    let second = run_available_now_with(&with_latest(&names));
    assert_eq!(second["rows_in"], 40, "{second}");
    assert_eq!(second["lost"], 0, "{second}");
    assert_eq!(count_rows(&session, &names.keyspace).await, 80);

    // A continuous job likewise, for records produced while it was down.
    ember_ok(
        &produce_args(&names.topic, 4, 40, 3)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[],
    );
    delete_group_offsets(&names.group).await;
    let mut env = with_latest(&names);
    env.push(("EMBER_TRIGGER".into(), "300ms".into()));
    let (mut child, mut stdout) = start_run(&env, Stdio::null());
    eventually(
        Duration::from_secs(60),
        "the records produced while down",
        || {
            let session = &session;
            let keyspace = names.keyspace.clone();
            async move { count_rows(session, &keyspace).await == 120 }
        },
    )
    .await;
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(child.wait().expect("wait").success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("done:"), "{rest}");
}

#[tokio::test(flavor = "multi_thread")]
async fn records_deleted_past_the_checkpoint_end_are_data_loss_even_with_latest() {
    let names = Names::new("resume_loss");
    create_topic(&names.topic, 1);
    let users = records(4, 20);
    produce_raw(&names.topic, &users[..10]).await;
    assert_eq!(run_available_now(&names)["rows_in"], 10);
    produce_raw(&names.topic, &users[10..]).await;
    delete_records_below(&names.topic, 15).await;
    delete_group_offsets(&names.group).await;

    let out = run_available_now_output(&with_latest(&names));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "data loss stops the job by default");
    assert!(
        stderr.contains("data loss") && stderr.contains("offsets 10..15"),
        "{stderr}"
    );

    let mut env = with_latest(&names);
    env.push(("EMBER_SOURCE__FAIL_ON_DATA_LOSS".into(), "false".into()));
    let skipped = run_available_now_with(&env);
    assert_eq!(skipped["lost"], 5, "{skipped}");
    assert_eq!(skipped["rows_in"], 5, "what is left is read: {skipped}");
    let session = session().await;
    assert_eq!(count_rows(&session, &names.keyspace).await, 15);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_of_a_plan_retention_deleted_is_data_loss_and_clears_the_plan() {
    let names = Names::new("replay_loss");
    create_topic(&names.topic, 1);
    produce_raw(&names.topic, &records(5, 20)).await;
    assert_eq!(run_available_now(&names)["rows_in"], 20);
    let committed = checkpoint_state(&names, 0);
    let write_time = committed["write_time_end"].as_i64().unwrap() - 21;

    // Pretend 10..20 was planned and never committed, then retention
    // deleted 0..15.
    let plan_again = || {
        let mut state = committed.clone();
        state["committed_end"] = 10.into();
        state["pending"] =
            serde_json::json!({"batch_id": 0, "start": 10, "end": 20, "write_time": write_time});
        std::fs::write(
            checkpoint_file(&names, 0),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
    };
    plan_again();
    delete_records_below(&names.topic, 15).await;
    let out = run_available_now_output(&names.env());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a replay's data loss stops the job too"
    );
    assert!(
        stderr.contains("data loss") && stderr.contains("offsets 10..15"),
        "{stderr}"
    );
    assert!(!checkpoint_state(&names, 0)["pending"].is_null());

    let mut env = names.env();
    env.push(("EMBER_SOURCE__FAIL_ON_DATA_LOSS".into(), "false".into()));
    let partly = run_available_now_with(&env);
    assert_eq!(partly["replayed"], 1, "{partly}");
    assert_eq!(partly["lost"], 5, "{partly}");
    assert_eq!(partly["rows_in"], 5, "{partly}");
    assert!(checkpoint_state(&names, 0)["pending"].is_null());

    // Wholly deleted, `latest`, nothing after it in the partition: the plan
    // is committed empty at once (not a replay waiting for records that
    // will never come).
    plan_again();
    delete_records_below(&names.topic, 20).await;
    let mut env = with_latest(&names);
    env.push(("EMBER_SOURCE__FAIL_ON_DATA_LOSS".into(), "false".into()));
    let started = std::time::Instant::now();
    let wholly = run_available_now_with(&env);
    assert_eq!(wholly["lost"], 10, "{wholly}");
    assert_eq!(wholly["rows_in"], 0, "{wholly}");
    assert!(started.elapsed() < Duration::from_secs(60));
    let state = checkpoint_state(&names, 0);
    assert!(state["pending"].is_null(), "{state}");
    assert_eq!(state["committed_end"], 20, "{state}");
}
