//! Deletes and nulls as Kafka Connect users expect, on the real stack: a
//! tombstone deletes the row its key names (`deletes = true`), and a null
//! field leaves the stored column alone (`ignore_nulls = true`).

mod common;

use common::*;
use ember::ingest::generator::UserGenerator;

const DELETES: &str = "EMBER_SINKS__CREATED_USERS__DELETES";
const IGNORE_NULLS: &str = "EMBER_SINKS__CREATED_USERS__IGNORE_NULLS";

fn with(names: &Names, settings: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = names.env();
    env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// `rows in = written + deleted + dead-lettered`, and the counts asked for.
fn assert_counts(summary: &serde_json::Value, written: u64, deleted: u64, rejected: u64) {
    let n = |k: &str| {
        summary[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {summary}"))
    };
    assert_eq!(
        (n("written_total"), n("deleted"), n("rejected")),
        (written, deleted, rejected),
        "{summary}"
    );
    assert_eq!(n("rows_in"), written + deleted + rejected, "{summary}");
}

fn tombstone(key: &str) -> KeyValue {
    (Some(key.as_bytes().to_vec()), None)
}

fn first_name(
    rows: &std::collections::HashMap<String, [Option<String>; 11]>,
    id: &str,
) -> Option<String> {
    rows.get(id).and_then(|r| r[1].clone())
}

/// Without `deletes` a tombstone is dead-lettered and the row stays; with
/// it the row its key names is deleted (a plain id key or a JSON object),
/// in offset order with the upserts of its batch, and replaying an older
/// batch of inserts, or the batch of deletes itself, brings nothing back.
#[tokio::test(flavor = "multi_thread")]
async fn a_tombstone_deletes_the_row_its_key_names_and_a_replay_does_not_resurrect_it() {
    let names = Names::new("deletes");
    create_topic(&names.topic, 1);
    let users = UserGenerator::users(31, 5);
    let id: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    let inserts: Vec<KeyValue> = users
        .iter()
        .map(|u| (Some(u.id.to_string().into_bytes()), Some(u.to_json())))
        .collect();
    produce_raw(&names.topic, &inserts).await;
    let first = run_available_now_with(&with(&names, &[]));
    assert_counts(&first, 5, 0, 0);
    let state_file = repo()
        .join(".ember/checkpoints")
        .join(&names.group)
        .join(&names.topic)
        .join("partition-0.json");
    let read_state = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&state_file).expect("checkpoint")).unwrap()
    };
    // write_time_end = write time + rows + 1.
    let first_write_time = read_state()["write_time_end"].as_i64().unwrap() - 6;
    let session = session().await;
    assert_eq!(stored_rows(&session, &names.keyspace).await.len(), 5);

    // deletes off (the default): dead-lettered as today, nothing deleted.
    produce_raw(&names.topic, &[tombstone(&id[0])]).await;
    let off = run_available_now_with(&with(&names, &[]));
    assert_counts(&off, 0, 0, 1);
    let letters = consume_with_headers(&format!("{}.dlq", names.topic), 1);
    assert_eq!(letters[0].headers["ember.reason"], "tombstone");
    assert_eq!(letters[0].key.as_deref(), Some(id[0].as_bytes()));
    assert_eq!(stored_rows(&session, &names.keyspace).await.len(), 5);

    // deletes on: a plain id key, a JSON object key; user 2 deleted and
    // re-created in the batch (the later record wins); user 3 updated and
    // then deleted in it.
    let mut renamed: serde_json::Value = serde_json::from_slice(&users[2].to_json()).unwrap();
    renamed["first_name"] = "Reborn".into();
    let json_key = format!(r#"{{"id": "{}"}}"#, id[1]);
    let batch: Vec<KeyValue> = vec![
        tombstone(&id[0]),
        tombstone(&json_key),
        tombstone(&id[2]),
        (
            Some(id[2].clone().into_bytes()),
            Some(serde_json::to_vec(&renamed).unwrap()),
        ),
        inserts[3].clone(),
        tombstone(&id[3]),
    ];
    produce_raw(&names.topic, &batch).await;
    let on = run_available_now_with(&with(&names, &[(DELETES, "true")]));
    assert_counts(&on, 2, 4, 0);
    let check = |rows: std::collections::HashMap<String, [Option<String>; 11]>| {
        let mut ids: Vec<&String> = rows.keys().collect();
        ids.sort();
        let mut want = vec![&id[2], &id[4]];
        want.sort();
        assert_eq!(ids, want, "rows left");
        assert_eq!(first_name(&rows, &id[2]).as_deref(), Some("Reborn"));
        assert_eq!(first_name(&rows, &id[4]), Some(users[4].first_name.clone()));
    };
    check(stored_rows(&session, &names.keyspace).await);

    // Replays at their planned write times: the first batch of inserts
    // (older than the deletes), then the batch of deletes itself.
    let state = read_state();
    let deletes_write_time = state["write_time_end"].as_i64().unwrap() - 7;
    for (batch_id, start, end, write_time) in
        [(0, 0, 5, first_write_time), (2, 6, 12, deletes_write_time)]
    {
        let mut state = state.clone();
        state["pending"] = serde_json::json!({
            "batch_id": batch_id, "start": start, "end": end, "write_time": write_time
        });
        std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
        let replay = run_available_now_with(&with(&names, &[(DELETES, "true")]));
        assert_eq!(replay["replayed"], 1, "{replay}");
        check(stored_rows(&session, &names.keyspace).await);
    }
}

/// With deletes on, a tombstone without a key, or whose key does not name
/// the table's whole primary key, is dead-lettered with its own reason and
/// deletes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_tombstone_without_a_usable_key_is_dead_lettered_with_its_reason() {
    let names = Names::new("badkeys");
    create_topic(&names.topic, 1);
    let user = UserGenerator::users(32, 1).remove(0);
    let id = user.id.to_string();
    let mut records: Vec<KeyValue> = vec![(Some(id.clone().into_bytes()), Some(user.to_json()))];
    records.push((None, None));
    for key in [
        "not-a-uuid".to_string(),
        r#"{"first_name": "no id"}"#.to_string(),
        r#"{"id": null}"#.to_string(),
        format!(r#"{{"id": "{id}", "id": "{id}"}}"#),
    ] {
        records.push(tombstone(&key));
    }
    produce_raw(&names.topic, &records).await;
    let summary = run_available_now_with(&with(&names, &[(DELETES, "true")]));
    assert_counts(&summary, 1, 0, 5);
    let session = session().await;
    assert!(stored_rows(&session, &names.keyspace)
        .await
        .contains_key(&id));

    let letters = consume_with_headers(&format!("{}.dlq", names.topic), 5);
    let got: Vec<(&str, &str)> = letters
        .iter()
        .map(|l| {
            (
                l.headers["ember.reason"].as_str(),
                l.headers["ember.detail"].as_str(),
            )
        })
        .collect();
    assert_eq!(got[0].0, "tombstone_without_key", "{got:?}");
    for (reason, detail) in &got[1..] {
        assert_eq!(*reason, "tombstone_invalid_key", "{got:?}");
        assert!(
            detail.contains("primary key of Cassandra table"),
            "{detail}"
        );
    }
    assert!(got[1].1.contains("invalid_uuid"), "{got:?}");
    assert!(got[2].1.contains("missing_required_field"), "{got:?}");
    assert!(got[3].1.contains("missing_required_field"), "{got:?}");
    assert!(got[4].1.contains("duplicate_key"), "{got:?}");
    for (letter, original) in letters.iter().zip(&records[1..]) {
        assert_eq!(letter.key, original.0, "key byte for byte");
        assert_eq!(letter.value, None);
    }
}

/// `ignore_nulls = true`: a null or missing field leaves the stored column
/// as it was; without it the column becomes null.
#[tokio::test(flavor = "multi_thread")]
async fn ignore_nulls_keeps_the_stored_value_and_without_it_the_column_is_nulled() {
    let names = Names::new("nulls");
    create_topic(&names.topic, 1);
    // Two users, so that each batch is one unlogged batch request.
    let users = UserGenerator::users(33, 2);
    let full: Vec<KeyValue> = users
        .iter()
        .map(|u| (Some(u.id.to_string().into_bytes()), Some(u.to_json())))
        .collect();
    produce_raw(&names.topic, &full).await;
    run_available_now_with(&with(&names, &[(IGNORE_NULLS, "true")]));

    // first_name null, last_name missing, email changed.
    let partial: Vec<KeyValue> = users
        .iter()
        .map(|u| {
            let mut v: serde_json::Value = serde_json::from_slice(&u.to_json()).unwrap();
            v["first_name"] = serde_json::Value::Null;
            v.as_object_mut().unwrap().remove("last_name");
            v["email"] = "new@example.com".into();
            (
                Some(u.id.to_string().into_bytes()),
                Some(serde_json::to_vec(&v).unwrap()),
            )
        })
        .collect();
    produce_raw(&names.topic, &partial).await;
    let summary = run_available_now_with(&with(&names, &[(IGNORE_NULLS, "true")]));
    assert_counts(&summary, 2, 0, 0);
    let session = session().await;
    let rows = stored_rows(&session, &names.keyspace).await;
    for u in &users {
        let row = &rows[&u.id.to_string()];
        assert_eq!(row[1].as_deref(), Some(u.first_name.as_str()));
        assert_eq!(row[2].as_deref(), Some(u.last_name.as_str()));
        assert_eq!(row[6].as_deref(), Some("new@example.com"));
    }

    // The default writes the nulls.
    produce_raw(&names.topic, &partial).await;
    run_available_now_with(&with(&names, &[]));
    let rows = stored_rows(&session, &names.keyspace).await;
    for u in &users {
        let row = &rows[&u.id.to_string()];
        assert_eq!((row[1].as_deref(), row[2].as_deref()), (None, None));
        assert_eq!(row[6].as_deref(), Some("new@example.com"));
    }
}
