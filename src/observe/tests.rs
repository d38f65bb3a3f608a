//! The observer without a network: reports in, endpoints' data out.

use std::collections::BTreeMap;
use std::time::Duration;

use ember_engine::latency::LatencySummary;
use ember_engine::{BatchReport, OffsetRange, StageTimings};

use super::progress::PipelineInfo;
use super::{Observer, Readiness};

fn info() -> PipelineInfo {
    PipelineInfo {
        name: "users".into(),
        topic: "users_created".into(),
        trigger: "500ms".into(),
        sql: Vec::new(),
        sinks: Vec::new(),
    }
}

fn report(batch_id: u64, partition_end: i64) -> BatchReport {
    BatchReport {
        batch_id,
        ranges: BTreeMap::from([(
            0,
            OffsetRange {
                start: partition_end - 10,
                end: partition_end,
            },
        )]),
        pieces: 1,
        rows_in: 10,
        decoded: 8,
        rejected: 2,
        written: BTreeMap::from([("created_users".to_string(), 7)]),
        dead_lettered_by_sink: BTreeMap::from([("created_users".to_string(), 0)]),
        dead_lettered_by_reason: BTreeMap::from([("invalid_json", 2)]),
        stages: StageTimings {
            decode: Duration::from_millis(3),
            sql: Duration::from_millis(5),
            write: Duration::from_millis(15),
            ..StageTimings::default()
        },
        latency: Some(LatencySummary {
            count: 10,
            p50_ms: 3.0,
            p90_ms: 3.5,
            p99_ms: 3.9,
            max_ms: 3.9,
            histogram: vec![(1.0, 0), (2.0, 0), (4.0, 10)],
        }),
        duration: Duration::from_millis(25),
        ..BatchReport::default()
    }
}

#[test]
fn ready_once_connected_and_not_ready_once_stalled() {
    let o = Observer::new(info(), Duration::from_millis(200));
    assert!(matches!(o.readiness(), Readiness::NotReady(why) if why.contains("connecting")));
    o.connected();
    assert_eq!(o.readiness(), Readiness::Ready);
    std::thread::sleep(Duration::from_millis(300));
    assert!(matches!(o.readiness(), Readiness::NotReady(why) if why.contains("no batch")));
    o.idle();
    assert_eq!(
        o.readiness(),
        Readiness::Ready,
        "an idle interval is a sign of life"
    );
}

#[test]
fn reports_become_counters_histograms_and_progress() {
    let o = Observer::new(info(), Duration::from_secs(60));
    o.batch_done(&report(0, 10));
    o.batch_done(&report(1, 20));
    let text = o.metrics.text().expect("text");
    for line in [
        "ember_records_read_total{pipeline=\"users\"} 20",
        "ember_records_decoded_total{pipeline=\"users\"} 16",
        "ember_rows_written_total{sink=\"created_users\",pipeline=\"users\"} 14",
        // decoded 8 − written 7 − dead-lettered by it 0, twice.
        "ember_rows_filtered_total{sink=\"created_users\",pipeline=\"users\"} 2",
        "ember_records_dead_lettered_total{reason=\"invalid_json\",pipeline=\"users\"} 4",
        "ember_batches_total{replay=\"false\",pipeline=\"users\"} 2",
        "ember_stage_duration_seconds_count{stage=\"write\",pipeline=\"users\"} 2",
        // 10 records per batch, all in the 2–4 ms bucket.
        "ember_end_to_end_latency_seconds_bucket{pipeline=\"users\",le=\"0.002\"} 0",
        "ember_end_to_end_latency_seconds_bucket{pipeline=\"users\",le=\"0.004\"} 20",
        "ember_end_to_end_latency_seconds_count{pipeline=\"users\"} 20",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    let progress = o.progress();
    assert_eq!(progress.len(), 2);
    assert_eq!(progress[1].batch_id, 1);
    assert_eq!(progress[1].duration_ms["sql"], 5.0);
    assert_eq!(progress[1].duration_ms["write"], 15.0);
    assert_eq!(progress[1].duration_ms["total"], 25.0);
    assert!((progress[0].processed_rows_per_second - 400.0).abs() < 1e-6);
    assert_eq!(o.positions(), BTreeMap::from([(0, 20)]));
}

#[test]
fn progress_keeps_the_last_batches_only() {
    let o = Observer::new(info(), Duration::from_secs(60));
    for id in 0..(super::PROGRESS_BATCHES as u64 + 5) {
        o.batch_done(&report(id, 10 * (id as i64 + 1)));
    }
    let progress = o.progress();
    assert_eq!(progress.len(), super::PROGRESS_BATCHES);
    assert_eq!(progress[0].batch_id, 5);
}

#[test]
fn lag_is_the_watermark_minus_the_position_never_negative() {
    let o = Observer::new(info(), Duration::from_secs(60));
    o.set_lag(
        &BTreeMap::from([(0, 100), (1, 50)]),
        &BTreeMap::from([(0, 40), (1, 60)]),
    );
    assert_eq!(o.lag(), BTreeMap::from([(0, 60), (1, 0)]));
    let json = o.metrics.json();
    let lag = json["ember_consumer_lag_records"].as_array().expect("lag");
    assert_eq!(lag.len(), 2);
    assert_eq!(lag[0]["labels"]["partition"], "0");
    assert_eq!(lag[0]["value"], 60.0);
}
