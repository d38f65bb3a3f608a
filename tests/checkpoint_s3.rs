//! The checkpoint on `s3://`, by configuration alone: the pipeline's
//! `checkpoint` URL plus the usual `AWS_*` environment, against a real S3
//! API (moto's server, from `stack/s3/venv.sh`) on 127.0.0.1. A job killed
//! mid-batch leaves its plan in the bucket; the next start replays it and
//! Cassandra ends up with exactly the produced rows.

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ember::ingest::generator::UserGenerator;

/// moto's S3 server, stopped when dropped.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    fn start() -> S3Server {
        let out = Command::new("bash")
            .arg(repo().join("stack/s3/venv.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("stack/s3/venv.sh runs");
        assert!(out.status.success(), "stack/s3/venv.sh failed");
        let venv = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(format!("{venv}/bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto_server does not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The environment the AWS SDKs (and object_store) read.
    fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    async fn create_bucket(&self, bucket: &str) {
        let status = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("create bucket")
            .status();
        assert!(status.is_success(), "create bucket: {status}");
    }

    /// A checkpoint object, read with a signed request as any S3 client
    /// would (null if there is none).
    async fn get_json(&self, bucket: &str, key: &str) -> serde_json::Value {
        use object_store::{aws::AmazonS3Builder, path::Path, ObjectStoreExt};
        let store = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_region("us-east-1")
            .build()
            .expect("S3 client");
        let got = match store.get(&Path::from(key)).await {
            Ok(got) => got,
            // No batch touched this partition yet.
            Err(object_store::Error::NotFound { .. }) => return serde_json::Value::Null,
            Err(e) => panic!("{key}: {e}"),
        };
        let bytes = got.bytes().await.expect("object body");
        serde_json::from_slice(&bytes).expect("checkpoint JSON")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_on_s3_replays_a_killed_batch() {
    let s3 = S3Server::start();
    let bucket = "ember-checkpoints";
    s3.create_bucket(bucket).await;

    let names = Names::new("s3");
    let (n, seed, partitions) = (20_000usize, 8_001u64, 4);
    produce_users(&names.topic, partitions, n, seed);
    let mut env = names.env();
    env.extend(s3.env());
    env.push(("EMBER_CHECKPOINT".into(), format!("s3://{bucket}/users")));
    env.push(("EMBER_SOURCE__MAX_RECORDS".into(), "5000".into()));
    env.push(("EMBER_TRIGGER".into(), "300ms".into()));

    // Kill the job while a batch is being written.
    let session = session().await;
    let mut job = Job::run("s3", &env);
    let start = Instant::now();
    loop {
        let rows = count_rows(&session, &names.keyspace).await;
        if rows > 0 && rows < n as i64 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90) && job.running(),
            "no batch in flight seen (rows {rows}):\n{}",
            tail(&job.stderr())
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    job.kill9();
    let key = |p: i32| format!("users/{}/partition-{p}.json", names.topic);
    let mut pending = 0;
    for p in 0..partitions {
        pending += i32::from(!s3.get_json(bucket, &key(p)).await["pending"].is_null());
    }
    assert!(pending > 0, "the batch in flight was planned in the bucket");

    let pipeline = users_pipeline();
    let mut rerun = Job::start(
        "s3-rerun",
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--trigger",
            "available-now",
            "--summary-json",
        ],
        &env,
    );
    match rerun.wait(Duration::from_secs(120)) {
        Some(status) if status.success() => {}
        status => panic!(
            "the rerun: {status:?}\n{}\n{}",
            rerun.stdout(),
            tail(&rerun.stderr())
        ),
    }
    let summary = summary(&rerun.stdout());
    assert!(summary["replayed"].as_u64().unwrap() >= 1, "{summary}");
    assert_exactly_these_users(&session, &names.keyspace, &UserGenerator::users(seed, n)).await;
    let mut committed = 0;
    for p in 0..partitions {
        let state = s3.get_json(bucket, &key(p)).await;
        assert!(state["pending"].is_null(), "{state}");
        committed += state["committed_end"].as_i64().unwrap();
    }
    assert_eq!(
        committed, n as i64,
        "the checkpoint in the bucket covers every record"
    );
}
