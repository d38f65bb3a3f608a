//! Where a partition continues (issue 16, scenarios 1 and 2): the
//! checkpoint decides, never the source's own positions, and offsets that
//! retention deleted are data loss on every path, replays included.

use super::*;

/// What a run over a scripted source left behind.
struct Outcome {
    result: Result<RunSummary, EngineError>,
    reports: Vec<BatchReport>,
    names: Vec<String>,
    /// Every `resume_at` the engine asked the source for.
    moved: Vec<BTreeMap<i32, i64>>,
    fetched: Vec<OffsetRanges>,
    checkpoint: BTreeMap<i32, crate::checkpoint::PartitionState>,
}

/// Runs the copy pipeline over `source` (its checkpoint prepared by
/// `before_start`), with `fail_on_data_loss` as given.
async fn run_source(
    name: &str,
    trigger: Trigger,
    before_start: Vec<OtherPlan>,
    fail_on_data_loss: bool,
    make_source: impl FnOnce(&std::path::Path) -> ScriptedSource,
) -> Outcome {
    let dir = temp_dir(name);
    let checkpoint_dir = dir.join("checkpoint");
    for plan in before_start {
        plan_elsewhere(&checkpoint_dir, plan).await.unwrap();
    }
    let source = make_source(&checkpoint_dir);
    let (moved, fetched) = (source.moved.clone(), source.fetched.clone());
    let (mut pipeline, out) = copy_pipeline(name, &dir, trigger, source).await;
    pipeline.spec.fail_on_data_loss = fail_on_data_loss;
    let mut reports = Collect(Vec::new());
    let (_stop, stopped) = watch::channel(false);
    let result = pipeline.run(&mut reports, stopped).await;
    let mut view = Checkpoint::open(checkpoint_dir.to_str().unwrap(), "t").unwrap();
    let checkpoint = view.load_all().await.unwrap().clone();
    let outcome = Outcome {
        result,
        reports: reports.0,
        names: written_names(&out).await,
        moved: moved.lock().unwrap().clone(),
        fetched: fetched.lock().unwrap().clone(),
        checkpoint,
    };
    std::fs::remove_dir_all(&dir).ok();
    outcome
}

fn committed(batch_id: u64, list: &[(i32, i64, i64)]) -> OtherPlan {
    OtherPlan {
        batch_id,
        ranges: ranges(list),
        write_time: at(1_000_000),
        committed: true,
    }
}

fn planned(batch_id: u64, list: &[(i32, i64, i64)]) -> OtherPlan {
    OtherPlan {
        committed: false,
        ..committed(batch_id, list)
    }
}

fn names(partition: i32, offsets: std::ops::Range<i64>) -> Vec<String> {
    offsets.map(|o| format!("p{partition}o{o}")).collect()
}

#[tokio::test]
async fn a_restart_continues_every_partition_where_the_checkpoint_ends() {
    // Partition 0 committed up to 5; partition 1's first batch was planned
    // and never committed. Whatever the group offsets say (or
    // `starting_offsets`, when they are gone), that is where they go on.
    let outcome = run_source(
        "resume-start",
        CONTINUOUS,
        vec![committed(0, &[(0, 0, 5)]), planned(1, &[(1, 0, 3)])],
        true,
        |dir| ScriptedSource::new(vec![], dir, Some(&[0, 1])),
    )
    .await;
    outcome.result.unwrap();
    assert_eq!(outcome.moved, vec![BTreeMap::from([(0, 5), (1, 0)])]);
}

#[tokio::test]
async fn a_partition_delivered_past_its_checkpoint_end_is_moved_back_to_it() {
    // Partition 1's state appears after this instance started (another
    // instance committed 0..5), then partition 1 comes here delivering from
    // 8: its consumer started at `latest`, the group offsets being gone.
    // Offsets 5..8 were never read, so they are not a gap in the log.
    let deliveries = vec![
        Delivery {
            other: Some(committed(0, &[(1, 0, 5)])),
            records: vec![(0, 0..3)],
        },
        Delivery {
            other: None,
            records: vec![(1, 8..10)],
        },
        // After the move, from where the checkpoint ends.
        Delivery {
            other: None,
            records: vec![(1, 5..10)],
        },
    ];
    let outcome = run_source("move-back", CONTINUOUS, vec![], true, |dir| {
        ScriptedSource::new(deliveries, dir, Some(&[0, 1]))
    })
    .await;
    outcome.result.unwrap();
    assert_eq!(
        outcome.moved,
        vec![BTreeMap::new(), BTreeMap::from([(1, 5)])]
    );
    let mut want = names(0, 0..3);
    want.extend(names(1, 5..10));
    assert_eq!(outcome.names, want);
}

#[tokio::test]
async fn a_gap_right_after_a_move_is_the_logs_own() {
    // Moved back to 5, the partition delivers from 7: 5 and 6 are gone
    // from the log but the log still starts before them (compaction).
    let deliveries = vec![
        Delivery {
            other: Some(committed(0, &[(1, 0, 5)])),
            records: vec![(1, 8..10)],
        },
        Delivery {
            other: None,
            records: vec![(1, 7..10)],
        },
    ];
    let outcome = run_source("gap-after-move", CONTINUOUS, vec![], true, |dir| {
        ScriptedSource::new(deliveries, dir, Some(&[1]))
    })
    .await;
    let summary = outcome.result.unwrap();
    assert_eq!(summary.lost, 0);
    assert_eq!(outcome.names, names(1, 7..10));
}

#[tokio::test]
async fn offsets_deleted_below_a_partitions_checkpoint_end_are_data_loss_at_start() {
    let before = || vec![committed(0, &[(0, 0, 5)])];
    // Retention deleted 5..7 while the job was down.
    let with_retention = |deliveries: Vec<Delivery>| {
        move |dir: &std::path::Path| {
            let mut source = ScriptedSource::new(deliveries, dir, Some(&[0]));
            source.earliest.insert(0, 7);
            source
        }
    };
    let failed = run_source(
        "loss-at-start",
        CONTINUOUS,
        before(),
        true,
        with_retention(vec![]),
    )
    .await;
    let err = failed
        .result
        .expect_err("data loss stops the job")
        .to_string();
    assert!(
        err.contains("partition 0: offsets 5..7 were deleted"),
        "{err}"
    );
    assert!(failed.moved.is_empty(), "{:?}", failed.moved);

    let deliveries = vec![Delivery {
        other: None,
        records: vec![(0, 7..9)],
    }];
    let skipped = run_source(
        "loss-at-start-skipped",
        CONTINUOUS,
        before(),
        false,
        with_retention(deliveries),
    )
    .await;
    assert_eq!(skipped.result.unwrap().lost, 2);
    // It continues at the log's start, and takes 7 as it comes.
    assert_eq!(skipped.moved, vec![BTreeMap::from([(0, 7)])]);
    assert_eq!(skipped.names, names(0, 7..9));
}

#[tokio::test]
async fn a_source_that_jumped_past_deleted_offsets_is_moved_to_the_logs_start() {
    // Partition 1 (its state written by another instance after this one
    // started: committed up to 5) arrives from 20: the consumer found 5
    // deleted and jumped to `latest`. 5..12 are lost; 12..20 still exist
    // and must be read, not skipped with them.
    let deliveries = vec![
        Delivery {
            other: Some(committed(0, &[(1, 0, 5)])),
            records: vec![(1, 20..22)],
        },
        // Moved back to 5, it jumps to `latest` again.
        Delivery {
            other: None,
            records: vec![(1, 22..23)],
        },
        Delivery {
            other: None,
            records: vec![(1, 12..23)],
        },
    ];
    let outcome = run_source("jumped", CONTINUOUS, vec![], false, |dir| {
        let mut source = ScriptedSource::new(deliveries, dir, Some(&[1]));
        source.earliest.insert(1, 12);
        source
    })
    .await;
    assert_eq!(outcome.result.unwrap().lost, 7);
    assert_eq!(
        outcome.moved,
        vec![
            BTreeMap::new(),
            BTreeMap::from([(1, 5)]),
            BTreeMap::from([(1, 12)])
        ]
    );
    assert_eq!(outcome.names, names(1, 12..23));
}

#[tokio::test]
async fn a_replay_of_a_partly_deleted_plan_is_data_loss() {
    // Batch 0 was planned over 0..10 and never committed; retention has
    // deleted 0..4 since.
    let retained_from = |earliest: i64| {
        move |dir: &std::path::Path| {
            let mut source = ScriptedSource::new(vec![], dir, None);
            source.earliest.insert(0, earliest);
            source
        }
    };
    let plan = || vec![planned(0, &[(0, 0, 10)])];
    let failed = run_source("replay-loss", AVAILABLE_NOW, plan(), true, retained_from(4)).await;
    let err = failed
        .result
        .expect_err("data loss stops a replay too")
        .to_string();
    assert!(
        err.contains("partition 0: offsets 0..4 were deleted"),
        "{err}"
    );
    assert!(failed.fetched.is_empty());
    assert!(failed.checkpoint[&0].pending.is_some());

    let skipped = run_source(
        "replay-skip",
        AVAILABLE_NOW,
        plan(),
        false,
        retained_from(4),
    )
    .await;
    assert_eq!(skipped.result.unwrap().lost, 4);
    assert_eq!(skipped.fetched, vec![ranges(&[(0, 4, 10)])]);
    assert_eq!(skipped.names, names(0, 4..10));
    let report = &skipped.reports[0];
    assert_eq!((report.replay, report.rows_in), (true, 6));
    assert_eq!(report.ranges, ranges(&[(0, 0, 10)]));
    assert_eq!(skipped.checkpoint[&0].committed_end, Some(10));
    assert_eq!(skipped.checkpoint[&0].pending, None);
}

#[tokio::test]
async fn a_replay_of_a_wholly_deleted_plan_commits_it_empty() {
    let outcome = run_source(
        "replay-gone",
        AVAILABLE_NOW,
        vec![planned(0, &[(0, 0, 10)])],
        false,
        |dir| {
            let mut source = ScriptedSource::new(vec![], dir, None);
            source.earliest.insert(0, 12);
            source
        },
    )
    .await;
    // 0..10 in the plan, 10..12 past it: all counted once.
    assert_eq!(outcome.result.unwrap().lost, 12);
    assert!(outcome.fetched.is_empty(), "nothing left to read");
    assert!(outcome.names.is_empty());
    assert_eq!(outcome.checkpoint[&0].pending, None);
    assert_eq!(outcome.checkpoint[&0].committed_end, Some(10));
    assert_eq!(outcome.moved, vec![BTreeMap::from([(0, 12)])]);
}

#[tokio::test]
async fn a_partition_another_instance_changed_since_it_was_read_is_left_to_it() {
    // Partition 1 is processed here up to 3. Then another instance takes it
    // over and commits 3..8, while this one (its view of the assignment not
    // updated yet) still collects 3..6: planning those would move the
    // committed end back and write older records after newer ones.
    let deliveries = vec![
        Delivery {
            other: None,
            records: vec![(1, 0..3)],
        },
        Delivery {
            other: Some(committed(7, &[(1, 3, 8)])),
            records: vec![(1, 3..6)],
        },
        // Moved to where the checkpoint continues now.
        Delivery {
            other: None,
            records: vec![(1, 8..10)],
        },
    ];
    let outcome = run_source("fenced", CONTINUOUS, vec![], true, |dir| {
        ScriptedSource::new(deliveries, dir, Some(&[0, 1]))
    })
    .await;
    outcome.result.unwrap();
    let mut want = names(1, 0..3);
    want.extend(names(1, 8..10));
    assert_eq!(outcome.names, want, "3..5 are the other instance's");
    assert!(
        outcome.moved.contains(&BTreeMap::from([(1, 8)])),
        "{:?}",
        outcome.moved
    );
    assert_eq!(outcome.checkpoint[&1].committed_end, Some(10));
    assert_eq!(outcome.checkpoint[&1].pending, None);
}

#[tokio::test]
async fn records_collected_just_before_a_revoke_are_not_planned() {
    // Partition 1 is no longer assigned here when the batch closes.
    let deliveries = vec![Delivery {
        other: None,
        records: vec![(0, 0..2), (1, 0..4)],
    }];
    let outcome = run_source("revoked", CONTINUOUS, vec![], true, |dir| {
        ScriptedSource::new(deliveries, dir, Some(&[0]))
    })
    .await;
    outcome.result.unwrap();
    assert_eq!(outcome.names, names(0, 0..2));
    assert!(!outcome.checkpoint.contains_key(&1));
}
