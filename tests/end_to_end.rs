//! Ember end to end on the real stack: Kafka → Arrow → DataFusion SQL → Cassandra.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ember::ingest::generator::{PostCode, UserGenerator};

/// N produced → N rows, every field equal to what the generator produced;
/// then a second run finds nothing to do and leaves the offsets alone.
#[tokio::test(flavor = "multi_thread")]
async fn every_produced_user_lands_exactly_and_a_rerun_writes_nothing() {
    let names = Names::new("exact");
    let (n, seed) = (3_000usize, 4242u64);
    produce_users(&names.topic, 4, n, seed);

    let first = run_available_now(&names);
    assert_eq!(first["rows_in"], n);
    assert_eq!(first["rejected"], 0);
    assert_eq!(first["written_total"], n);

    let expected = UserGenerator::users(seed, n);
    let session = session().await;
    let rows = stored_rows(&session, &names.keyspace).await;
    assert_eq!(rows.len(), n, "row count");
    for user in &expected {
        let want: Vec<Option<String>> = user.stored_row().into_iter().map(Some).collect();
        let got = rows
            .get(&user.id.to_string())
            .unwrap_or_else(|| panic!("missing {}", user.id));
        assert_eq!(got.to_vec(), want, "row of {}", user.id);
    }
    // A numeric post_code arrives as its text.
    let numeric = expected
        .iter()
        .find_map(|u| match u.post_code {
            PostCode::Number(code) => Some((u.id.to_string(), code)),
            PostCode::Text(_) => None,
        })
        .expect("some user has a numeric post_code");
    assert_eq!(rows[&numeric.0][5], Some(numeric.1.to_string()));

    let offsets = committed(&names.group, &names.topic, 4);
    assert_eq!(
        offsets.values().sum::<i64>(),
        n as i64,
        "committed offsets cover every record"
    );
    let again = run_available_now(&names);
    assert_eq!(again["rows_in"], 0);
    assert_eq!(again["written_total"], 0);
    assert_eq!(
        committed(&names.group, &names.topic, 4),
        offsets,
        "offsets unchanged"
    );
    assert_eq!(count_rows(&session, &names.keyspace).await, n as i64);
}

/// In processing-time mode, records produced while the job runs reach
/// Cassandra; SIGTERM stops it cleanly.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_job_picks_up_new_records() {
    let names = Names::new("live");
    create_topic(&names.topic, 2);
    let mut env = names.env();
    env.push(("EMBER_TRIGGER".into(), "300ms".into()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["run", users_pipeline().to_str().unwrap()])
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ember run");
    // Wait until the job reports it is running (sinks and source connected).
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("first line");
    assert!(first.starts_with("ember run"), "{first}");

    let session = session().await;
    for (round, seed) in [(1, 11u64), (2, 12)] {
        ember_ok(
            &[
                "produce",
                "--brokers",
                &brokers(),
                "--topic",
                &names.topic,
                "--count",
                "500",
                "--seed",
                &seed.to_string(),
            ],
            &[],
        );
        let want = 500 * round;
        eventually(Duration::from_secs(90), "rows to reach Cassandra", || {
            let session = &session;
            let ks = names.keyspace.clone();
            async move { count_rows(session, &ks).await == want }
        })
        .await;
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "ember run exits 0 on SIGTERM: {status}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("done:"), "{rest}");
}

/// A SIGTERM while the job is still connecting (here to a "Cassandra" that
/// accepts connections and never answers) stops it cleanly, before any
/// batch: exit 0 at once, not death by the signal.
#[test]
fn a_sigterm_while_starting_is_a_clean_stop() {
    let names = Names::new("startterm");
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = silent.local_addr().expect("address").to_string();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(64).collect();
        std::thread::sleep(Duration::from_secs(120));
        drop(held);
    });
    let mut env = names.env();
    env.push(("EMBER_SINKS__CREATED_USERS__CONTACT_POINTS".into(), address));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["run", users_pipeline().to_str().unwrap()])
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ember run");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "ember run should still be connecting"
    );
    let sent = std::time::Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        status.success(),
        "exit 0 on SIGTERM while starting: {status}\n{stderr}"
    );
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "it stopped at once"
    );
    assert!(stderr.contains("stopped before any batch"), "{stderr}");
}

/// Undecodable records neither crash nor stall the job; they are counted,
/// and every good record is written.
#[tokio::test(flavor = "multi_thread")]
async fn undecodable_records_are_counted_and_skipped() {
    let names = Names::new("bad");
    create_topic(&names.topic, 1);
    let good = UserGenerator::users(99, 20);
    let bad: Vec<Option<Vec<u8>>> = vec![
        Some(b"not json at all".to_vec()),
        Some(b"{\"id\": \"truncated".to_vec()),
        Some(b"[1, 2, 3]".to_vec()),
        Some(b"{\"first_name\": \"no id\"}".to_vec()),
        Some(b"{\"id\": \"not-a-uuid\"}".to_vec()),
        Some(b"\xff\xfe\xfd".to_vec()),
        Some(Vec::new()),
        None,
    ];
    let mut records = Vec::new();
    for (i, user) in good.iter().enumerate() {
        records.push((Some(user.id.to_string().into_bytes()), Some(user.to_json())));
        if let Some(b) = bad.get(i) {
            records.push((Some(b"bad".to_vec()), b.clone()));
        }
    }
    produce_raw(&names.topic, &records).await;

    let summary = run_available_now(&names);
    assert_eq!(summary["rows_in"], records.len());
    assert_eq!(summary["rejected"], bad.len());
    assert_eq!(summary["written_total"], good.len());
    let session = session().await;
    let rows = stored_rows(&session, &names.keyspace).await;
    assert_eq!(rows.len(), good.len());
    for user in &good {
        assert!(rows.contains_key(&user.id.to_string()));
    }

    // Every bad record is in the dead-letter topic byte for byte, with its
    // reason and origin in the headers.
    let letters = consume_with_headers(&format!("{}.dlq", names.topic), bad.len());
    assert_eq!(letters.len(), bad.len());
    let reasons: Vec<&str> = letters
        .iter()
        .map(|l| l.headers["ember.reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "invalid_json",
            "invalid_json",
            "not_an_object",
            "missing_required_field",
            "invalid_uuid",
            "invalid_utf8",
            "empty_value",
            "tombstone"
        ]
    );
    for (letter, original) in letters.iter().zip(&bad) {
        assert_eq!(&letter.value, original, "value byte for byte");
        assert_eq!(letter.key.as_deref(), Some(&b"bad"[..]));
        assert_eq!(letter.headers["ember.source.topic"], names.topic);
        assert_eq!(letter.headers["ember.source.partition"], "0");
        assert_eq!(letter.headers["ember.pipeline"], "users");
        assert!(letter.headers["ember.source.offset"].parse::<i64>().is_ok());
    }
}

/// A local server serving randomuser.me-format pages; it fails the first
/// request with 503 to exercise the retry.
fn serve_randomuser(users: Vec<serde_json::Value>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let query: HashMap<String, String> = request_line
                .split_whitespace()
                .nth(1)
                .and_then(|path| path.split_once('?'))
                .map(|(_, q)| {
                    q.split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let (status, body) = if n == 0 {
                ("503 Service Unavailable", "busy".to_string())
            } else {
                let results: usize = query
                    .get("results")
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(1);
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let start = (page - 1) * results;
                let slice: Vec<_> = users.iter().skip(start).take(results).cloned().collect();
                let body = serde_json::json!({
                    "results": slice,
                    "info": {"seed": query.get("seed"), "results": results, "page": page, "version": "1.4"}
                });
                ("200 OK", body.to_string())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}/api/"), requests)
}

fn api_user(i: usize) -> serde_json::Value {
    serde_json::json!({
        "gender": if i.is_multiple_of(2) { "female" } else { "male" },
        "name": {"title": "Mx", "first": format!("First{i}"), "last": format!("Last{i}")},
        "location": {
            "street": {"number": i, "name": "Test Street"},
            "city": "Lyon", "state": "Rhône", "country": "France",
            "postcode": if i.is_multiple_of(3) { serde_json::json!(69000 + i) } else { serde_json::json!(format!("PC-{i}")) },
            "coordinates": {"latitude": "1", "longitude": "2"},
            "timezone": {"offset": "+1:00", "description": "Paris"}
        },
        "email": format!("user{i}@example.com"),
        "login": {"uuid": "00000000-0000-0000-0000-000000000000", "username": format!("user{i}"), "password": "pw"},
        "dob": {"date": "1990-05-06T07:08:09.010Z", "age": 35},
        "registered": {"date": "2015-01-02T03:04:05.006Z", "age": 10},
        "phone": format!("01-{i}"),
        "cell": "x",
        "id": {"name": "INSEE", "value": null},
        "picture": {"large": "l", "medium": format!("https://example.com/{i}.jpg"), "thumbnail": "t"},
        "nat": "FR"
    })
}

/// `ember produce --api-url` fetches pages, retries a 503, flattens each
/// result per the contract, and keys each record by its id.
#[tokio::test(flavor = "multi_thread")]
async fn produce_from_a_randomuser_api() {
    let topic = unique("t_api");
    let users: Vec<_> = (0..250).map(api_user).collect();
    let (url, requests) = serve_randomuser(users);
    let out = ember_ok(
        &[
            "produce",
            "--brokers",
            &brokers(),
            "--topic",
            &topic,
            "--partitions",
            "2",
            "--api-url",
            &url,
            "--api-page-size",
            "100",
            "--count",
            "250",
            "--seed",
            "5",
        ],
        &[],
    );
    assert!(
        out.contains("produced 250 record(s)") && out.contains("from the api"),
        "{out}"
    );
    assert_eq!(
        requests.load(Ordering::SeqCst),
        4,
        "one 503, then pages of 100, 100, 50"
    );

    let records = consume_all(&topic, 250);
    assert_eq!(records.len(), 250);
    let mut ids = UserGenerator::new(5);
    let expected_ids: Vec<String> = (0..250).map(|_| ids.next_id().to_string()).collect();
    let mut by_first: HashMap<String, serde_json::Value> = HashMap::new();
    for (key, value) in &records {
        let v: serde_json::Value = serde_json::from_slice(value.as_ref().unwrap()).unwrap();
        assert_eq!(
            key.as_deref(),
            Some(v["id"].as_str().unwrap().as_bytes()),
            "keyed by id"
        );
        by_first.insert(v["first_name"].as_str().unwrap().to_string(), v);
    }
    for i in 0..250 {
        let v = &by_first[&format!("First{i}")];
        assert_eq!(v["id"], expected_ids[i]);
        assert_eq!(
            v["address"],
            format!("{i} Test Street, Lyon, Rhône, France")
        );
        assert_eq!(v["username"], format!("user{i}"));
        assert_eq!(v["picture"], format!("https://example.com/{i}.jpg"));
        assert_eq!(v["registered_date"], "2015-01-02T03:04:05.006Z");
        if i.is_multiple_of(3) {
            assert_eq!(
                v["post_code"],
                69000 + i,
                "numeric post codes stay numbers in the topic"
            );
        } else {
            assert_eq!(v["post_code"], format!("PC-{i}"));
        }
    }
}

/// A replayed old batch cannot undo a newer value: every write carries the
/// batch's planned write time, and the replay reuses it.
#[tokio::test(flavor = "multi_thread")]
async fn replaying_an_old_batch_keeps_the_newer_value() {
    let names = Names::new("replay");
    create_topic(&names.topic, 1);
    let mut user = UserGenerator::users(7, 1).remove(0);
    let id = user.id.to_string();
    user.first_name = "Old".into();
    produce_raw(
        &names.topic,
        &[(Some(id.clone().into_bytes()), Some(user.to_json()))],
    )
    .await;
    run_available_now(&names);
    let state_file = repo()
        .join(".ember/checkpoints")
        .join(&names.group)
        .join(&names.topic)
        .join("partition-0.json");
    let first: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).expect("checkpoint state")).unwrap();
    assert_eq!(first["committed_end"], 1);
    assert!(first["pending"].is_null());
    // write_time_end = write_time + rows + 1 for the one-row batch 0.
    let first_write_time = first["write_time_end"].as_i64().unwrap() - 2;

    user.first_name = "New".into();
    produce_raw(
        &names.topic,
        &[(Some(id.clone().into_bytes()), Some(user.to_json()))],
    )
    .await;
    run_available_now(&names);
    let session = session().await;
    assert_eq!(
        stored_rows(&session, &names.keyspace).await[&id][1].as_deref(),
        Some("New")
    );

    // Pretend batch 0 was planned but never committed: the next start
    // replays exactly it, at its original write time.
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    state["pending"] =
        serde_json::json!({"batch_id": 0, "start": 0, "end": 1, "write_time": first_write_time});
    std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    let replay = run_available_now(&names);
    assert_eq!(replay["replayed"], 1, "{replay}");
    assert_eq!(
        replay["rows_in"], 1,
        "the old record was read again: {replay}"
    );
    assert_eq!(
        stored_rows(&session, &names.keyspace).await[&id][1].as_deref(),
        Some("New")
    );
}

/// Offsets deleted before they were processed stop the job by default (like
/// Spark's failOnDataLoss); with `fail_on_data_loss = false` they are
/// skipped, counted, and the rest is processed.
#[tokio::test(flavor = "multi_thread")]
async fn deleted_offsets_are_data_loss() {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};

    let names = Names::new("loss");
    create_topic(&names.topic, 1);
    let users = UserGenerator::users(3, 20);
    let records: Vec<KeyValue> = users
        .iter()
        .map(|u| (Some(u.id.to_string().into_bytes()), Some(u.to_json())))
        .collect();
    produce_raw(&names.topic, &records[..10]).await;
    assert_eq!(run_available_now(&names)["rows_in"], 10);
    produce_raw(&names.topic, &records[10..]).await;

    // Retention stand-in: delete offsets 10..15 before they are processed.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&names.topic, 0, Offset::Offset(15))
        .unwrap();
    admin
        .delete_records(&tpl, &AdminOptions::new())
        .await
        .expect("delete records");

    let pipeline = users_pipeline();
    let args = [
        "run",
        pipeline.to_str().unwrap(),
        "--trigger",
        "available-now",
        "--summary-json",
    ];
    let failed = ember(&args, &names.env());
    assert!(
        !failed.status.success(),
        "data loss must stop the job by default"
    );
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("data loss") && stderr.contains("offsets 10..15"),
        "{stderr}"
    );

    let mut env = names.env();
    env.push(("EMBER_SOURCE__FAIL_ON_DATA_LOSS".into(), "false".into()));
    let skipped = summary(&ember_ok(&args, &env));
    assert_eq!(skipped["lost"], 5, "{skipped}");
    assert_eq!(skipped["rows_in"], 5, "{skipped}");
    let session = session().await;
    assert_eq!(count_rows(&session, &names.keyspace).await, 15);
}
