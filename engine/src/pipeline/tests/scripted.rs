//! The scripted source and the harness the pipeline's tests share: the
//! one piece faked is the source (it stands in for Kafka's delivery and for
//! another instance writing to the shared checkpoint); the checkpoint is a
//! real file checkpoint, the SQL real, the sink in memory.

use std::collections::{BTreeMap, VecDeque};

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use tokio::sync::watch;

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;
use crate::checkpoint::CheckpointError;
use crate::source::{OffsetRange, SourceError};
pub(super) use crate::write_time::at;

/// What another instance sharing the checkpoint plans before a delivery.
pub(super) struct OtherPlan {
    pub(super) batch_id: u64,
    pub(super) ranges: OffsetRanges,
    pub(super) write_time: WriteTime,
    /// Whether it also committed the batch.
    pub(super) committed: bool,
}

/// One `next_batch` answer: `(partition, offsets)` from the log, after the
/// other instance (if any) planned its batch.
pub(super) struct Delivery {
    pub(super) other: Option<OtherPlan>,
    pub(super) records: Vec<(i32, std::ops::Range<i64>)>,
}

/// A source that answers from a fixed log, delivery by delivery, then
/// reports itself finished; it records every range read by a replay.
pub(super) struct ScriptedSource {
    pub(super) deliveries: VecDeque<Delivery>,
    pub(super) checkpoint_dir: PathBuf,
    pub(super) fetched: Arc<std::sync::Mutex<Vec<OffsetRanges>>>,
    /// The partitions this instance owns; `None`: no consumer group.
    pub(super) assignment: Option<Vec<i32>>,
    /// Per `next_batch` call: whether the checkpoint held a batch planned
    /// and not yet committed (it never should: see the fencing test).
    pub(super) asked_mid_batch: Arc<std::sync::Mutex<Vec<bool>>>,
    /// Every `resume_at` the engine asked for, in order.
    pub(super) moved: Arc<std::sync::Mutex<Vec<BTreeMap<i32, i64>>>>,
    /// Per partition, the log's first offset (retention); 0 if absent.
    pub(super) earliest: BTreeMap<i32, i64>,
    /// The log's records, if not [`record`] at every offset: an offset
    /// absent from it was compacted away.
    pub(super) log: Option<BTreeMap<(i32, i64), RawRecord>>,
    /// `fetch_ranges` fails on this call (0 = the first): a crash mid-replay.
    pub(super) fail_fetch: Option<usize>,
    /// Every `commit` the engine made, in order.
    pub(super) committed: Arc<std::sync::Mutex<Vec<OffsetRanges>>>,
}

impl ScriptedSource {
    /// A source that delivers `deliveries`, sharing the checkpoint at
    /// `checkpoint_dir`, owning `assignment`, with the whole log retained.
    pub(super) fn new(
        deliveries: Vec<Delivery>,
        checkpoint_dir: &std::path::Path,
        assignment: Option<&[i32]>,
    ) -> Self {
        ScriptedSource {
            deliveries: deliveries.into(),
            checkpoint_dir: checkpoint_dir.to_path_buf(),
            fetched: Arc::default(),
            assignment: assignment.map(<[i32]>::to_vec),
            asked_mid_batch: Arc::default(),
            moved: Arc::default(),
            earliest: BTreeMap::new(),
            log: None,
            fail_fetch: None,
            committed: Arc::default(),
        }
    }

    /// The record at `offset` of `partition`, unless it is compacted away.
    fn at(&self, partition: i32, offset: i64) -> Option<RawRecord> {
        match &self.log {
            Some(log) => log.get(&(partition, offset)).cloned(),
            None => Some(record(partition, offset)),
        }
    }

    pub(super) async fn batch_in_flight(&self) -> bool {
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

pub(super) fn record(partition: i32, offset: i64) -> RawRecord {
    let value = format!(
        r#"{{"id":"00000000-0000-4000-8000-{partition:04}{offset:08}","first_name":"p{partition}o{offset}"}}"#
    );
    RawRecord {
        partition,
        offset,
        timestamp_ms: None,
        key: None,
        value: Some(value.into_bytes().into()),
    }
}

#[async_trait]
impl Source for ScriptedSource {
    async fn next_batch(
        &mut self,
        _bounds: BatchBounds,
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
                .map_err(|e| SourceError::other_from("scripted plan", e))?;
        }
        let this = &*self;
        Ok(Some(
            delivery
                .records
                .into_iter()
                .flat_map(|(p, offsets)| offsets.filter_map(move |o| this.at(p, o)))
                .collect(),
        ))
    }

    async fn commit(&mut self, ranges: &OffsetRanges) -> Result<(), SourceError> {
        self.committed.lock().unwrap().push(ranges.clone());
        Ok(())
    }

    async fn fetch_ranges(
        &mut self,
        ranges: &OffsetRanges,
        bounds: BatchBounds,
    ) -> Result<Vec<RawRecord>, SourceError> {
        let call = {
            let mut fetched = self.fetched.lock().unwrap();
            fetched.push(ranges.clone());
            fetched.len() - 1
        };
        if self.fail_fetch == Some(call) {
            return Err(SourceError::connection("the replay reader died"));
        }
        // A prefix in (partition, offset) order, up to the bounds.
        let mut piece = Vec::new();
        let mut tally = bounds.tally();
        for (&p, r) in ranges {
            for o in r.start..r.end {
                if tally.full() {
                    return Ok(piece);
                }
                if let Some(record) = self.at(p, o) {
                    tally.add(crate::source::record_bytes(&record));
                    piece.push(record);
                }
            }
        }
        Ok(piece)
    }

    async fn earliest_offset(&mut self, partition: i32) -> Result<i64, SourceError> {
        Ok(self.earliest.get(&partition).copied().unwrap_or(0))
    }

    async fn resume_at(&mut self, positions: &BTreeMap<i32, i64>) -> Result<(), SourceError> {
        self.moved.lock().unwrap().push(positions.clone());
        Ok(())
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
pub(super) async fn plan_elsewhere(
    dir: &std::path::Path,
    plan: OtherPlan,
) -> Result<(), CheckpointError> {
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

pub(super) struct Collect(pub(super) Vec<BatchReport>);

/// A continuous job (the scripted source ends it when its script runs out).
/// The scripted source answers at once, so the interval never passes: no
/// batch is topped up with the next delivery however slow the machine is.
pub(super) const CONTINUOUS: Trigger = Trigger::ProcessingTime(std::time::Duration::from_secs(600));
pub(super) const AVAILABLE_NOW: Trigger = Trigger::AvailableNow;

impl Reporter for Collect {
    fn batch_done(&mut self, report: &BatchReport) {
        self.0.push(report.clone());
    }
}

pub(super) fn temp_dir(name: &str) -> PathBuf {
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

pub(super) fn ranges(list: &[(i32, i64, i64)]) -> OffsetRanges {
    list.iter()
        .map(|&(p, start, end)| (p, OffsetRange { start, end }))
        .collect()
}

/// The copy transform (`src` → an in-memory `out`) over `source`, its SQL
/// file in `dir`, its checkpoint at `source.checkpoint_dir`.
pub(super) async fn copy_pipeline(
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
        bounds: BatchBounds {
            max_records: 1_000,
            max_bytes: 1 << 20,
        },
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

/// The `name` column of every row the sink received, in order.
pub(super) async fn written_names(out: &MemTable) -> Vec<String> {
    let mut names = Vec::new();
    for partition in out.batches.iter() {
        for batch in partition.read().await.iter() {
            let batch: &RecordBatch = batch;
            let column = batch.column(1).as_string::<i32>();
            names.extend(column.iter().map(|v| v.unwrap_or_default().to_string()));
        }
    }
    names
}

/// Runs the pipeline over `deliveries`; returns the reports, the ranges
/// replays read, and the names written to the sink in order.
pub(super) async fn run(
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
pub(super) async fn run_observed(
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
    let mut source = ScriptedSource::new(deliveries, &checkpoint_dir, assignment);
    source.asked_mid_batch = asked_mid_batch.clone();
    let fetched = source.fetched.clone();
    let (mut pipeline, out) = copy_pipeline(name, &dir, trigger, source).await;
    let mut reports = Collect(Vec::new());
    let (_stop, stopped) = watch::channel(false);
    pipeline.run(&mut reports, stopped).await.unwrap();

    let names = written_names(&out).await;
    let fetched = fetched.lock().unwrap().clone();
    std::fs::remove_dir_all(&dir).ok();
    (reports.0, fetched, names)
}
