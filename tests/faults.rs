//! Fault tests: the engine is killed, a service goes away, an instance dies,
//! and at the end Cassandra holds exactly the expected rows — none missing,
//! none extra, every column equal.
//!
//! They stop and start services, so they run against a stack instance of
//! their own (ports 19092/19093 and 19042/17000/17199, started here on first
//! use, stopped by `make down`) and one at a time. `make test` runs the short
//! version; `CHAOS=1` (`make chaos`) the long one: 200,000 records, minutes of
//! idleness.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use ember::ingest::generator::{User, UserGenerator};
use rand::Rng;

const KAFKA_PORT: &str = "19092";
const KAFKA_CONTROLLER_PORT: &str = "19093";
const CASSANDRA_PORT: &str = "19042";
const CASSANDRA_STORAGE_PORT: &str = "17000";
const CASSANDRA_JMX_PORT: &str = "17199";

/// The long version (`make chaos`).
fn chaos() -> bool {
    std::env::var("CHAOS").is_ok_and(|v| v == "1")
}

/// Where this binary's stack instance lives (the Makefile's `down` stops it
/// there too).
fn stack_dir() -> PathBuf {
    std::env::var_os("EMBER_FAULTS_STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faults-stack"))
}

/// `stack/stack.sh <args>` against this binary's instance.
fn stack_sh(args: &[&str]) -> Output {
    let out = Command::new("bash")
        .arg(repo().join("stack/stack.sh"))
        .args(args)
        .env("EMBER_STACK_DIR", stack_dir())
        .env("KAFKA_PORT", KAFKA_PORT)
        .env("KAFKA_CONTROLLER_PORT", KAFKA_CONTROLLER_PORT)
        .env("CASSANDRA_PORT", CASSANDRA_PORT)
        .env("CASSANDRA_STORAGE_PORT", CASSANDRA_STORAGE_PORT)
        .env("CASSANDRA_JMX_PORT", CASSANDRA_JMX_PORT)
        .output()
        .expect("stack.sh runs");
    assert!(
        out.status.success(),
        "stack.sh {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Takes the lock that keeps these tests one at a time, and starts the
/// stack instance (fresh data) the first time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    static STARTED: OnceLock<()> = OnceLock::new();
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    STARTED.get_or_init(|| {
        stack_sh(&["down"]);
        let _ = std::fs::remove_dir_all(stack_dir());
        stack_sh(&["up"]);
        use_endpoints(
            &format!("127.0.0.1:{KAFKA_PORT}"),
            &format!("127.0.0.1:{CASSANDRA_PORT}"),
        );
    });
    // A test that failed half-way may have left a service stopped.
    stack_sh(&["up"]);
    guard
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

/// `ember produce` at `rate` records/s in the background.
fn produce_in_background(topic: &str, partitions: i32, n: usize, seed: u64, rate: usize) -> Job {
    let mut args = produce_args(topic, partitions, n, seed);
    args.extend(["--rate".to_string(), rate.to_string()]);
    Job::start(
        "produce",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    )
}

fn finish_producing(mut producer: Job) {
    match producer.wait(Duration::from_secs(300)) {
        Some(s) if s.success() => {}
        other => panic!("producer: {other:?}\n{}", tail(&producer.stderr())),
    }
}

/// The pipeline's env for a test, with a processing-time trigger and small
/// batches (more commits, more moments to fail between).
fn job_env(names: &Names, max_records: usize) -> Vec<(String, String)> {
    let mut env = names.env();
    env.push(("EMBER_TRIGGER".into(), "300ms".into()));
    env.push(("EMBER_SOURCE__MAX_RECORDS".into(), max_records.to_string()));
    env
}

/// Waits for `n` rows; on a timeout, fails with what the jobs logged, which
/// is what explains a stall (rebalances, moves, retries).
async fn wait_for_rows(jobs: &[&Job], names: &Names, n: usize, deadline: Duration) {
    let session = session().await;
    let start = Instant::now();
    let mut stored = 0;
    while start.elapsed() < deadline {
        stored = count_rows(&session, &names.keyspace).await;
        if stored == n as i64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs: Vec<String> = jobs
        .iter()
        .map(|job| format!("--- {} ---\n{}", job.name(), job.membership_and_tail()))
        .collect();
    panic!(
        "timed out after {deadline:?} waiting for {n} rows in {} ({stored} stored)\n{}",
        names.keyspace,
        logs.join("\n")
    );
}

/// The plans pending in a job's file checkpoint (`.ember/checkpoints/<group>`
/// under the repository): partition → (batch id, write time).
fn pending_plans(names: &Names) -> std::collections::BTreeMap<i32, (u64, i64)> {
    let dir = repo()
        .join(".ember/checkpoints")
        .join(&names.group)
        .join(&names.topic);
    let mut plans = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(p) = name
            .strip_prefix("partition-")
            .and_then(|s| s.strip_suffix(".json"))
            .and_then(|s| s.parse().ok())
        else {
            continue;
        };
        // Objects are written whole (a rename), so a read is never torn.
        let Ok(state) = std::fs::read(entry.path()) else {
            continue;
        };
        let state: serde_json::Value = serde_json::from_slice(&state).unwrap_or_default();
        let pending = &state["pending"];
        if let (Some(id), Some(time)) =
            (pending["batch_id"].as_u64(), pending["write_time"].as_i64())
        {
            plans.insert(p, (id, time));
        }
    }
    plans
}

/// The partitions a job's log says it was assigned last (`partitions
/// assigned partitions=[0, 2, 4]`).
fn assigned_partitions(log: &str) -> Vec<i32> {
    log.lines()
        .rev()
        .find_map(|l| l.split("partitions assigned partitions=[").nth(1))
        .and_then(|rest| rest.split(']').next())
        .map(|list| {
            list.split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The group's committed offsets, summed.
fn committed_total(names: &Names, partitions: i32) -> i64 {
    committed(&names.group, &names.topic, partitions)
        .values()
        .sum()
}

fn users(seed: u64, n: usize) -> Vec<User> {
    UserGenerator::users(seed, n)
}

#[test]
fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let _serial = serial();
    // Records keep arriving for about as long as the five kills and
    // restarts take (a restart waits ~6 s for the dead member to leave the
    // group), so most kills land while batches are being processed.
    let (n, rate, kills) = if chaos() {
        (200_000, 4_000, 5)
    } else {
        (30_000, 750, 5)
    };
    let names = Names::new("kill");
    let seed = rand::rng().random_range(0..u32::MAX as u64);
    println!("kill test: {n} records, seed {seed}");
    let env = job_env(&names, 5_000);
    create_topic(&names.topic, 4);
    let mut producer = produce_in_background(&names.topic, 4, n, seed, rate);

    // Each restarted job is killed at a random moment after it got going:
    // within 1.5 s of its first new batch (so every kill lands while
    // records are being processed, and every life makes progress).
    let started = Instant::now();
    let rt = runtime();
    let mut job = Job::run("kill", &env);
    for i in 0..kills {
        let up = Instant::now();
        let processing = |job: &Job| {
            job.stdout()
                .lines()
                .any(|l| l.starts_with("batch") && !l.ends_with("replayed"))
        };
        while !processing(&job) {
            // Once every record is in, a caught-up job has nothing to do:
            // kill it idle.
            if !producer.running() && up.elapsed() > Duration::from_secs(15) {
                break;
            }
            assert!(
                up.elapsed() < Duration::from_secs(60),
                "the restarted job processes nothing:\n{}",
                tail(&job.stderr())
            );
            assert!(
                job.running(),
                "ember died on its own:\n{}",
                tail(&job.stderr())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(rand::rng().random_range(0..1500)));
        assert!(
            job.running(),
            "ember died on its own:\n{}",
            tail(&job.stderr())
        );
        job.kill9();
        let rows = rt.block_on(async { count_rows(&session().await, &names.keyspace).await });
        println!(
            "kill {} at {:.1} s: {rows} rows stored, {} offsets committed",
            i + 1,
            started.elapsed().as_secs_f64(),
            committed_total(&names, 4)
        );
        job = Job::run("kill", &env);
    }
    finish_producing(producer);
    rt.block_on(wait_for_rows(&[&job], &names, n, Duration::from_secs(300)));
    job.stop("TERM", Duration::from_secs(10));
    rt.block_on(async {
        assert_exactly_these_users(&session().await, &names.keyspace, &users(seed, n)).await;
    });
    assert_eq!(
        committed_total(&names, 4),
        n as i64,
        "offsets cover every record"
    );
    println!("kill test: {kills} kills; expected {n} rows, found {n}");
}

/// The address a job started with `--metrics 127.0.0.1:0` printed.
fn metrics_address(job: &Job) -> String {
    let start = Instant::now();
    loop {
        let printed = job.stdout();
        if let Some(address) = printed
            .lines()
            .find_map(|l| l.trim().strip_prefix("metrics http://"))
            .and_then(|rest| rest.split('/').next())
        {
            return address.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no metrics address printed:\n{printed}\n{}",
            tail(&job.stderr())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of metric `name` for the `created_users` sink, from the
/// Prometheus text of `/metrics` (the observability tests parse it with
/// prometheus_client; one sample is enough here).
fn sink_metric(address: &str, name: &str) -> f64 {
    let (status, text) = http_get(address, "/metrics");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains("sink=\"created_users\""))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} for created_users in:\n{text}"))
}

#[test]
fn cassandra_down_for_20_s_is_waited_out() {
    let _serial = serial();
    let (n, rate) = if chaos() {
        (60_000, 2_000)
    } else {
        (20_000, 1_000)
    };
    let names = Names::new("cdown");
    let seed = 7_001;
    let mut env = job_env(&names, 2_000);
    // The outage plus Cassandra's start-up must fit in the retry window.
    env.push((
        "EMBER_SINKS__CREATED_USERS__RETRY_FOR".into(),
        "180s".into(),
    ));
    create_topic(&names.topic, 4);
    let rt = runtime();
    let pipeline = users_pipeline();
    let mut job = Job::start(
        "cdown",
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--summary-json",
            "--metrics",
            "127.0.0.1:0",
        ],
        &env,
    );
    let metrics = metrics_address(&job);
    let producer = produce_in_background(&names.topic, 4, n, seed, rate);
    rt.block_on(async {
        let session = session().await;
        eventually(Duration::from_secs(60), "the first rows", || {
            let (session, ks) = (&session, names.keyspace.clone());
            async move { count_rows(session, &ks).await > 0 }
        })
        .await;
    });

    stack_sh(&["down", "cassandra"]);
    let down_at = Instant::now();
    let before = committed(&names.group, &names.topic, 4);
    let requests_before = sink_metric(&metrics, "ember_sink_requests_total");
    std::thread::sleep(Duration::from_secs(20).saturating_sub(down_at.elapsed()));
    // The outage shows on /metrics while it lasts: the writes are retried.
    assert!(
        sink_metric(&metrics, "ember_sink_retries_total") > 0.0,
        "retries counted during the outage"
    );
    assert!(sink_metric(&metrics, "ember_sink_requests_total") > requests_before);
    let after = committed(&names.group, &names.topic, 4);
    assert_eq!(
        before, after,
        "nothing is committed while Cassandra is down"
    );
    assert!(
        job.running(),
        "ember waits for Cassandra:\n{}",
        tail(&job.stderr())
    );
    stack_sh(&["up", "cassandra"]);
    println!(
        "cassandra was down {:.1} s; offsets held at {}",
        down_at.elapsed().as_secs_f64(),
        before.values().sum::<i64>()
    );

    finish_producing(producer);
    rt.block_on(wait_for_rows(&[&job], &names, n, Duration::from_secs(240)));
    job.stop("TERM", Duration::from_secs(10));
    assert!(
        job.stderr().contains("retrying"),
        "the outage was retried with backoff:\n{}",
        tail(&job.stderr())
    );
    rt.block_on(async {
        assert_exactly_these_users(&session().await, &names.keyspace, &users(seed, n)).await;
    });
    assert_eq!(committed_total(&names, 4), n as i64);
}

#[test]
fn a_kafka_restart_loses_nothing() {
    let _serial = serial();
    // A backlog the job is still working through when the broker goes
    // down, then records that arrive only after it is back. (Producing
    // through the restart is the producer's test, not the engine's.)
    let (before, after) = if chaos() {
        (60_000, 20_000)
    } else {
        (20_000, 5_000)
    };
    let names = Names::new("krestart");
    let (seed_before, seed_after) = (7_002, 7_012);
    produce_users(&names.topic, 4, before, seed_before);
    let env = job_env(&names, 1_000);
    let rt = runtime();
    let mut job = Job::run("krestart", &env);
    let session = rt.block_on(session());
    rt.block_on(eventually(
        Duration::from_secs(60),
        "the first rows",
        || {
            let (session, ks) = (&session, names.keyspace.clone());
            async move { count_rows(session, &ks).await > 0 }
        },
    ));
    let restart = Instant::now();
    stack_sh(&["restart", "kafka"]);
    let rows_then = rt.block_on(count_rows(&session, &names.keyspace));
    println!(
        "kafka restarted in {:.1} s; {rows_then} of {before} rows stored by then",
        restart.elapsed().as_secs_f64()
    );
    assert!(
        job.running(),
        "ember rides out the restart:\n{}",
        tail(&job.stderr())
    );
    produce_users(&names.topic, 4, after, seed_after);
    rt.block_on(wait_for_rows(
        &[&job],
        &names,
        before + after,
        Duration::from_secs(240),
    ));
    job.stop("TERM", Duration::from_secs(10));
    let mut expected = users(seed_before, before);
    expected.extend(users(seed_after, after));
    rt.block_on(assert_exactly_these_users(
        &session,
        &names.keyspace,
        &expected,
    ));
    assert_eq!(committed_total(&names, 4), (before + after) as i64);
}

#[test]
fn the_surviving_instance_takes_over_a_killed_ones_partitions() {
    let _serial = serial();
    let (n, rate) = if chaos() {
        (60_000, 3_000)
    } else {
        (18_000, 1_500)
    };
    let names = Names::new("pair");
    let seed = 7_003;
    let env = job_env(&names, 1_000);
    create_topic(&names.topic, 6);
    let mut a = Job::run("pair-a", &env);
    let mut b = Job::run("pair-b", &env);
    let producer = produce_in_background(&names.topic, 6, n, seed, rate);
    // Both instances hold partitions once both have written a batch.
    let start = Instant::now();
    let batches = |job: &Job| {
        job.stdout()
            .lines()
            .filter(|l| l.starts_with("batch"))
            .count()
    };
    while batches(&a) == 0 || batches(&b) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "both instances should process: a={} b={}",
            batches(&a),
            batches(&b)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Kill a while it has a batch in flight: a plan pending on one of its
    // partitions (its log names them), which it then never commits and b
    // must take over.
    let waiting = Instant::now();
    let at_kill = loop {
        let mine = assigned_partitions(&a.stderr());
        let plans: std::collections::BTreeMap<i32, (u64, i64)> = pending_plans(&names)
            .into_iter()
            .filter(|(p, _)| mine.contains(p))
            .collect();
        if !plans.is_empty() || waiting.elapsed() > Duration::from_secs(30) {
            break plans;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    a.kill9();
    println!(
        "killed instance a after {:.1} s ({} batches); b had {}",
        start.elapsed().as_secs_f64(),
        batches(&a),
        batches(&b)
    );
    // a may have committed between the read and the kill: its plans still
    // pending 3 s later (before the 6 s session timeout hands them to b)
    // are the ones it died with.
    std::thread::sleep(Duration::from_secs(3));
    let still = pending_plans(&names);
    let orphaned: std::collections::BTreeSet<u64> = at_kill
        .iter()
        .filter(|(p, plan)| still.get(p) == Some(plan))
        .map(|(_, (batch_id, _))| *batch_id)
        .collect();
    finish_producing(producer);
    let rt = runtime();
    rt.block_on(wait_for_rows(
        &[&a, &b],
        &names,
        n,
        Duration::from_secs(240),
    ));
    b.stop("TERM", Duration::from_secs(10));
    // b replayed a's unfinished batch once, whole, as it was planned (same
    // ranges, same write time), before going on with those partitions.
    let replayed: Vec<u64> = b
        .stdout()
        .lines()
        .filter(|l| l.starts_with("batch") && l.ends_with("replayed"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    println!("a's batches left planned: {orphaned:?}; b replayed: {replayed:?}");
    if orphaned.is_empty() {
        println!("a committed its batch just before the kill: no takeover replay this time");
    }
    for batch_id in &orphaned {
        assert_eq!(
            replayed.iter().filter(|id| *id == batch_id).count(),
            1,
            "a died with batch {batch_id} planned; b should replay it once:\n{}",
            b.stdout()
        );
    }
    rt.block_on(async {
        assert_exactly_these_users(&session().await, &names.keyspace, &users(seed, n)).await;
    });
    // Records kept arriving on all six partitions after the kill; only b
    // was left to commit them.
    let offsets = committed(&names.group, &names.topic, 6);
    assert_eq!(offsets.len(), 6, "{offsets:?}");
    assert_eq!(offsets.values().sum::<i64>(), n as i64);
}

#[test]
fn sigterm_and_sigint_finish_the_batch_in_flight_and_exit_0() {
    let _serial = serial();
    let n = 60_000;
    let names = Names::new("sigterm");
    let seed = 7_004;
    produce_users(&names.topic, 4, n, seed);
    let env = job_env(&names, 5_000);
    let rt = runtime();
    let session = rt.block_on(session());
    for sig in ["TERM", "INT"] {
        let mut job = Job::run("sigterm", &env);
        // Signal while a batch is being written: some of its rows stored,
        // not all.
        let committed_before = committed_total(&names, 4);
        let start = Instant::now();
        let at_signal = loop {
            let rows = rt.block_on(count_rows(&session, &names.keyspace));
            if rows > committed_before && rows < n as i64 {
                break rows;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "no batch in flight seen (rows {rows})"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = job.stop(sig, Duration::from_secs(10));
        let rows = rt.block_on(count_rows(&session, &names.keyspace));
        let committed = committed_total(&names, 4);
        println!(
            "SIG{sig}: exit 0 after {} ms; rows {at_signal} at the signal, {rows} at exit, {committed} committed",
            took.as_millis()
        );
        assert_eq!(
            rows, committed,
            "the batch in flight was finished and committed, nothing written uncommitted"
        );
        assert!(job.stdout().contains("done:"), "{}", job.stdout());
    }
    // A second signal does not wait for the batch: exit 130 at once,
    // nothing of the batch committed; the next start replays it. One large
    // batch (all that waits, up to 60,000 records) is seconds in flight: a
    // 5,000-row one was seen to finish, and the run to exit 0, between the
    // rows appearing and the signals arriving.
    let mut job = Job::run("sigterm-twice", &job_env(&names, n));
    let committed_before = committed_total(&names, 4);
    let start = Instant::now();
    while rt.block_on(count_rows(&session, &names.keyspace)) <= committed_before {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no batch in flight seen"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Back to back, from one shell: a clean exit 0 before the second one
    // arrives would not test the second signal at all. Both handlers keep
    // their signal, so the second is seen even when it lands before the
    // first is handled.
    let sent = Instant::now();
    job.signal_twice("TERM", "INT");
    let status = job.wait(Duration::from_secs(5)).expect("exits at once");
    println!(
        "second signal: exit {:?} after {} ms",
        status.code(),
        sent.elapsed().as_millis()
    );
    assert_eq!(status.code(), Some(130), "{}", job.stderr());
    assert!(job.stderr().contains("second signal"), "{}", job.stderr());

    // The rest, read once: from the committed offsets to the end.
    let committed_so_far = committed_total(&names, 4);
    let rest = run_available_now(&names);
    assert_eq!(
        committed_so_far + rest["rows_in"].as_i64().unwrap(),
        n as i64,
        "the rest is read exactly once"
    );
    rt.block_on(assert_exactly_these_users(
        &session,
        &names.keyspace,
        &users(seed, n),
    ));
}

#[test]
fn an_idle_topic_keeps_a_processing_time_job_healthy() {
    let _serial = serial();
    let idle = if chaos() {
        // Longer than librdkafka's max.poll.interval.ms (5 min).
        Duration::from_secs(330)
    } else {
        Duration::from_secs(20)
    };
    let names = Names::new("idle");
    create_topic(&names.topic, 2);
    let mut job = Job::run("idle", &job_env(&names, 1_000));
    std::thread::sleep(idle);
    assert!(
        job.running(),
        "ember stays up while idle:\n{}",
        tail(&job.stderr())
    );
    produce_users(&names.topic, 2, 1_000, 7_005);
    let rt = runtime();
    rt.block_on(wait_for_rows(
        &[&job],
        &names,
        1_000,
        Duration::from_secs(60),
    ));
    job.stop("TERM", Duration::from_secs(10));
    assert!(
        !job.stderr().contains("ERROR"),
        "no errors while idle:\n{}",
        tail(&job.stderr())
    );
    rt.block_on(async {
        assert_exactly_these_users(&session().await, &names.keyspace, &users(7_005, 1_000)).await;
    });
}
