//! The checkpoint in object stores, by configuration alone: the pipeline's
//! `checkpoint` URL plus each store's usual environment, against real
//! implementations of their APIs on 127.0.0.1 — moto's S3 server
//! (`stack/s3/venv.sh`) for `s3://`, Azurite (`stack/azurite/install.sh`) for
//! `az://`, fake-gcs-server (`stack/gcs/install.sh`, behind
//! `stack/gcs/xml_put_shim.py`) for `gs://`. A job killed mid-batch leaves
//! its plan in the store; the next start replays it and Cassandra ends up
//! with exactly the produced rows; the store then holds, per partition, a
//! committed end and nothing pending. The tests read the objects back with a
//! client of their own.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ember::ingest::generator::UserGenerator;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// moto's S3 server, stopped when dropped.
struct S3Server {
    _server: Server,
    endpoint: String,
}

impl S3Server {
    fn start() -> S3Server {
        let venv = installed("stack/s3/venv.sh");
        let port = free_port();
        let server = Server::listening(
            Command::new(format!("{venv}/bin/moto_server")).args([
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ]),
            port,
        );
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

    /// A client of the test's own for the bucket, signing as any S3 client
    /// would.
    fn store(&self, bucket: &str) -> Box<dyn ObjectStore> {
        use object_store::aws::AmazonS3Builder;
        let store = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_region("us-east-1")
            .build()
            .expect("S3 client");
        Box::new(store)
    }
}

const USERS: usize = 20_000;
const SEED: u64 = 8_001;

/// Produces the users and kills a processing-time job (its checkpoint at
/// `checkpoint`, read through `store`) while a batch is being written.
/// Returns the test's names and the job's environment.
async fn kill_mid_batch(
    name: &str,
    store_env: Vec<(String, String)>,
    checkpoint: &str,
    store: &dyn ObjectStore,
) -> (Names, Vec<(String, String)>) {
    let names = Names::new(name);
    produce_users(&names.topic, 4, USERS, SEED);
    let mut env = names.env();
    env.extend(store_env);
    env.push(("EMBER_CHECKPOINT".into(), checkpoint.to_string()));
    env.push(("EMBER_SOURCE__MAX_RECORDS".into(), "10000".into()));
    env.push(("EMBER_TRIGGER".into(), "300ms".into()));

    let mut job = Job::run(name, &env);
    let start = Instant::now();
    // The plan is stored before the batch is processed, and processing
    // 10,000 rows takes far longer than one look at the store: a pending
    // plan seen means the kill lands mid-batch.
    loop {
        let states = partition_states(store, &names.topic).await;
        if states.iter().any(|state| !state["pending"].is_null()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90) && job.running(),
            "no batch in flight seen ({states:?}):\n{}",
            tail(&job.stderr())
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
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

/// The whole round: kill mid-batch with the checkpoint at `url`, see the
/// plan in the store, replay, see the store cover every record.
async fn kill_and_replay(
    name: &str,
    store_env: Vec<(String, String)>,
    url: &str,
    store: &dyn ObjectStore,
) {
    let (names, env) = kill_mid_batch(name, store_env, url, store).await;
    let states = partition_states(store, &names.topic).await;
    assert!(
        states.iter().any(|state| !state["pending"].is_null()),
        "the batch in flight is planned in the store: {states:?}"
    );

    replay(&names, &env).await;
    let states = partition_states(store, &names.topic).await;
    let mut committed = 0;
    for state in &states {
        assert!(state["pending"].is_null(), "{state}");
        committed += state["committed_end"].as_i64().expect("a committed end");
    }
    assert_eq!(
        committed, USERS as i64,
        "the checkpoint in the store covers every record"
    );
}

/// The four partitions' checkpoint objects under the `users` prefix (null
/// where a partition has none yet).
async fn partition_states(store: &dyn ObjectStore, topic: &str) -> Vec<serde_json::Value> {
    let mut states = Vec::new();
    for p in 0..4 {
        let key = Path::from(format!("users/{topic}/partition-{p}.json"));
        let state = match store.get(&key).await {
            Ok(got) => {
                let bytes = got.bytes().await.expect("object body");
                serde_json::from_slice(&bytes).expect("checkpoint JSON")
            }
            Err(object_store::Error::NotFound { .. }) => serde_json::Value::Null,
            Err(e) => panic!("{key}: {e}"),
        };
        states.push(state);
    }
    states
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_on_s3_replays_a_killed_batch() {
    let s3 = S3Server::start();
    let bucket = "ember-checkpoints";
    s3.create_bucket(bucket).await;
    let url = format!("s3://{bucket}/users");
    kill_and_replay("s3", s3.env(), &url, s3.store(bucket).as_ref()).await;
}

/// Azurite's well-known development account.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_on_azure_replays_a_killed_batch() {
    let azurite = installed("stack/azurite/install.sh");
    let port = free_port();
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("azurite"));
    std::fs::create_dir_all(&data).expect("azurite data dir");
    let _server = Server::listening(
        Command::new(azurite)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--silent", "--skipApiVersionCheck", "--location"])
            .arg(&data),
        port,
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let created = Command::new("python3")
        .arg(repo().join("stack/azurite/create_container.py"))
        .args([&endpoint, AZURITE_ACCOUNT, AZURITE_KEY, "checkpoints"])
        .status()
        .expect("create_container.py runs");
    assert!(created.success(), "create the container");

    // The test's own client: Azurite's account, path-style, shared key.
    let store = object_store::azure::MicrosoftAzureBuilder::new()
        .with_endpoint(format!("{endpoint}/{AZURITE_ACCOUNT}"))
        .with_allow_http(true)
        .with_account(AZURITE_ACCOUNT)
        .with_access_key(AZURITE_KEY)
        .with_container_name("checkpoints")
        .build()
        .expect("Azure client");
    let env = vec![
        ("AZURE_STORAGE_USE_EMULATOR".to_string(), "true".to_string()),
        ("AZURITE_BLOB_STORAGE_URL".to_string(), endpoint),
    ];
    kill_and_replay("az", env, "az://checkpoints/users", &store).await;
    std::fs::remove_dir_all(&data).ok();
}

/// fake-gcs-server with stack/gcs/xml_put_shim.py in front of it (which
/// serves the XML-API object PUT the emulator lacks), stopped when dropped.
struct GcsServer {
    _emulator: Server,
    _shim: Server,
    endpoint: String,
}

impl GcsServer {
    fn start() -> GcsServer {
        let binary = installed("stack/gcs/install.sh");
        let port = free_port();
        let emulator = Server::listening(
            Command::new(binary)
                .args(["-scheme", "http", "-backend", "memory"])
                .args(["-host", "127.0.0.1", "-port", &port.to_string()])
                .args(["-public-host", &format!("127.0.0.1:{port}")])
                .args(["-log-level", "warn"]),
            port,
        );
        let shim_port = free_port();
        let shim = Server::listening(
            Command::new("python3")
                .arg(repo().join("stack/gcs/xml_put_shim.py"))
                .args([shim_port.to_string(), port.to_string()]),
            shim_port,
        );
        GcsServer {
            _emulator: emulator,
            _shim: shim,
            endpoint: format!("http://127.0.0.1:{shim_port}"),
        }
    }

    /// A service-account key as object_store documents it for emulators:
    /// the API's base URL, and no OAuth.
    fn service_account_key(&self) -> String {
        serde_json::json!({
            "gcs_base_url": self.endpoint,
            "disable_oauth": true,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
        })
        .to_string()
    }

    /// The environment Google's client libraries (and object_store) read.
    fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "GOOGLE_SERVICE_ACCOUNT_KEY".to_string(),
                self.service_account_key(),
            ),
            ("GOOGLE_ALLOW_HTTP".to_string(), "true".to_string()),
        ]
    }

    async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/storage/v1/b", self.endpoint))
            .json(&serde_json::json!({ "name": bucket }))
            .send()
            .await
            .expect("create bucket");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "create bucket: {status} {body}");
    }

    fn store(&self, bucket: &str) -> Box<dyn ObjectStore> {
        use object_store::{gcp::GoogleCloudStorageBuilder, ClientOptions};
        let store = GoogleCloudStorageBuilder::new()
            .with_bucket_name(bucket)
            .with_service_account_key(self.service_account_key())
            .with_client_options(ClientOptions::new().with_allow_http(true))
            .build()
            .expect("GCS client");
        Box::new(store)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_on_gcs_replays_a_killed_batch() {
    let gcs = GcsServer::start();
    let bucket = "ember-checkpoints";
    gcs.create_bucket(bucket).await;
    let url = format!("gs://{bucket}/users");
    kill_and_replay("gs", gcs.env(), &url, gcs.store(bucket).as_ref()).await;
}

/// Runs an install script of `stack/` and returns what it prints: the path
/// of the installed tool.
fn installed(script: &str) -> String {
    let out = Command::new("bash")
        .arg(repo().join(script))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{script} runs: {e}"));
    assert!(out.status.success(), "{script} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A server process, stopped when dropped.
struct Server(Child);

impl Server {
    /// Starts `command` (its output discarded) and waits until it listens
    /// on `port`.
    fn listening(command: &mut Command, port: u16) -> Server {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?} starts: {e}"));
        let mut server = Server(child);
        wait_for_port(port, &mut server);
        server
    }
}

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
