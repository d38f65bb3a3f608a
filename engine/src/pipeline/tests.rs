//! The pipeline's batch loop against a scripted source (the one piece
//! faked here: it stands in for Kafka's delivery and for another instance
//! writing to the shared checkpoint), a real file checkpoint, real SQL and
//! an in-memory sink.

use std::collections::BTreeMap;

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use tokio::sync::watch;

use super::*;

mod scripted;
use scripted::*;

#[tokio::test]
async fn a_batch_taken_over_mid_flight_is_replayed_once_whole() {
    // This instance owns partition 0. Partitions 1 and 2 belonged to
    // another instance, which planned batch 42 over 1:0..6 and 2:0..3 and
    // died before committing; then both come here, but only partition 1
    // delivers in the next batch.
    let deliveries = vec![
        Delivery {
            other: None,
            records: vec![(0, 0..10)],
        },
        Delivery {
            other: Some(OtherPlan {
                batch_id: 42,
                ranges: ranges(&[(1, 0, 6), (2, 0, 3)]),
                write_time: at(5_000_000),
                committed: false,
            }),
            records: vec![(0, 10..12), (1, 0..10)],
        },
        Delivery {
            other: None,
            records: vec![(2, 0..5)],
        },
    ];
    let (reports, fetched, names) =
        run("takeover", CONTINUOUS, Some(&[0, 1, 2]), vec![], deliveries).await;

    let summary: Vec<_> = reports
        .iter()
        .map(|r| (r.batch_id, r.replay, r.ranges.clone(), r.rows_in))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, false, ranges(&[(0, 0, 10)]), 10),
            // Exactly the other instance's batch: its id, ranges and rows,
            // partition 2's part included although it delivered nothing yet.
            (42, true, ranges(&[(1, 0, 6), (2, 0, 3)]), 9),
            // Then the rest, without the replayed records.
            (43, false, ranges(&[(0, 10, 12), (1, 6, 10)]), 6),
            (44, false, ranges(&[(2, 3, 5)]), 2),
        ]
    );
    // ... at exactly its write time, and every later batch above it.
    assert_eq!(reports[1].write_time, at(5_000_000));
    assert!(reports[2].write_time >= at(5_000_000 + 9));
    assert_eq!(fetched, vec![ranges(&[(1, 0, 6), (2, 0, 3)])]);
    // Every record written once.
    let mut want: Vec<String> = (0..10).map(|o| format!("p0o{o}")).collect();
    want.extend((0..6).map(|o| format!("p1o{o}")));
    want.extend((0..3).map(|o| format!("p2o{o}")));
    want.extend(["p0o10".to_string(), "p0o11".to_string()]);
    want.extend((6..10).map(|o| format!("p1o{o}")));
    want.extend((3..5).map(|o| format!("p2o{o}")));
    assert_eq!(names, want);
}

#[tokio::test]
async fn a_partition_taken_over_between_batches_continues_after_its_committed_end() {
    // The other instance committed partition 1 up to offset 4 before it
    // left; its group offsets lag, so partition 1 arrives from offset 0.
    let deliveries = vec![
        Delivery {
            other: None,
            records: vec![(0, 0..3)],
        },
        Delivery {
            other: Some(OtherPlan {
                batch_id: 7,
                ranges: ranges(&[(1, 0, 4)]),
                write_time: at(1_000),
                committed: true,
            }),
            records: vec![(1, 0..10)],
        },
    ];
    let (reports, fetched, names) =
        run("committed", CONTINUOUS, Some(&[0, 1]), vec![], deliveries).await;
    assert!(fetched.is_empty(), "nothing to replay: {fetched:?}");
    let summary: Vec<_> = reports
        .iter()
        .map(|r| (r.batch_id, r.replay, r.ranges.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, false, ranges(&[(0, 0, 3)])),
            (1, false, ranges(&[(1, 4, 10)])),
        ]
    );
    let want: Vec<String> = (0..3)
        .map(|o| format!("p0o{o}"))
        .chain((4..10).map(|o| format!("p1o{o}")))
        .collect();
    assert_eq!(names, want);
}

#[tokio::test]
async fn a_replayed_batch_is_not_processed_again_when_the_stream_redelivers_it() {
    // An earlier run planned batch 3 over 0:4..9 and stopped before
    // committing it (offsets below 4 committed). The group offsets still
    // say 4, so the stream delivers 4.. again after the replay — whether
    // the replay ran at start (no group) or on the partition's first record.
    for assignment in [None, Some(&[0][..])] {
        let earlier = vec![
            OtherPlan {
                batch_id: 2,
                ranges: ranges(&[(0, 0, 4)]),
                write_time: at(1_000),
                committed: true,
            },
            OtherPlan {
                batch_id: 3,
                ranges: ranges(&[(0, 4, 9)]),
                write_time: at(7_000),
                committed: false,
            },
        ];
        let deliveries = vec![Delivery {
            other: None,
            records: vec![(0, 4..12)],
        }];
        let (reports, fetched, names) =
            run("restart", CONTINUOUS, assignment, earlier, deliveries).await;
        let summary: Vec<_> = reports
            .iter()
            .map(|r| (r.batch_id, r.replay, r.ranges.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (3, true, ranges(&[(0, 4, 9)])),
                (4, false, ranges(&[(0, 9, 12)])),
            ],
            "assignment {assignment:?}"
        );
        assert_eq!(fetched, vec![ranges(&[(0, 4, 9)])]);
        let want: Vec<String> = (4..12).map(|o| format!("p0o{o}")).collect();
        assert_eq!(names, want, "every record written once");
    }
}

/// An earlier run committed 0:0..4 and planned batch 3 over 0:4..9 and
/// 1:0..3, then stopped.
fn stopped_mid_batch() -> Vec<OtherPlan> {
    vec![
        OtherPlan {
            batch_id: 2,
            ranges: ranges(&[(0, 0, 4)]),
            write_time: at(1_000),
            committed: true,
        },
        OtherPlan {
            batch_id: 3,
            ranges: ranges(&[(0, 4, 9), (1, 0, 3)]),
            write_time: at(7_000),
            committed: false,
        },
    ]
}

#[tokio::test]
async fn after_a_restart_the_owner_replays_the_planned_batch_whole() {
    // Only partition 0 delivers; partition 1's part of the plan is
    // gathered from the assignment.
    let deliveries = vec![Delivery {
        other: None,
        records: vec![(0, 4..12)],
    }];
    let (reports, fetched, _) = run(
        "owner",
        CONTINUOUS,
        Some(&[0, 1]),
        stopped_mid_batch(),
        deliveries,
    )
    .await;
    let summary: Vec<_> = reports
        .iter()
        .map(|r| (r.batch_id, r.replay, r.ranges.clone(), r.write_time))
        .collect();
    assert_eq!(
        summary[0],
        (3, true, ranges(&[(0, 4, 9), (1, 0, 3)]), at(7_000))
    );
    assert_eq!(fetched, vec![ranges(&[(0, 4, 9), (1, 0, 3)])]);
    assert_eq!(reports[1].ranges, ranges(&[(0, 9, 12)]));
}

#[tokio::test]
async fn a_plan_on_partitions_assigned_elsewhere_is_left_to_their_owner() {
    // After the restart this instance owns only partition 2: the plan on
    // 0 and 1 is for whoever got those.
    let deliveries = vec![Delivery {
        other: None,
        records: vec![(2, 0..5)],
    }];
    let (reports, fetched, _) = run(
        "elsewhere",
        CONTINUOUS,
        Some(&[2]),
        stopped_mid_batch(),
        deliveries,
    )
    .await;
    assert!(fetched.is_empty(), "{fetched:?}");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].ranges, ranges(&[(2, 0, 5)]));
    assert!(!reports[0].replay);
}

#[tokio::test]
async fn a_source_without_a_group_replays_every_plan_at_start() {
    let (reports, fetched, names) =
        run("no-group", CONTINUOUS, None, stopped_mid_batch(), vec![]).await;
    assert_eq!(fetched, vec![ranges(&[(0, 4, 9), (1, 0, 3)])]);
    assert_eq!(reports.len(), 1);
    assert!(reports[0].replay);
    assert_eq!(names.len(), 8);
}

#[tokio::test]
async fn an_available_now_run_replays_every_plan_at_start() {
    // It reads what is there and stops: nothing else will replay the plan,
    // even if no record of its partitions is delivered.
    let (reports, fetched, _) = run(
        "available-now",
        Trigger::AvailableNow,
        Some(&[0, 1]),
        stopped_mid_batch(),
        vec![],
    )
    .await;
    assert_eq!(fetched, vec![ranges(&[(0, 4, 9), (1, 0, 3)])]);
    assert_eq!(reports.len(), 1);
    assert!(reports[0].replay);
}

/// A checkpoint written while a clock was a year ahead: every later plan
/// on its partitions would be pinned a year ahead, and operators' DELETEs
/// (at the real time) would lose against those rows.
#[tokio::test]
async fn a_write_time_floor_far_ahead_of_the_clock_stops_the_job_naming_the_partition() {
    let dir = temp_dir("clock-jump");
    let checkpoint_dir = dir.join("checkpoint");
    let year_ahead = WriteTime::now().as_micros() + 365 * 24 * 3_600 * 1_000_000;
    // Written as that instance left it: committed up to 4, floor a year ahead.
    std::fs::create_dir_all(checkpoint_dir.join("t")).unwrap();
    std::fs::write(
        checkpoint_dir.join("t/partition-3.json"),
        format!(r#"{{"committed_end":4,"write_time_end":{year_ahead},"pending":null}}"#),
    )
    .unwrap();
    let source = ScriptedSource::new(
        vec![Delivery {
            other: None,
            records: vec![(3, 4..8)],
        }],
        &checkpoint_dir,
        Some(&[3]),
    );
    let (mut pipeline, out) = copy_pipeline("clock-jump", &dir, CONTINUOUS, source).await;
    let (_stop, stopped) = watch::channel(false);
    let err = pipeline
        .run(&mut Collect(Vec::new()), stopped)
        .await
        .expect_err("a write time a year ahead must not be planned")
        .to_string();
    assert!(err.contains("partition(s) 3 "), "{err}");
    assert!(err.contains("max_write_time_skew"), "{err}");
    // Nothing was written at the poisoned time.
    assert!(out.batches[0].read().await.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_source_is_not_read_while_a_batch_is_in_flight() {
    // Reading it mid-batch would let a consumer answer a rebalance and hand
    // its partitions over while its batch is planned and uncommitted: the
    // new owner would replay the batch beside this instance.
    let deliveries = (0..3)
        .map(|i| Delivery {
            other: None,
            records: vec![(0, i * 5..i * 5 + 5)],
        })
        .collect();
    let asked = Arc::default();
    let (reports, _, names) =
        run_observed("fenced", CONTINUOUS, Some(&[0]), vec![], deliveries, &asked).await;

    assert_eq!(*asked.lock().unwrap(), vec![false; 4]);
    let summary: Vec<_> = reports
        .iter()
        .map(|r| (r.batch_id, r.ranges.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, ranges(&[(0, 0, 5)])),
            (1, ranges(&[(0, 5, 10)])),
            (2, ranges(&[(0, 10, 15)])),
        ]
    );
    let want: Vec<String> = (0..15).map(|o| format!("p0o{o}")).collect();
    assert_eq!(names, want);
}

mod pieces;
mod positions;

#[tokio::test]
async fn every_report_says_where_its_time_went_stage_by_stage() {
    let deliveries = vec![Delivery {
        other: None,
        records: vec![(0, 0..20)],
    }];
    let (reports, _, _) = run("stages", CONTINUOUS, None, vec![], deliveries).await;
    assert_eq!(reports.len(), 1);
    let s = reports[0].stages;
    // The copy transform renames a column: a projection DataFusion times.
    for (stage, took) in [
        ("decode", s.decode),
        ("sql", s.sql),
        ("write", s.write),
        ("checkpoint", s.checkpoint),
    ] {
        assert!(took > std::time::Duration::ZERO, "{stage}: {s:?}");
    }
    let inside: std::time::Duration = s
        .labelled()
        .iter()
        .filter(|(stage, _)| *stage != "fetch" && *stage != "plan")
        .map(|(_, took)| *took)
        .sum();
    assert!(
        inside <= reports[0].duration,
        "{s:?} within {:?}",
        reports[0].duration
    );
    // Scripted records carry no Kafka timestamp: no latency to report.
    assert_eq!(reports[0].latency, None);
}
