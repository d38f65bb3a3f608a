//! The checkpoint in object stores, by configuration alone: the pipeline's
//! `checkpoint` URL plus each store's usual environment, against real
//! implementations of their APIs on 127.0.0.1 — moto's S3 server
//! (`stack/s3/venv.sh`) for `s3://`, Azurite (`stack/azurite/install.sh`) for
//! `az://`. A job killed mid-batch leaves its plan in the store; the next
//! start replays it and Cassandra ends up with exactly the produced rows.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ember::ingest::generator::UserGenerator;

/// moto's S3 server, stopped when dropped.
struct S3Server {
    _server: Server,
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
        let port = free_port();
        let mut server = Server(
            Command::new(format!("{venv}/bin/moto_server"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server starts"),
        );
        wait_for_port(port, &mut server);
        S3Server {
            _server: server,
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

const USERS: usize = 20_000;
const SEED: u64 = 8_001;

/// Produces the users and kills a processing-time job (its checkpoint at
/// `checkpoint`) while a batch is being written. Returns the test's names
/// and the job's environment.
async fn kill_mid_batch(
    name: &str,
    store_env: Vec<(String, String)>,
    checkpoint: &str,
) -> (Names, Vec<(String, String)>) {
    let names = Names::new(name);
    let n = USERS;
    produce_users(&names.topic, 4, n, SEED);
    let mut env = names.env();
    env.extend(store_env);
    env.push(("EMBER_CHECKPOINT".into(), checkpoint.to_string()));
    env.push(("EMBER_SOURCE__MAX_RECORDS".into(), "5000".into()));
    env.push(("EMBER_TRIGGER".into(), "300ms".into()));

    let session = session().await;
    let mut job = Job::run(name, &env);
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
    (names, env)
}

/// Reruns available-now: the killed batch is replayed from the store's
/// plan, and Cassandra holds exactly the produced users.
async fn replay(names: &Names, env: &[(String, String)]) {
    let pipeline = users_pipeline();
    let mut rerun = Job::start(
        "rerun",
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--trigger",
            "available-now",
            "--summary-json",
        ],
        env,
    );
    match rerun.wait(Duration::from_secs(120)) {
        Some(status) if status.success() => {}
        status => panic!(
            "the rerun: {status:?}\n{}\n{}",
            rerun.stdout(),
            tail(&rerun.stderr())
        ),
    }
    // The plan of the killed batch was read back from the store.
    let summary = summary(&rerun.stdout());
    assert!(summary["replayed"].as_u64().unwrap() >= 1, "{summary}");
    let users = UserGenerator::users(SEED, USERS);
    assert_exactly_these_users(&session().await, &names.keyspace, &users).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_on_s3_replays_a_killed_batch() {
    let s3 = S3Server::start();
    let bucket = "ember-checkpoints";
    s3.create_bucket(bucket).await;
    let (names, env) = kill_mid_batch("s3", s3.env(), &format!("s3://{bucket}/users")).await;
    // Read with an S3 client of our own: the batch in flight was planned in
    // the bucket before it was processed.
    let key = |p: i32| format!("users/{}/partition-{p}.json", names.topic);
    let mut pending = 0;
    for p in 0..4 {
        pending += i32::from(!s3.get_json(bucket, &key(p)).await["pending"].is_null());
    }
    assert!(pending > 0, "the batch in flight is planned in the bucket");

    replay(&names, &env).await;
    // One object per partition, nothing pending, the committed ends
    // covering every record.
    let mut committed = 0;
    for p in 0..4 {
        let state = s3.get_json(bucket, &key(p)).await;
        assert!(state["pending"].is_null(), "{state}");
        committed += state["committed_end"].as_i64().unwrap();
    }
    assert_eq!(
        committed, USERS as i64,
        "the checkpoint in the bucket covers every record"
    );
}

/// Azurite's well-known development account.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_on_azure_replays_a_killed_batch() {
    let out = Command::new("bash")
        .arg(repo().join("stack/azurite/install.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("stack/azurite/install.sh runs");
    assert!(out.status.success(), "stack/azurite/install.sh failed");
    let azurite = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let port = free_port();
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("azurite"));
    std::fs::create_dir_all(&data).expect("azurite data dir");
    let mut server = Server(
        Command::new(azurite)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--silent", "--skipApiVersionCheck", "--location"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite starts"),
    );
    wait_for_port(port, &mut server);
    let endpoint = format!("http://127.0.0.1:{port}");
    let created = Command::new("python3")
        .arg(repo().join("stack/azurite/create_container.py"))
        .args([&endpoint, AZURITE_ACCOUNT, AZURITE_KEY, "checkpoints"])
        .status()
        .expect("create_container.py runs");
    assert!(created.success(), "create the container");

    let env = vec![
        ("AZURE_STORAGE_USE_EMULATOR".to_string(), "true".to_string()),
        ("AZURITE_BLOB_STORAGE_URL".to_string(), endpoint),
    ];
    let (names, env) = kill_mid_batch("az", env, "az://checkpoints/users").await;
    replay(&names, &env).await;
    std::fs::remove_dir_all(&data).ok();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A server process, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16, server: &mut Server) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30) && matches!(server.0.try_wait(), Ok(None)),
            "the server on port {port} does not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
