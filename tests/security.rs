//! Security on a stack instance of its own (`stack/secure-stack.sh`): Kafka
//! SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), Kafka SSL with a client
//! certificate required (29094), and a Cassandra that requires a password
//! and TLS, on ports 29092/29042 and
//! `.stack-secure/`, so nothing here touches the main stack the other
//! integration tests share.
//!
//! The first test to run starts the instance (`secure-stack.sh up`, a
//! no-op when it is up already; `make down` stops it). The tests take one
//! lock and run one at a time.
//!
//! What is checked: rows land through every mechanism; wrong credentials
//! and a wrong CA fail at start with a message naming the problem; no
//! password (right or wrong, from the file, a password file or the
//! environment) ever appears in the output of `ember check`, `produce`,
//! `run` (debug logs included, librdkafka's own debug too) or `cql`;
//! injection-looking names are refused at start, naming the file and key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The secured stack's settings, as `secure-stack.sh env` prints them.
struct Secure(HashMap<String, String>);

impl Secure {
    fn get(&self, key: &str) -> &str {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("secure-stack.sh env has no {key}"))
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    repo().join("stack/secure-stack.sh")
}

/// Starts the secured instance once per test binary; every test holds the
/// returned lock while it runs.
fn secure() -> (MutexGuard<'static, ()>, &'static Secure) {
    static LOCK: Mutex<()> = Mutex::new(());
    static STACK: OnceLock<Secure> = OnceLock::new();
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let stack = STACK.get_or_init(|| {
        let started = Instant::now();
        let out = Command::new("bash")
            .arg(script())
            .arg("up")
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "secure-stack.sh up failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "secured stack up in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let env = Command::new("bash")
            .arg(script())
            .arg("env")
            .output()
            .expect("bash runs");
        let text = String::from_utf8_lossy(&env.stdout);
        Secure(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    });
    (guard, stack)
}

/// A name no other test (or earlier run) uses; a valid CQL identifier.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 10_000_000_000)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Output {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// `ember <args>` with `env` (and nothing inherited that starts with
/// `EMBER_`), killed after `limit`.
fn ember(args: &[&str], env: &[(String, String)], limit: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ember"));
    cmd.args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("EMBER_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd.spawn().expect("ember starts");
    let started = Instant::now();
    // Read both pipes on threads so a chatty child never blocks.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out_pipe, &mut s).ok();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err_pipe, &mut s).ok();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ember {args:?} did not finish within {limit:?}; stderr:\n{}",
                err_t.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        ok: status.success(),
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

fn ember_ok(args: &[&str], env: &[(String, String)]) -> Output {
    let out = ember(args, env, Duration::from_secs(180));
    assert!(
        out.ok,
        "ember {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out
}

fn assert_no_secret(out: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!out.contains(s), "the password {s:?} appears in:\n{out}");
    }
}

/// How the Kafka password reaches the pipeline.
#[derive(Clone, Copy)]
enum Given {
    InFile,
    PasswordFile,
    Env,
}

struct Pipeline {
    file: PathBuf,
    topic: String,
    keyspace: String,
    env: Vec<(String, String)>,
    /// What `ember check` must show of the Kafka security.
    shows: String,
}

/// A pipeline file for the secured stack's SASL_SSL listener: `mechanism`
/// for Kafka, the Kafka password given as `given`.
fn pipeline(
    s: &Secure,
    dir: &Path,
    mechanism: &str,
    kafka_user: &str,
    kafka_password: &str,
    given: Given,
) -> Pipeline {
    let mut env = Vec::new();
    let password_line = match given {
        Given::InFile => format!("password = \"{kafka_password}\""),
        Given::PasswordFile => {
            std::fs::write(dir.join("kafka.pw"), format!("{kafka_password}\n")).unwrap();
            "password_file = \"kafka.pw\"".to_string()
        }
        Given::Env => {
            env.push((
                "EMBER_SOURCE__SECURITY__PASSWORD".to_string(),
                kafka_password.to_string(),
            ));
            String::new()
        }
    };
    let security = format!(
        r#"protocol = "SASL_SSL"
sasl_mechanism = "{mechanism}"
username = "{kafka_user}"
{password_line}
ca_file = "{ca}""#,
        ca = s.get("SECURE_CA_FILE"),
    );
    let brokers = s.get("SECURE_KAFKA_BROKERS");
    let shows = format!("SASL_SSL {mechanism} user {kafka_user} password set (***)");
    pipeline_file(s, dir, brokers, &security, env, shows)
}

/// A pipeline file for the secured stack's mutual-TLS listener: the
/// stack's client certificate presented, or none.
fn mtls_pipeline(s: &Secure, dir: &Path, client_cert: bool) -> Pipeline {
    let mut security = format!(
        "protocol = \"SSL\"\nca_file = \"{}\"",
        s.get("SECURE_CA_FILE")
    );
    let mut shows = "SSL, CA".to_string();
    if client_cert {
        security += &format!(
            "\ncert_file = \"{}\"\nkey_file = \"{}\"",
            s.get("SECURE_CLIENT_CERT"),
            s.get("SECURE_CLIENT_KEY")
        );
        shows = format!("client cert {}", s.get("SECURE_CLIENT_CERT"));
    }
    let brokers = s.get("SECURE_KAFKA_MTLS_BROKERS");
    pipeline_file(s, dir, brokers, &security, Vec::new(), shows)
}

/// Writes `pipeline.toml` in `dir`: Kafka at `brokers` with the
/// `[source.security]` lines given, the Cassandra sink with TLS and its
/// password through the environment
/// (`EMBER_SINKS__CREATED_USERS__PASSWORD`), debug logs on, a checkpoint of
/// its own; `extra_env` adds to that environment.
fn pipeline_file(
    s: &Secure,
    dir: &Path,
    brokers: &str,
    security: &str,
    extra_env: Vec<(String, String)>,
    shows: String,
) -> Pipeline {
    let mut env = vec![
        (
            "EMBER_SINKS__CREATED_USERS__PASSWORD".to_string(),
            s.get("SECURE_CASSANDRA_PASSWORD").to_string(),
        ),
        ("EMBER_LOG".to_string(), "debug".to_string()),
    ];
    env.extend(extra_env);
    let topic = unique("sec_t");
    let keyspace = unique("sec_ks");
    let repo = repo();
    let text = format!(
        r#"
name = "{topic}"
trigger = "available-now"
sql = ["{sql}"]

[source]
brokers = "{brokers}"
topic = "{topic}"
max_records = 500

[source.security]
{security}

[source.options]
# librdkafka's own debug output about security and its configuration.
debug = "security,broker,conf"

[sinks.created_users]
type = "cassandra"
contact_points = ["{cassandra}"]
keyspace = "{keyspace}"
create_cql = "{cql}"
username = "{cass_user}"

[sinks.created_users.tls]
ca_file = "{ca}"
"#,
        sql = repo.join("sql/created_users.sql").display(),
        cql = repo.join("sql/created_users.cql").display(),
        cassandra = s.get("SECURE_CASSANDRA"),
        ca = s.get("SECURE_CA_FILE"),
        cass_user = s.get("SECURE_CASSANDRA_USER"),
    );
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, text).unwrap();
    env.push((
        "EMBER_CHECKPOINT".to_string(),
        dir.join("checkpoint").display().to_string(),
    ));
    Pipeline {
        file,
        topic,
        keyspace,
        env,
        shows,
    }
}

/// Every stack password: none may ever be printed.
fn all_passwords(s: &Secure) -> Vec<&str> {
    vec![
        s.get("SECURE_KAFKA_PLAIN_PASSWORD"),
        s.get("SECURE_KAFKA_SCRAM_PASSWORD"),
        s.get("SECURE_CASSANDRA_PASSWORD"),
    ]
}

/// check → produce → run (debug logs) → count through `ember cql`, all
/// with the secured settings; returns everything printed.
fn produce_run_and_count(p: &Pipeline, n: usize) -> String {
    let file = p.file.to_str().unwrap();
    let mut printed = String::new();
    let check = ember_ok(&["check", file], &p.env);
    assert!(check.stdout.contains(&p.shows), "{}", check.stdout);
    printed += &check.all();
    let produced = ember_ok(
        &[
            "produce",
            "--pipeline",
            file,
            "--partitions",
            "2",
            "--count",
            &n.to_string(),
        ],
        &p.env,
    );
    assert!(
        produced.stdout.contains(&format!("produced {n} record(s)")),
        "{}",
        produced.all()
    );
    printed += &produced.all();
    let run = ember_ok(&["run", file, "--summary-json"], &p.env);
    let summary: serde_json::Value = run
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no summary in {}", run.stdout));
    assert_eq!(summary["rows_in"], n, "{}", run.stdout);
    assert_eq!(summary["written_total"], n, "{}", run.stdout);
    // Debug logs were really on (so their silence about passwords counts).
    assert!(run.stderr.contains("DEBUG"), "{}", run.stderr);
    printed += &run.all();
    let count = ember_ok(
        &[
            "cql",
            "--pipeline",
            file,
            "--tsv",
            &format!("SELECT COUNT(*) FROM {}.created_users", p.keyspace),
        ],
        &p.env,
    );
    assert_eq!(count.stdout.trim(), n.to_string(), "{}", count.all());
    printed += &count.all();
    printed
}

#[test]
fn sasl_ssl_plain_lands_rows_in_a_cassandra_with_password_and_tls() {
    let (_lock, s) = secure();
    let dir = scratch("sec_plain");
    let p = pipeline(
        s,
        &dir,
        "PLAIN",
        s.get("SECURE_KAFKA_PLAIN_USER"),
        s.get("SECURE_KAFKA_PLAIN_PASSWORD"),
        Given::PasswordFile,
    );
    let printed = produce_run_and_count(&p, 300);
    assert_no_secret(&printed, &all_passwords(s));
    assert!(printed.contains(&p.topic));
}

#[test]
fn sasl_ssl_scram_sha_256_and_512_land_rows() {
    let (_lock, s) = secure();
    for (mechanism, given) in [
        ("SCRAM-SHA-256", Given::Env),
        ("SCRAM-SHA-512", Given::InFile),
    ] {
        let dir = scratch("sec_scram");
        let mut p = pipeline(
            s,
            &dir,
            mechanism,
            s.get("SECURE_KAFKA_SCRAM_USER"),
            s.get("SECURE_KAFKA_SCRAM_PASSWORD"),
            given,
        );
        if mechanism == "SCRAM-SHA-512" {
            // The chain is still verified; the certificate's name is not.
            p.env.push((
                "EMBER_SINKS__CREATED_USERS__TLS__VERIFY_HOSTNAME".into(),
                "false".into(),
            ));
            p.env.push((
                "EMBER_SOURCE__SECURITY__VERIFY_HOSTNAME".into(),
                "false".into(),
            ));
        }
        let printed = produce_run_and_count(&p, 250);
        assert_no_secret(&printed, &all_passwords(s));
    }
}

#[test]
fn mutual_tls_lands_rows_with_the_client_certificate_and_fails_clearly_without() {
    let (_lock, s) = secure();
    let dir = scratch("sec_mtls");
    let p = mtls_pipeline(s, &dir, true);
    let printed = produce_run_and_count(&p, 200);
    assert_no_secret(&printed, &all_passwords(s));

    // The listener requires a client certificate: without one the broker
    // ends the handshake, and Ember says so at start.
    let dir = scratch("sec_mtls_none");
    let p = mtls_pipeline(s, &dir, false);
    let file = p.file.to_str().unwrap();
    let started = Instant::now();
    let run = ember(&["run", file], &p.env, Duration::from_secs(60));
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stderr.contains("Kafka TLS handshake failed")
            && run.stderr.contains("refused the client certificate"),
        "{}",
        run.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a refused handshake must fail at start, took {:?}",
        started.elapsed()
    );
}

#[test]
fn wrong_credentials_and_certificates_fail_clearly_without_the_password() {
    let (_lock, s) = secure();
    let wrong_kafka = "Wrong-Kafka-pw-5e1d77";
    let wrong_cassandra = "Wrong-Cass-pw-90aa13";
    let mut secrets = all_passwords(s);
    secrets.extend([wrong_kafka, wrong_cassandra]);
    let limit = Duration::from_secs(60);

    // Kafka: a wrong SCRAM password, given by the environment.
    let dir = scratch("sec_wrong");
    let p = pipeline(
        s,
        &dir,
        "SCRAM-SHA-256",
        s.get("SECURE_KAFKA_SCRAM_USER"),
        wrong_kafka,
        Given::Env,
    );
    let file = p.file.to_str().unwrap();
    let started = Instant::now();
    let run = ember(&["run", file], &p.env, limit);
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stderr.contains("Kafka authentication failed") && run.stderr.contains("SCRAM-SHA-256"),
        "{}",
        run.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a refused password must fail at start, took {:?}",
        started.elapsed()
    );
    assert_no_secret(&run.all(), &secrets);
    let produce = ember(
        &["produce", "--pipeline", file, "--count", "1"],
        &p.env,
        limit,
    );
    assert!(!produce.ok && produce.stderr.contains("Kafka authentication failed"));
    assert_no_secret(&produce.all(), &secrets);
    // `check` is offline: it says a password is set, never which.
    let check = ember_ok(&["check", file], &p.env);
    assert!(
        check
            .stdout
            .contains("EMBER_SOURCE__SECURITY__PASSWORD → source.security.password = ***"),
        "{}",
        check.stdout
    );
    assert_no_secret(&check.all(), &secrets);

    // A secret smuggled through `options` under a key librdkafka refuses:
    // rdkafka's error repeats the value; Ember's scrubbing must hide it.
    let smuggled = "Smuggled-secret-3c7b1f";
    let mut env = p.env.clone();
    env.push((
        "EMBER_SOURCE__OPTIONS__SASL.PASSWORD.TYPO".into(),
        smuggled.into(),
    ));
    let run = ember(&["run", file], &env, limit);
    assert!(!run.ok);
    assert!(run.stderr.contains("sasl.password.typo"), "{}", run.stderr);
    let check = ember_ok(&["check", file], &env);
    assert!(
        check.stdout.contains("source option sasl.password.typo"),
        "{}",
        check.stdout
    );
    assert_no_secret(&format!("{}{}", run.all(), check.all()), &[smuggled]);

    // Kafka: the right password but a CA that did not sign the broker.
    let mut env = p.env.clone();
    env.retain(|(k, _)| k != "EMBER_SOURCE__SECURITY__PASSWORD");
    env.push((
        "EMBER_SOURCE__SECURITY__PASSWORD".into(),
        s.get("SECURE_KAFKA_SCRAM_PASSWORD").into(),
    ));
    let other_ca = dir.join("other-ca.pem");
    let gen = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not the stack CA", "-keyout"])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .expect("openssl runs");
    assert!(gen.status.success());
    env.push((
        "EMBER_SOURCE__SECURITY__CA_FILE".into(),
        other_ca.display().to_string(),
    ));
    let run = ember(&["run", file], &env, limit);
    assert!(!run.ok);
    assert!(
        run.stderr.contains("Kafka TLS handshake failed")
            && run.stderr.contains("certificate verify failed"),
        "{}",
        run.stderr
    );
    assert_no_secret(&run.all(), &secrets);

    // Cassandra: the right Kafka password, a wrong Cassandra one.
    let mut env = p.env.clone();
    env.retain(|(k, _)| !k.ends_with("__PASSWORD"));
    env.push((
        "EMBER_SOURCE__SECURITY__PASSWORD".into(),
        s.get("SECURE_KAFKA_SCRAM_PASSWORD").into(),
    ));
    env.push((
        "EMBER_SINKS__CREATED_USERS__PASSWORD".into(),
        wrong_cassandra.into(),
    ));
    let run = ember(&["run", file], &env, limit);
    assert!(!run.ok);
    assert!(
        run.stderr.contains("sink `created_users`")
            && run.stderr.contains("Authentication failed")
            && run
                .stderr
                .contains(&format!("username {}", s.get("SECURE_CASSANDRA_USER"))),
        "{}",
        run.stderr
    );
    assert_no_secret(&run.all(), &secrets);

    // Cassandra: a CA that did not sign the node's certificate.
    let mut env = p.env.clone();
    env.push((
        "EMBER_SOURCE__SECURITY__PASSWORD".into(),
        s.get("SECURE_KAFKA_SCRAM_PASSWORD").into(),
    ));
    env.push((
        "EMBER_SINKS__CREATED_USERS__TLS__CA_FILE".into(),
        other_ca.display().to_string(),
    ));
    let run = ember(&["run", file], &env, limit);
    assert!(!run.ok);
    assert!(
        run.stderr.contains("cannot connect to Cassandra")
            && run.stderr.contains("certificate verify failed"),
        "{}",
        run.stderr
    );
    assert_no_secret(&run.all(), &secrets);

    // Cassandra: no TLS to a node that requires it.
    let mut env = p.env.clone();
    env.push((
        "EMBER_SOURCE__SECURITY__PASSWORD".into(),
        s.get("SECURE_KAFKA_SCRAM_PASSWORD").into(),
    ));
    env.push((
        "EMBER_SINKS__CREATED_USERS__TLS__ENABLED".into(),
        "false".into(),
    ));
    let run = ember(&["run", file], &env, limit);
    assert!(!run.ok);
    assert!(
        run.stderr
            .contains("cannot connect to Cassandra at 127.0.0.1:29042"),
        "{}",
        run.stderr
    );
    assert_no_secret(&run.all(), &secrets);
}

#[test]
fn injection_looking_names_are_refused_at_start_naming_the_key() {
    let (_lock, s) = secure();
    let dir = scratch("sec_names");
    let p = pipeline(
        s,
        &dir,
        "PLAIN",
        s.get("SECURE_KAFKA_PLAIN_USER"),
        s.get("SECURE_KAFKA_PLAIN_PASSWORD"),
        Given::PasswordFile,
    );
    let file = p.file.to_str().unwrap();
    // A keyspace the injections below would drop if they got through.
    let victim = unique("sec_victim");
    let create = format!(
        "CREATE KEYSPACE {victim} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    );
    ember_ok(&["cql", "--pipeline", file, &create], &p.env);

    let long = "k".repeat(49);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "EMBER_SINKS__CREATED_USERS__KEYSPACE",
            format!("ks; DROP KEYSPACE {victim}"),
            "[sinks.created_users]",
        ),
        (
            "EMBER_SINKS__CREATED_USERS__KEYSPACE",
            format!("{victim}\" WITH x"),
            "[sinks.created_users]",
        ),
        (
            "EMBER_SINKS__CREATED_USERS__KEYSPACE",
            "two words".into(),
            "[sinks.created_users]",
        ),
        (
            "EMBER_SINKS__CREATED_USERS__KEYSPACE",
            long.clone(),
            "[sinks.created_users]",
        ),
        (
            "EMBER_SINKS__CREATED_USERS__TABLE",
            format!("t; DROP KEYSPACE {victim}"),
            "[sinks.created_users]",
        ),
        (
            "EMBER_SINKS__CREATED_USERS__TABLE",
            "t' OR '1'='1".into(),
            "[sinks.created_users]",
        ),
        (
            "EMBER_SINKS__CREATED_USERS__REPLICATION",
            format!(
                "{{'class': 'SimpleStrategy', 'replication_factor': 1}}; DROP KEYSPACE {victim}"
            ),
            "[sinks.created_users]",
        ),
        (
            "EMBER_SOURCE__TOPIC",
            "users; DROP".into(),
            "[source] topic",
        ),
        ("EMBER_SOURCE__TOPIC", "..".into(), "[source] topic"),
        ("EMBER_SOURCE__TOPIC", "t".repeat(250), "[source] topic"),
        (
            "EMBER_DEAD_LETTER__TOPIC",
            "dlq'x".into(),
            "[dead_letter] topic",
        ),
    ];
    for (var, value, key) in &cases {
        let mut env = p.env.clone();
        env.push((var.to_string(), value.clone()));
        for cmd in ["check", "run"] {
            let out = ember(&[cmd, file], &env, Duration::from_secs(60));
            assert!(!out.ok, "{cmd} with {var}={value} succeeded");
            assert!(
                out.stderr.contains(file) && out.stderr.contains(key),
                "{cmd} with {var}={value}: want {file} and {key} in:\n{}",
                out.stderr
            );
            assert!(out.stderr.contains("not a valid"), "{}", out.stderr);
        }
    }
    // Refused before anything connected: the victim keyspace is intact.
    let exists = ember_ok(
        &[
            "cql",
            "--pipeline",
            file,
            "--tsv",
            &format!(
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '{victim}'"
            ),
        ],
        &p.env,
    );
    assert_eq!(exists.stdout.trim(), victim);
}
