//! Helpers for the integration tests. They run against the real Kafka and
//! Cassandra started by `stack/stack.sh up` (what `make test` does); a test
//! that cannot reach them fails, it never skips.
#![allow(dead_code)]

mod job;
#[allow(unused_imports)]
pub use job::{tail, Job};

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

/// A test binary that runs against a stack instance of its own (the fault
/// tests) points every helper at it once, before using any.
static ENDPOINTS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

/// Points this test binary's helpers at another Kafka and Cassandra.
pub fn use_endpoints(kafka: &str, cassandra: &str) {
    let want = (kafka.to_string(), cassandra.to_string());
    let got = ENDPOINTS.get_or_init(|| want.clone());
    assert_eq!(got, &want, "one stack per test binary");
}

pub fn brokers() -> String {
    if let Some((kafka, _)) = ENDPOINTS.get() {
        return kafka.clone();
    }
    std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn cassandra() -> String {
    if let Some((_, cassandra)) = ENDPOINTS.get() {
        return cassandra.clone();
    }
    std::env::var("TEST_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 10_000_000_000)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn users_pipeline() -> PathBuf {
    repo().join("pipelines/users.toml")
}

/// One test's private topic, keyspace and consumer group.
#[derive(Debug, Clone)]
pub struct Names {
    pub topic: String,
    pub keyspace: String,
    pub group: String,
}

impl Names {
    pub fn new(test: &str) -> Self {
        let id = unique(test);
        Names {
            topic: format!("t_{id}"),
            keyspace: format!("ks_{id}"),
            group: format!("g_{id}"),
        }
    }

    /// The `EMBER_…` overrides that point `pipelines/users.toml` at them.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("EMBER_SOURCE__TOPIC".into(), self.topic.clone()),
            ("EMBER_SOURCE__BROKERS".into(), brokers()),
            ("EMBER_SOURCE__GROUP_ID".into(), self.group.clone()),
            (
                "EMBER_SINKS__CREATED_USERS__KEYSPACE".into(),
                self.keyspace.clone(),
            ),
            (
                "EMBER_SINKS__CREATED_USERS__CONTACT_POINTS".into(),
                cassandra(),
            ),
        ]
    }
}

/// Where a test's job keeps partition `partition`'s checkpoint state (the
/// default checkpoint location, under the repository).
pub fn checkpoint_file(names: &Names, partition: i32) -> PathBuf {
    repo()
        .join(".ember/checkpoints")
        .join(&names.group)
        .join(&names.topic)
        .join(format!("partition-{partition}.json"))
}

/// That state, parsed.
pub fn checkpoint_state(names: &Names, partition: i32) -> serde_json::Value {
    let bytes = std::fs::read(checkpoint_file(names, partition)).expect("checkpoint state");
    serde_json::from_slice(&bytes).expect("checkpoint JSON")
}

/// `ember run pipelines/users.toml` (a continuous job) with `env`, returned
/// once it printed its first line (its source and sinks are connected);
/// stderr as given.
pub fn start_run(
    env: &[(String, String)],
    stderr: std::process::Stdio,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["run", users_pipeline().to_str().unwrap()])
        .envs(env.iter().cloned())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start ember run");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("first line");
    assert!(first.starts_with("ember run"), "{first}");
    (child, stdout)
}

/// `ember <args>` with the given environment; the output is returned
/// whatever the exit status.
pub fn ember(args: &[&str], env: &[(String, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ember"));
    cmd.args(args).current_dir(repo());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("ember binary runs")
}

/// Runs ember and panics with its output if it failed.
pub fn ember_ok(args: &[&str], env: &[(String, String)]) -> String {
    let out = ember(args, env);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "ember {args:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The JSON object on the last line that parses as one.
pub fn summary(stdout: &str) -> serde_json::Value {
    stdout
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .filter(|v| v.is_object())
        })
        .unwrap_or_else(|| panic!("no JSON summary in:\n{stdout}"))
}

/// `ember run pipelines/users.toml --trigger available-now --summary-json`.
pub fn run_available_now(names: &Names) -> serde_json::Value {
    run_available_now_with(&names.env())
}

/// The same with a whole environment of overrides.
pub fn run_available_now_with(env: &[(String, String)]) -> serde_json::Value {
    let pipeline = users_pipeline();
    let stdout = ember_ok(&available_now_args(&pipeline), env);
    summary(&stdout)
}

/// `ember run pipelines/users.toml --trigger available-now --summary-json`
/// with `env`, whatever its exit status: for runs that are to fail.
pub fn run_available_now_output(env: &[(String, String)]) -> Output {
    let pipeline = users_pipeline();
    ember(&available_now_args(&pipeline), env)
}

fn available_now_args(pipeline: &std::path::Path) -> [&str; 5] {
    [
        "run",
        pipeline.to_str().unwrap_or_default(),
        "--trigger",
        "available-now",
        "--summary-json",
    ]
}

pub async fn session() -> Session {
    SessionBuilder::new()
        .known_node(cassandra())
        .build()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Cassandra at {} (is the stack up? `make up`): {e}",
                cassandra()
            )
        })
}

/// Every row of `<keyspace>.created_users` as id → the 11 stored columns.
pub async fn stored_rows(
    session: &Session,
    keyspace: &str,
) -> HashMap<String, [Option<String>; 11]> {
    let cql = format!(
        "SELECT id, first_name, last_name, gender, address, post_code, email, username, \
         registered_date, phone, picture FROM {keyspace}.created_users"
    );
    let mut out = HashMap::new();
    let mut paging = scylla::response::PagingState::start();
    loop {
        let (result, next) = session
            .query_single_page(cql.as_str(), (), paging)
            .await
            .expect("select rows");
        let rows = result.into_rows_result().expect("rows");
        type Row = (
            uuid::Uuid,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        for row in rows.rows::<Row>().expect("typed rows") {
            let r = row.expect("row");
            out.insert(
                r.0.to_string(),
                [
                    Some(r.0.to_string()),
                    r.1,
                    r.2,
                    r.3,
                    r.4,
                    r.5,
                    r.6,
                    r.7,
                    r.8,
                    r.9,
                    r.10,
                ],
            );
        }
        match next.into_paging_control_flow() {
            std::ops::ControlFlow::Break(()) => break,
            std::ops::ControlFlow::Continue(state) => paging = state,
        }
    }
    out
}

pub async fn count_rows(session: &Session, keyspace: &str) -> i64 {
    let cql = format!("SELECT COUNT(*) FROM {keyspace}.created_users");
    match session.query_unpaged(cql.as_str(), ()).await {
        Ok(r) => r
            .into_rows_result()
            .ok()
            .and_then(|rows| rows.single_row::<(i64,)>().ok())
            .map_or(0, |(n,)| n),
        // The table does not exist until the pipeline created it.
        Err(_) => 0,
    }
}

/// Polls `check` until it returns true or `deadline` passes.
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out after {deadline:?} waiting for {what}");
}

pub fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .create()
        .expect("producer")
}

/// Produces raw (key, value) records, in order, to partition 0.
/// A Kafka record as (key, value); `None` value is a tombstone.
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

pub async fn produce_raw(topic: &str, records: &[KeyValue]) {
    let producer = producer();
    for (key, value) in records {
        let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).partition(0);
        if let Some(k) = key {
            rec = rec.key(k.as_slice());
        }
        if let Some(v) = value {
            rec = rec.payload(v.as_slice());
        }
        producer
            .send(rec, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }
}

pub fn create_topic(topic: &str, partitions: i32) {
    let args = produce_args(topic, partitions, 0, 0);
    let out = ember_ok(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert!(out.contains("produced 0"), "{out}");
}

/// The arguments of `ember produce` for `n` generated users (seed `seed`)
/// into `topic`, created with `partitions` partitions if missing.
pub fn produce_args(topic: &str, partitions: i32, n: usize, seed: u64) -> Vec<String> {
    let args = [
        "produce",
        "--brokers",
        &brokers(),
        "--topic",
        topic,
        "--partitions",
        &partitions.to_string(),
        "--count",
        &n.to_string(),
        "--seed",
        &seed.to_string(),
    ];
    args.iter().map(|a| a.to_string()).collect()
}

/// The group's committed offset per partition.
pub fn committed(group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    // A coordinator that is still loading (a new group, a broker just
    // started) answers with a retriable error.
    let start = Instant::now();
    let got = loop {
        match consumer.committed_offsets(tpl.clone(), Duration::from_secs(15)) {
            Ok(got) => break got,
            Err(e) if start.elapsed() < Duration::from_secs(60) => {
                eprintln!("committed offsets not available yet: {e}");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!("committed offsets: {e}"),
        }
    };
    got.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(n) => Some((e.partition(), n)),
            _ => None,
        })
        .collect()
}

/// Reads `n` records of `topic` from the beginning (all partitions).
pub fn consume_all(topic: &str, n: usize) -> Vec<KeyValue> {
    consume_with_headers(topic, n)
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect()
}

/// A record read back with its headers (as text).
#[derive(Debug, Clone)]
pub struct ReadRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: HashMap<String, String>,
}

/// Reads `n` records of `topic` from the beginning, with headers.
pub fn consume_with_headers(topic: &str, n: usize) -> Vec<ReadRecord> {
    use rdkafka::message::Headers;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let start = Instant::now();
    while out.len() < n && start.elapsed() < Duration::from_secs(60) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            let headers = m
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| {
                            let v = h.value.map(|v| String::from_utf8_lossy(v).to_string());
                            (h.key.to_string(), v.unwrap_or_default())
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(ReadRecord {
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
    }
    out
}

/// How many records `topic` holds (the sum of its partitions' high
/// watermarks, for a topic nothing was deleted from).
pub fn record_count(topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(15))
        .expect("metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(15))
                .expect("watermarks");
            high - low
        })
        .sum()
}

/// `ember produce` of `n` generated users (seed `seed`) into `topic`,
/// created with `partitions` partitions if missing.
pub fn produce_users(topic: &str, partitions: i32, n: usize, seed: u64) {
    let args = produce_args(topic, partitions, n, seed);
    let out = ember_ok(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert!(out.contains(&format!("produced {n} record(s)")), "{out}");
}

/// Asserts that `<keyspace>.created_users` holds exactly these users: none
/// missing, none extra, every column equal.
pub async fn assert_exactly_these_users(
    session: &Session,
    keyspace: &str,
    users: &[ember::ingest::generator::User],
) {
    let rows = stored_rows(session, keyspace).await;
    let mut missing = 0;
    for user in users {
        let want: Vec<Option<String>> = user.stored_row().into_iter().map(Some).collect();
        match rows.get(&user.id.to_string()) {
            Some(got) => assert_eq!(got.to_vec(), want, "row of {}", user.id),
            None => missing += 1,
        }
    }
    let ids: std::collections::HashSet<String> = users.iter().map(|u| u.id.to_string()).collect();
    let extra = rows.keys().filter(|k| !ids.contains(*k)).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "expected {} rows, found {}: {missing} missing, {extra} extra",
        users.len(),
        rows.len()
    );
}

/// GET over plain HTTP/1.0 (the metrics endpoints): (status, body).
pub fn http_get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the metrics server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    (status, body.to_string())
}
