//! A partition's previous owner is fenced (issue 16, scenario 3), on the
//! real stack: hot keys updated again and again, two instances in one
//! group and a third that keeps joining and leaving (stopped or killed),
//! so partitions move every few seconds while batches are in flight. Every
//! id must end at its highest version: an old owner that planned or wrote
//! after its partition moved would leave an older version on top.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use ember::ingest::generator::UserGenerator;

const IDS: usize = 20;
const PARTITIONS: i32 = 4;

fn version_name(version: usize) -> String {
    format!("v{version:06}")
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_keys_end_at_their_highest_version_through_frequent_rebalances() {
    let versions = if std::env::var("CHAOS").is_ok_and(|v| v == "1") {
        600
    } else {
        150
    };
    let names = Names::new("hot_keys");
    create_topic(&names.topic, PARTITIONS);
    let mut env = names.env();
    env.push(("EMBER_TRIGGER".into(), "100ms".into()));
    // Small batches: many plans and commits for a move to fall between.
    env.push(("EMBER_SOURCE__MAX_RECORDS".into(), "40".into()));
    let mut a = Job::run("hot-a", &env);
    let mut b = Job::run("hot-b", &env);

    // Every id gets versions 1..=versions in order (keyed: one partition
    // per id), about 1,000 records/s.
    let users = UserGenerator::users(31, IDS);
    let producing = {
        let topic = names.topic.clone();
        tokio::spawn(async move {
            for version in 1..=versions {
                let records: Vec<KeyValue> = users
                    .iter()
                    .map(|u| {
                        let mut u = u.clone();
                        u.first_name = version_name(version);
                        (Some(u.id.to_string().into_bytes()), Some(u.to_json()))
                    })
                    .collect();
                produce_raw(&topic, &records).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // A third instance joins and leaves until the records are all in,
    // stopped cleanly or killed mid-batch by turns.
    let mut moves = 0;
    while !producing.is_finished() {
        let mut c = Job::run(&format!("hot-c{moves}"), &env);
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        if moves % 2 == 0 {
            c.stop("TERM", Duration::from_secs(15));
        } else {
            c.kill9();
        }
        moves += 1;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
    producing.await.expect("producer");
    assert!(moves >= 2, "the partitions should have moved: {moves}");

    let session = session().await;
    let want = version_name(versions);
    let started = Instant::now();
    loop {
        let rows = stored_rows(&session, &names.keyspace).await;
        let last: HashMap<String, Option<String>> = rows
            .iter()
            .map(|(id, row)| (id.clone(), row[1].clone()))
            .collect();
        if last.len() == IDS && last.values().all(|v| v.as_deref() == Some(want.as_str())) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "every id should end at {want} after {moves} moves; stored: {last:?}\na: {}\nb: {}",
            tail(&a.stderr()),
            tail(&b.stderr())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("{IDS} ids at {want} after {moves} moves of the third instance");
    a.stop("TERM", Duration::from_secs(15));
    b.stop("TERM", Duration::from_secs(15));
}
