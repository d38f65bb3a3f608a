//! A poison batch must not stall the job (issue 16, scenario 6), on the
//! real stack: records of ~100 KiB with `max_bytes` set low make batches
//! bounded by bytes, and a plan made under larger bounds is replayed in
//! pieces of that size, every row at the write time of its place in the
//! plan, committed once.

mod common;

use common::*;
use ember::ingest::generator::UserGenerator;

const USERS: usize = 30;
const PICTURE: usize = 100_000;

/// `ember run … --trigger available-now --summary-json`: stdout.
fn run(env: &[(String, String)]) -> String {
    let pipeline = users_pipeline();
    ember_ok(
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--trigger",
            "available-now",
            "--summary-json",
        ],
        env,
    )
}

/// The `in` count of every progress line.
fn batch_sizes(stdout: &str) -> Vec<usize> {
    stdout
        .lines()
        .filter(|l| l.starts_with("batch "))
        .filter_map(|l| l.split('|').nth(1))
        .filter_map(|f| f.trim().strip_prefix("in")?.trim().parse().ok())
        .collect()
}

/// Per id, the write time of its `first_name`.
async fn write_times(
    session: &scylla::client::session::Session,
    keyspace: &str,
) -> std::collections::HashMap<String, i64> {
    let cql = format!("SELECT id, WRITETIME(first_name) FROM {keyspace}.created_users");
    let result = session
        .query_unpaged(cql.as_str(), ())
        .await
        .expect("select write times")
        .into_rows_result()
        .expect("rows");
    result
        .rows::<(uuid::Uuid, Option<i64>)>()
        .expect("typed rows")
        .map(|r| {
            let (id, at) = r.expect("row");
            (id.to_string(), at.unwrap_or_default())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_close_at_max_bytes_and_a_larger_plan_is_replayed_in_pieces() {
    let names = Names::new("max_bytes");
    create_topic(&names.topic, 1);
    let mut users = UserGenerator::users(61, USERS);
    for (i, u) in users.iter_mut().enumerate() {
        u.picture = format!("https://pictures.test/{i}/{}", "p".repeat(PICTURE));
    }
    let records: Vec<KeyValue> = users
        .iter()
        .map(|u| (Some(u.id.to_string().into_bytes()), Some(u.to_json())))
        .collect();
    produce_raw(&names.topic, &records).await;
    let record_bytes = records[0].0.as_ref().unwrap().len() + records[0].1.as_ref().unwrap().len();
    // 300 KiB: three records stay below it, the fourth crosses it.
    let max_bytes = 300 * 1024;
    assert!(3 * record_bytes < max_bytes && 4 * record_bytes >= max_bytes);
    let mut env = names.env();
    env.push(("EMBER_SOURCE__MAX_BYTES".into(), "300KiB".into()));

    // 1. Batches bounded by bytes, far below max_records (20,000).
    let stdout = run(&env);
    let sizes = batch_sizes(&stdout);
    assert!(
        !sizes.is_empty() && sizes.iter().all(|&n| n <= 4),
        "{sizes:?}\n{stdout}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), USERS, "{stdout}");
    let first = summary(&stdout);
    assert!(first["batches"].as_u64().unwrap() >= 8, "{first}");
    assert_eq!(first["rows_in"], USERS, "{first}");
    assert_eq!(first["written_total"], USERS, "{first}");
    let session = session().await;
    let rows = stored_rows(&session, &names.keyspace).await;
    assert_eq!(rows.len(), USERS);
    for u in &users {
        let row = &rows[&u.id.to_string()];
        assert_eq!(row[10].as_deref(), Some(u.picture.as_str()), "{}", u.id);
    }

    // 2. The whole topic planned as one batch (as under bounds that fit
    // it: 3 MB) and never committed, at a write time above the first
    // run's: replayed in pieces of 300 KiB, each row at the plan's write
    // time + its position in the plan.
    let mut state = checkpoint_state(&names, 0);
    let write_time = state["write_time_end"].as_i64().unwrap() + 1_000_000;
    state["committed_end"] = serde_json::Value::Null;
    state["pending"] = serde_json::json!({
        "batch_id": 100, "start": 0, "end": USERS, "write_time": write_time
    });
    std::fs::write(
        checkpoint_file(&names, 0),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    let stdout = run(&env);
    let replay = summary(&stdout);
    assert_eq!(
        (&replay["batches"], &replay["replayed"], &replay["rows_in"]),
        (&1.into(), &1.into(), &USERS.into()),
        "{replay}"
    );
    assert_eq!(replay["written_total"], USERS, "{replay}");
    assert!(
        stdout.contains("| replayed in 8 pieces"),
        "pieces of 4, 4, …, 2:\n{stdout}"
    );
    let state = checkpoint_state(&names, 0);
    assert!(state["pending"].is_null(), "{state}");
    assert_eq!(state["committed_end"], USERS, "{state}");
    let times = write_times(&session, &names.keyspace).await;
    assert_eq!(times.len(), USERS);
    for (i, u) in users.iter().enumerate() {
        assert_eq!(
            times[&u.id.to_string()],
            write_time + i as i64,
            "user {i} keeps its place in the plan"
        );
    }
    assert_eq!(stored_rows(&session, &names.keyspace).await.len(), USERS);
}
