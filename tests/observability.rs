//! `ember run --metrics`: the endpoints of a live job on the real stack.
//!
//! - `/metrics` is scraped and parsed by `prometheus_client`'s text parser
//!   (Python, tests/observe/scrape.py: the format's reference parser, not
//!   ours) and every count is compared with the run's own summary;
//! - the dashboard at `/` is loaded in headless Chromium (Debian's package,
//!   driven over the DevTools protocol by tests/observe/dashboard.py) while
//!   `ember produce --rate` feeds the topic: its charts must show non-zero
//!   numbers that change, and a screenshot is kept in `test-artifacts/`.
//!
//! Chromium comes from `make prereqs-test` (scripts/prereqs.sh), the Python
//! packages from tests/observe/venv.sh (a pinned venv under ~/.cache/ember).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{create_topic, http_get, produce_raw, repo, users_pipeline, Job, Names};
use serde_json::Value;

/// The observability venv's python, built on first use.
fn python() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("tests/observe/venv.sh"))
        .output()
        .expect("tests/observe/venv.sh runs");
    assert!(
        out.status.success(),
        "venv: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("bin/python")
}

/// A continuous `ember run` with `--metrics 127.0.0.1:0`; returns the child,
/// the address it printed and the rest of its stdout (read on a thread).
fn start_observed(env: &[(String, String)]) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args([
            "run",
            users_pipeline().to_str().unwrap(),
            "--summary-json",
            "--metrics",
            "127.0.0.1:0",
        ])
        .envs(env.iter().cloned())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ember run");
    let mut stdout: BufReader<ChildStdout> = BufReader::new(child.stdout.take().expect("stdout"));
    let mut address = None;
    let mut header = String::new();
    for _ in 0..5 {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a line");
        header.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("metrics http://") {
            address = rest.split('/').next().map(str::to_string);
            break;
        }
    }
    let address = address.unwrap_or_else(|| panic!("no metrics address in:\n{header}"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        let _ = tx.send(rest);
    });
    (child, address, rx)
}

/// `/metrics` through prometheus_client's parser: (types, samples).
fn scrape(python: &PathBuf, address: &str) -> (Value, Vec<Value>) {
    let out = Command::new(python)
        .arg(repo().join("tests/observe/scrape.py"))
        .arg(format!("http://{address}/metrics"))
        .output()
        .expect("scrape.py runs");
    assert!(
        out.status.success(),
        "the Prometheus parser refused /metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).expect("scrape.py JSON");
    let samples = parsed["samples"].as_array().expect("samples").clone();
    (parsed["types"].clone(), samples)
}

/// The sum of the samples named `name` whose labels include `labels`.
fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().unwrap_or(0.0))
        .sum()
}

fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn stop(mut child: Child, rest: mpsc::Receiver<String>) -> Value {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -TERM");
    let status = child.wait().expect("ember exits");
    assert!(status.success(), "ember run exited {status}");
    let stdout = rest
        .recv_timeout(Duration::from_secs(30))
        .expect("the rest of stdout");
    common::summary(&stdout)
}

/// Records that do not decode, for the dead-letter counts.
const BAD: &[&str] = &["not json", "{\"id\": \"not-a-uuid\"}", "[1, 2]"];

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parsed_by_prometheus_client_match_the_run_summary() {
    let python = python();
    let names = Names::new("observe_metrics");
    create_topic(&names.topic, 2);
    common::produce_users(&names.topic, 2, 2000, 17);
    let bad: Vec<common::KeyValue> = BAD
        .iter()
        .map(|v| (None, Some(v.as_bytes().to_vec())))
        .collect();
    produce_raw(&names.topic, &bad).await;
    let total = 2000 + BAD.len();

    let (child, address, rest) = start_observed(&names.env());
    assert_eq!(http_get(&address, "/health/live").0, 200);
    poll("/health/ready", Duration::from_secs(60), || {
        (http_get(&address, "/health/ready").0 == 200).then_some(())
    });
    // Every record read, and the lag poller has seen the committed ends.
    let samples = poll("all records and zero lag", Duration::from_secs(120), || {
        let (_, samples) = scrape(&python, &address);
        let read = value(&samples, "ember_records_read_total", &[]);
        let partitions = samples
            .iter()
            .filter(|s| s["name"] == "ember_consumer_lag_records")
            .count();
        let lag = value(&samples, "ember_consumer_lag_records", &[]);
        (read == total as f64 && partitions == 2 && lag == 0.0).then_some(samples)
    });
    let (types, samples) = {
        let (types, again) = scrape(&python, &address);
        assert_eq!(
            value(&again, "ember_records_read_total", &[]),
            value(&samples, "ember_records_read_total", &[])
        );
        (types, again)
    };
    let (status, progress) = http_get(&address, "/progress");
    assert_eq!(status, 200);
    let progress: Vec<Value> = serde_json::from_str(&progress).expect("/progress JSON");
    let summary = stop(child, rest);

    // The counts are the summary's.
    let n = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    assert_eq!(
        value(&samples, "ember_records_read_total", &[]),
        n(&summary["rows_in"])
    );
    assert_eq!(
        value(&samples, "ember_records_decoded_total", &[]),
        n(&summary["decoded"])
    );
    assert_eq!(
        value(&samples, "ember_records_dead_lettered_total", &[]),
        n(&summary["rejected"])
    );
    assert_eq!(summary["rejected"], BAD.len());
    for (reason, count) in [
        ("invalid_json", 1.0),
        ("invalid_uuid", 1.0),
        ("not_an_object", 1.0),
    ] {
        assert_eq!(
            value(
                &samples,
                "ember_records_dead_lettered_total",
                &[("reason", reason)]
            ),
            count,
            "{reason}"
        );
    }
    let sink = [("sink", "created_users")];
    assert_eq!(
        value(&samples, "ember_rows_written_total", &sink),
        n(&summary["sinks"]["created_users"]["written"])
    );
    assert_eq!(
        value(&samples, "ember_rows_filtered_total", &sink),
        n(&summary["sinks"]["created_users"]["filtered"])
    );
    // Sink requests: at least one unlogged batch per `batch_max_rows` (100)
    // rows, no retry against a healthy Cassandra, none in flight once every
    // record is committed (the faults tests count retries in an outage).
    let written = n(&summary["sinks"]["created_users"]["written"]);
    let requests = value(&samples, "ember_sink_requests_total", &sink);
    assert!(
        requests >= (written / 100.0).ceil() && requests <= written,
        "{requests} requests for {written} rows"
    );
    assert_eq!(value(&samples, "ember_sink_retries_total", &sink), 0.0);
    assert_eq!(value(&samples, "ember_sink_requests_in_flight", &sink), 0.0);
    assert_eq!(value(&samples, "ember_records_lost_total", &[]), 0.0);
    let batches = n(&summary["batches"]);
    assert_eq!(value(&samples, "ember_batches_total", &[]), batches);
    assert_eq!(
        value(&samples, "ember_checkpoint_commits_total", &[]),
        batches
    );
    // Histograms: one observation per batch and stage, one per record.
    assert_eq!(types["ember_stage_duration_seconds"], "histogram");
    for stage in [
        "fetch",
        "plan",
        "decode",
        "sql",
        "write",
        "dead_letters",
        "checkpoint",
        "group_commit",
    ] {
        assert_eq!(
            value(
                &samples,
                "ember_stage_duration_seconds_count",
                &[("stage", stage)]
            ),
            batches,
            "{stage}"
        );
    }
    assert!(
        value(
            &samples,
            "ember_stage_duration_seconds_sum",
            &[("stage", "write")]
        ) > 0.0
    );
    // `sql` may be 0 here: the classic SELECT only picks columns, which
    // DataFusion pushes into the scan (no operator left to time); the
    // engine's unit tests time a real projection.
    assert_eq!(
        value(&samples, "ember_end_to_end_latency_seconds_count", &[]),
        n(&summary["latency"]["count"])
    );
    assert_eq!(
        value(
            &samples,
            "ember_end_to_end_latency_seconds_bucket",
            &[("le", "+Inf")]
        ),
        n(&summary["rows_in"])
    );
    assert!(value(&samples, "process_resident_memory_bytes", &[]) > 1e6);
    // The prometheus crate's process collector counts whole CPU seconds.
    assert!(samples
        .iter()
        .any(|s| s["name"] == "process_cpu_seconds_total"));
    assert_eq!(value(&samples, "ember_ready", &[]), 1.0);
    // /progress: one entry per batch (fewer than it keeps), the same rows.
    assert_eq!(progress.len() as f64, batches);
    let rows: f64 = progress.iter().map(|b| n(&b["rows_in"])).sum();
    assert_eq!(rows, n(&summary["rows_in"]));
    let ends: i64 = progress
        .iter()
        .flat_map(|b| b["ranges"].as_object().cloned().unwrap_or_default())
        .map(|(_, r)| r["end"].as_i64().unwrap_or(0) - r["start"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        ends as f64,
        n(&summary["rows_in"]),
        "ranges cover every record"
    );
    for b in &progress {
        for key in [
            "batch_id",
            "replay",
            "write_time",
            "input_rows_per_second",
            "processed_rows_per_second",
        ] {
            assert!(b.get(key).is_some(), "{key} in {b}");
        }
        assert!(n(&b["duration_ms"]["total"]) > 0.0, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_live_changing_charts_in_headless_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `make prereqs-test` installs Debian's chromium"
    );
    let python = python();
    let names = Names::new("observe_dashboard");
    create_topic(&names.topic, 2);
    let bad: Vec<common::KeyValue> = BAD
        .iter()
        .map(|v| (None, Some(v.as_bytes().to_vec())))
        .collect();
    produce_raw(&names.topic, &bad).await;
    let (child, address, rest) = start_observed(&names.env());
    let mut producer = Job::start(
        "observe_produce",
        &[
            "produce",
            "--brokers",
            &common::brokers(),
            "--topic",
            &names.topic,
            "--rate",
            "400",
            "--duration",
            "60s",
        ],
        &[],
    );
    let screenshot = repo().join("test-artifacts/dashboard.png");
    let out = Command::new(&python)
        .arg(repo().join("tests/observe/dashboard.py"))
        .arg(format!("http://{address}/"))
        .arg(&screenshot)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("dashboard.py runs");
    producer.signal("TERM");
    let _ = producer.wait(Duration::from_secs(10));
    let summary = stop(child, rest);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dashboard check failed: {report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&screenshot).expect("screenshot saved");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real PNG"
    );
    assert!(summary["rows_in"].as_u64().unwrap_or(0) > 0, "{summary}");
    eprintln!("dashboard: {report}");
}

#[test]
fn on_a_terminal_one_status_line_is_redrawn_in_place() {
    let names = Names::new("observe_tty");
    common::produce_users(&names.topic, 2, 3000, 23);
    // `script` gives the run a pseudo-terminal as stdout; max_records
    // makes several batches.
    let mut env = names.env();
    env.push(("EMBER_SOURCE__MAX_RECORDS".into(), "500".into()));
    let command = format!(
        "{} run {} --trigger available-now",
        env!("CARGO_BIN_EXE_ember"),
        users_pipeline().display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .envs(env.iter().cloned())
        .env("EMBER_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let redraws = text.matches("\r\x1b[2K").count();
    assert!(redraws >= 2, "the status line is redrawn: {text:?}");
    assert!(text.contains("rows/s | lag"), "{text:?}");
    // No scrolling line per batch on a terminal; the summary still follows,
    // on a line of its own, and agrees with the last redraw.
    assert!(!text.contains("batch     0 |"), "{text:?}");
    let summary = text.find("done: ").expect("summary line");
    let batches = text[summary + 6..]
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        text.contains(&format!("| {batches} batch(es), 3000 in, 0 rejected")),
        "the last redraw has the totals: {text:?}"
    );
    assert!(batches.parse::<u32>().unwrap_or(0) >= 2, "{text:?}");
    let last_redraw = text.rfind("\r\x1b[2K").unwrap_or(0);
    assert!(last_redraw < summary, "{text:?}");
}
