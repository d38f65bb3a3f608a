//! The pipeline's batch loop against a scripted source (the one piece
//! faked here: it stands in for Kafka's delivery and for another instance
//! writing to the shared checkpoint), a real file checkpoint, real SQL and
//! an in-memory sink.

use std::collections::VecDeque;

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use tokio::sync::watch;

use super::*;
use crate::checkpoint::CheckpointError;
use crate::source::{OffsetRange, SourceError};

/// What another instance sharing the checkpoint plans before a delivery.
struct OtherPlan {
    batch_id: u64,
    ranges: OffsetRanges,
    write_time: i64,
    /// Whether it also committed the batch.
    committed: bool,
}

/// One `next_batch` answer: `(partition, offsets)` from the log, after the
/// other instance (if any) planned its batch.
struct Delivery {
    other: Option<OtherPlan>,
    records: Vec<(i32, std::ops::Range<i64>)>,
}

/// A source that answers from a fixed log, delivery by delivery, then
/// reports itself finished; it records every range read by a replay.
struct ScriptedSource {
    deliveries: VecDeque<Delivery>,
    checkpoint_dir: PathBuf,
    fetched: Arc<std::sync::Mutex<Vec<OffsetRanges>>>,
    /// The partitions this instance owns; `None`: no consumer group.
    assignment: Option<Vec<i32>>,
    /// Per `next_batch` call: whether the checkpoint held a batch planned
    /// and not yet committed (it never should: see the fencing test).
    asked_mid_batch: Arc<std::sync::Mutex<Vec<bool>>>,
}

impl ScriptedSource {
    async fn batch_in_flight(&self) -> bool {
        let Ok(mut view) = Checkpoint::open(self.checkpoint_dir.to_str().unwrap_or_default(), "t")
        else {
            return false;
        };
        for p in 0..4 {
            if view.load(p).await.is_ok_and(|s| s.pending.is_some()) {
                return true;
            }
        }
        false
    }
}

fn record(partition: i32, offset: i64) -> RawRecord {
    let value = format!(
        r#"{{"id":"00000000-0000-4000-8000-{partition:04}{offset:08}","first_name":"p{partition}o{offset}"}}"#
    );
    RawRecord {
        partition,
        offset,
        timestamp_ms: None,
        key: None,
        value: Some(value.into_bytes()),
    }
}

#[async_trait]
impl Source for ScriptedSource {
    async fn next_batch(
        &mut self,
        _max_records: usize,
        _deadline: Instant,
    ) -> Result<Option<Vec<RawRecord>>, SourceError> {
        let in_flight = self.batch_in_flight().await;
        self.asked_mid_batch.lock().unwrap().push(in_flight);
        let Some(delivery) = self.deliveries.pop_front() else {
            return Ok(None);
        };
        if let Some(other) = delivery.other {
            plan_elsewhere(&self.checkpoint_dir, other)
                .await
                .map_err(|e| SourceError::Other(e.to_string()))?;
        }
        Ok(Some(
            delivery
                .records
                .into_iter()
                .flat_map(|(p, offsets)| offsets.map(move |o| record(p, o)))
                .collect(),
        ))
    }

    async fn commit(&mut self, _ranges: &OffsetRanges) -> Result<(), SourceError> {
        Ok(())
    }

    async fn fetch_ranges(&mut self, ranges: &OffsetRanges) -> Result<Vec<RawRecord>, SourceError> {
        self.fetched.lock().unwrap().push(ranges.clone());
        Ok(ranges
            .iter()
            .flat_map(|(&p, r)| (r.start..r.end).map(move |o| record(p, o)))
            .collect())
    }

    async fn earliest_offset(&mut self, _partition: i32) -> Result<i64, SourceError> {
        Ok(0)
    }

    fn assignment(&self) -> Option<Vec<i32>> {
        self.assignment.clone()
    }

    fn describe(&self) -> String {
        "scripted".into()
    }
}

/// Writes `plan` into the checkpoint at `dir` through a handle of its own,
/// as another instance (or an earlier run) would.
async fn plan_elsewhere(dir: &std::path::Path, plan: OtherPlan) -> Result<(), CheckpointError> {
    let mut theirs = Checkpoint::open(dir.to_str().unwrap_or_default(), "t")?;
    for &p in plan.ranges.keys() {
        theirs.load(p).await?;
    }
    theirs
        .plan(plan.batch_id, &plan.ranges, plan.write_time, 0)
        .await?;
    if plan.committed {
        theirs.commit(&plan.ranges).await?;
    }
    Ok(())
}

struct Collect(Vec<BatchReport>);

/// A continuous job (the scripted source ends it when its script runs out).
/// The scripted source answers at once, so the interval never passes: no
/// batch is topped up with the next delivery however slow the machine is.
const CONTINUOUS: Trigger = Trigger::ProcessingTime(std::time::Duration::from_secs(600));

impl Reporter for Collect {
    fn batch_done(&mut self, report: &BatchReport) {
        self.0.push(report.clone());
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "ember-pipeline-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ranges(list: &[(i32, i64, i64)]) -> OffsetRanges {
    list.iter()
        .map(|&(p, start, end)| (p, OffsetRange { start, end }))
        .collect()
}

/// The copy transform (`src` → an in-memory `out`) over `source`, its SQL
/// file in `dir`, its checkpoint at `source.checkpoint_dir`.
async fn copy_pipeline(
    name: &str,
    dir: &std::path::Path,
    trigger: Trigger,
    source: ScriptedSource,
) -> (Pipeline, Arc<MemTable>) {
    let sql = dir.join("copy.sql");
    std::fs::write(
        &sql,
        "INSERT INTO out SELECT id, first_name AS name FROM src",
    )
    .unwrap();
    let out_schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let out = Arc::new(MemTable::try_new(out_schema, vec![vec![]]).unwrap());
    let spec = PipelineSpec {
        name: name.into(),
        source_table: "src".into(),
        schema: SourceSchema::users_created(),
        max_records: 1_000,
        trigger,
        sql_files: vec![sql],
        fail_on_data_loss: true,
    };
    let checkpoint = Checkpoint::open(source.checkpoint_dir.to_str().unwrap(), "t").unwrap();
    let pipeline = Pipeline::new(
        spec,
        Box::new(source),
        vec![("out".into(), out.clone() as _)],
        checkpoint,
        None,
    )
    .await
    .unwrap();
    (pipeline, out)
}

/// Runs the pipeline over `deliveries`; returns the reports, the ranges
/// replays read, and the names written to the sink in order.
async fn run(
    name: &str,
    trigger: Trigger,
    assignment: Option<&[i32]>,
    before_start: Vec<OtherPlan>,
    deliveries: Vec<Delivery>,
) -> (Vec<BatchReport>, Vec<OffsetRanges>, Vec<String>) {
    let asked = Arc::default();
    run_observed(name, trigger, assignment, before_start, deliveries, &asked).await
}

/// [`run`], also recording what the source saw at each `next_batch`.
async fn run_observed(
    name: &str,
    trigger: Trigger,
    assignment: Option<&[i32]>,
    before_start: Vec<OtherPlan>,
    deliveries: Vec<Delivery>,
    asked_mid_batch: &Arc<std::sync::Mutex<Vec<bool>>>,
) -> (Vec<BatchReport>, Vec<OffsetRanges>, Vec<String>) {
    let dir = temp_dir(name);
    let checkpoint_dir = dir.join("checkpoint");
    for plan in before_start {
        plan_elsewhere(&checkpoint_dir, plan).await.unwrap();
    }
    let fetched = Arc::new(std::sync::Mutex::new(Vec::new()));
    let source = ScriptedSource {
        deliveries: deliveries.into(),
        checkpoint_dir: checkpoint_dir.clone(),
        fetched: fetched.clone(),
        assignment: assignment.map(<[i32]>::to_vec),
        asked_mid_batch: asked_mid_batch.clone(),
    };
    let (mut pipeline, out) = copy_pipeline(name, &dir, trigger, source).await;
    let mut reports = Collect(Vec::new());
    let (_stop, stopped) = watch::channel(false);
    pipeline.run(&mut reports, stopped).await.unwrap();

    let mut names = Vec::new();
    for partition in out.batches.iter() {
        for batch in partition.read().await.iter() {
            let batch: &RecordBatch = batch;
            let column = batch.column(1).as_string::<i32>();
            names.extend(column.iter().map(|v| v.unwrap_or_default().to_string()));
        }
    }
    let fetched = fetched.lock().unwrap().clone();
    std::fs::remove_dir_all(&dir).ok();
    (reports.0, fetched, names)
}

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
                write_time: 5_000_000,
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
    assert_eq!(reports[1].write_time, 5_000_000);
    assert!(reports[2].write_time >= 5_000_000 + 9);
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
                write_time: 1_000,
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
                write_time: 1_000,
                committed: true,
            },
            OtherPlan {
                batch_id: 3,
                ranges: ranges(&[(0, 4, 9)]),
                write_time: 7_000,
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
            write_time: 1_000,
            committed: true,
        },
        OtherPlan {
            batch_id: 3,
            ranges: ranges(&[(0, 4, 9), (1, 0, 3)]),
            write_time: 7_000,
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
        (3, true, ranges(&[(0, 4, 9), (1, 0, 3)]), 7_000)
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
    let year_ahead = now_micros() + 365 * 24 * 3_600 * 1_000_000;
    // Written as that instance left it: committed up to 4, floor a year ahead.
    std::fs::create_dir_all(checkpoint_dir.join("t")).unwrap();
    std::fs::write(
        checkpoint_dir.join("t/partition-3.json"),
        format!(r#"{{"committed_end":4,"write_time_end":{year_ahead},"pending":null}}"#),
    )
    .unwrap();
    let source = ScriptedSource {
        deliveries: vec![Delivery {
            other: None,
            records: vec![(3, 4..8)],
        }]
        .into(),
        checkpoint_dir: checkpoint_dir.clone(),
        fetched: Arc::default(),
        assignment: Some(vec![3]),
        asked_mid_batch: Arc::default(),
    };
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
