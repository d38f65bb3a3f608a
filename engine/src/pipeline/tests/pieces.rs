//! A poison batch must not stall the job (issue 16, scenario 6): a replay
//! of a plan larger than the bounds in force is read and written in pieces,
//! every row at the write time it had in the first attempt, and the plan is
//! committed once, after its last piece.

use std::collections::HashMap;
use std::fmt;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use ember_decode::{ColumnType, FieldSpec};
use futures::StreamExt;

use super::*;
use crate::error::SinkFailure;

/// Every row written, `(name, write time)`, and every delete, `(id, write time)`.
#[derive(Debug, Default)]
struct Written {
    rows: Vec<(String, WriteTime)>,
    deletes: Vec<(String, WriteTime)>,
}

type Shared = Arc<std::sync::Mutex<Written>>;

/// A sink table that keeps the write time of every row (row `i` of a
/// write at the batch context's write time + `i`, as the Cassandra sink
/// does) and applies deletes by keeping them.
#[derive(Debug)]
struct TimedTable {
    schema: SchemaRef,
    written: Shared,
}

#[async_trait]
impl TableProvider for TimedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::NotImplemented("write-only".into()))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        _op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let sink = TimedSink {
            schema: self.schema.clone(),
            written: self.written.clone(),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

struct TimedSink {
    schema: SchemaRef,
    written: Shared,
}

impl fmt::Debug for TimedSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TimedSink")
    }
}

impl DisplayAs for TimedSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TimedSink")
    }
}

#[async_trait]
impl DataSink for TimedSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let Some(batch) = crate::BatchContext::of(context) else {
            return Err(DataFusionError::Internal("no batch context".into()));
        };
        let mut rows = 0u64;
        while let Some(part) = data.next().await {
            let part = part?;
            let names = part.column(1).as_string::<i32>();
            let mut written = self.written.lock().unwrap();
            for (i, name) in names.iter().enumerate() {
                let at = batch.write_time.after_rows(rows as usize + i);
                written
                    .rows
                    .push((name.unwrap_or_default().to_string(), at));
            }
            rows += part.num_rows() as u64;
        }
        Ok(rows)
    }
}

#[async_trait]
impl crate::DeleteSink for TimedTable {
    fn describe(&self) -> String {
        "timed".into()
    }

    fn key_schema(&self) -> SourceSchema {
        SourceSchema {
            fields: vec![FieldSpec {
                name: "id".into(),
                ty: ColumnType::Uuid,
                required: true,
            }],
        }
    }

    async fn delete(
        &self,
        keys: RecordBatch,
        write_times: Vec<WriteTime>,
    ) -> Result<Vec<(usize, String)>, SinkFailure> {
        let ids = keys.column(0).as_string::<i32>();
        let mut written = self.written.lock().unwrap();
        for (row, at) in write_times.into_iter().enumerate() {
            written.deletes.push((ids.value(row).to_string(), at));
        }
        Ok(Vec::new())
    }
}

fn id(partition: i32, offset: i64) -> String {
    format!("00000000-0000-4000-8000-{partition:04}{offset:08}")
}

/// A row of `id` named `name`, keyed by `id`.
fn upsert(partition: i32, offset: i64, id: &str, name: &str) -> RawRecord {
    RawRecord {
        partition,
        offset,
        timestamp_ms: None,
        key: Some(id.as_bytes().to_vec().into()),
        value: Some(
            format!(r#"{{"id":"{id}","first_name":"{name}"}}"#)
                .into_bytes()
                .into(),
        ),
    }
}

fn tombstone(partition: i32, offset: i64, id: &str) -> RawRecord {
    RawRecord {
        partition,
        offset,
        timestamp_ms: None,
        key: Some(id.as_bytes().to_vec().into()),
        value: None,
    }
}

/// Partition 0: offset 3 compacted away, 5 not JSON (dead-lettered), a
/// tombstone of `b` at 2 that the re-insert at 7 supersedes (its delete
/// must stay below the re-insert, wherever the pieces cut), and one of `d`
/// at 8 that nothing does. Partition 1: six plain rows. 15 records in all,
/// 12 of them rows.
fn awkward_log() -> BTreeMap<(i32, i64), RawRecord> {
    let b = id(0, 1);
    let d = id(0, 6);
    let mut log = vec![
        upsert(0, 0, &id(0, 0), "p0o0"),
        upsert(0, 1, &b, "p0o1"),
        tombstone(0, 2, &b),
        upsert(0, 4, &id(0, 4), "p0o4"),
        RawRecord {
            value: Some(b"not json".to_vec().into()),
            ..upsert(0, 5, &id(0, 5), "")
        },
        upsert(0, 6, &d, "p0o6"),
        upsert(0, 7, &b, "p0o7"),
        tombstone(0, 8, &d),
        upsert(0, 9, &id(0, 9), "p0o9"),
    ];
    log.extend((0..6).map(|o| upsert(1, o, &id(1, o), &format!("p1o{o}"))));
    log.into_iter()
        .map(|r| ((r.partition, r.offset), r))
        .collect()
}

const PLAN: &[(i32, i64, i64)] = &[(0, 0, 10), (1, 0, 6)];

/// The copy transform into a [`TimedTable`] (deletes on) over `source`.
async fn timed_pipeline(
    dir: &std::path::Path,
    source: ScriptedSource,
    max_records: usize,
    written: &Shared,
) -> Pipeline {
    let sql = dir.join("copy.sql");
    std::fs::write(
        &sql,
        "INSERT INTO out SELECT id, first_name AS name FROM src",
    )
    .unwrap();
    let table = Arc::new(TimedTable {
        schema: Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("name", DataType::Utf8, true),
        ])),
        written: written.clone(),
    });
    let spec = PipelineSpec {
        name: "pieces".into(),
        source_table: "src".into(),
        schema: SourceSchema::users_created(),
        bounds: BatchBounds {
            max_records,
            max_bytes: 1 << 20,
        },
        trigger: AVAILABLE_NOW,
        sql_files: vec![sql],
        fail_on_data_loss: true,
    };
    let checkpoint = Checkpoint::open(source.checkpoint_dir.to_str().unwrap(), "t").unwrap();
    Pipeline::new(
        spec,
        Box::new(source),
        vec![("out".into(), table.clone() as _)],
        checkpoint,
        None,
    )
    .await
    .unwrap()
    .with_deletes(vec![table as _])
}

/// The first attempt: the whole log delivered as one batch, under bounds
/// that fit it. Returns its report and what it wrote.
async fn first_attempt() -> (BatchReport, Written) {
    let dir = temp_dir("pieces-first");
    let mut source = ScriptedSource::new(
        vec![Delivery {
            other: None,
            records: vec![(0, 0..10), (1, 0..6)],
        }],
        &dir.join("checkpoint"),
        None,
    );
    source.log = Some(awkward_log());
    let written = Shared::default();
    let mut pipeline = timed_pipeline(&dir, source, 1_000, &written).await;
    let mut reports = Collect(Vec::new());
    let (_stop, stopped) = watch::channel(false);
    pipeline.run(&mut reports, stopped).await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(reports.0.len(), 1);
    let written = std::mem::take(&mut *written.lock().unwrap());
    (reports.0.remove(0), written)
}

/// A replay of the first attempt's plan (left uncommitted in a checkpoint
/// of its own) under `max_records`, failing on fetch `fail_fetch`.
struct Replay {
    dir: PathBuf,
    written: Shared,
}

impl Replay {
    async fn new(first: &BatchReport) -> Replay {
        let dir = temp_dir("pieces-replay");
        plan_elsewhere(
            &dir.join("checkpoint"),
            OtherPlan {
                batch_id: first.batch_id,
                ranges: first.ranges.clone(),
                write_time: first.write_time,
                committed: false,
            },
        )
        .await
        .unwrap();
        Replay {
            dir,
            written: Shared::default(),
        }
    }

    /// One run; returns its result, its reports, the ranges each fetch
    /// asked for and the commits it made.
    async fn run(
        &self,
        max_records: usize,
        fail_fetch: Option<usize>,
    ) -> (
        Result<RunSummary, EngineError>,
        Vec<BatchReport>,
        Vec<OffsetRanges>,
        Vec<OffsetRanges>,
    ) {
        let mut source = ScriptedSource::new(vec![], &self.dir.join("checkpoint"), None);
        source.log = Some(awkward_log());
        source.fail_fetch = fail_fetch;
        let (fetched, committed) = (source.fetched.clone(), source.committed.clone());
        let mut pipeline = timed_pipeline(&self.dir, source, max_records, &self.written).await;
        let mut reports = Collect(Vec::new());
        let (_stop, stopped) = watch::channel(false);
        let result = pipeline.run(&mut reports, stopped).await;
        let fetched = fetched.lock().unwrap().clone();
        let committed = committed.lock().unwrap().clone();
        (result, reports.0, fetched, committed)
    }

    async fn pending(&self) -> bool {
        let mut view =
            Checkpoint::open(self.dir.join("checkpoint").to_str().unwrap(), "t").unwrap();
        let states = view.load_all().await.unwrap().clone();
        states.values().any(|s| s.pending.is_some())
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn by_name(pairs: &[(String, WriteTime)]) -> HashMap<String, WriteTime> {
    pairs.iter().cloned().collect()
}

#[tokio::test]
async fn a_replay_larger_than_max_records_is_written_in_pieces_at_the_first_attempts_write_times() {
    let (first, original) = first_attempt().await;
    assert_eq!(first.ranges, ranges(PLAN));
    assert_eq!(
        (first.rows_in, first.decoded, first.deleted, first.rejected),
        (15, 12, 2, 1)
    );
    assert_eq!(original.rows.len(), 12);

    let replay = Replay::new(&first).await;
    let (result, reports, fetched, committed) = replay.run(3, None).await;
    result.unwrap();
    // Pieces of at most 3 records, each read from where the last ended
    // (offset 3 is gone, so the second piece is 4, 5, 6).
    assert_eq!(
        fetched,
        vec![
            ranges(&[(0, 0, 10), (1, 0, 6)]),
            ranges(&[(0, 3, 10), (1, 0, 6)]),
            ranges(&[(0, 7, 10), (1, 0, 6)]),
            ranges(&[(1, 0, 6)]),
            ranges(&[(1, 3, 6)]),
        ]
    );
    // One replayed batch, the whole plan's, committed once.
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!((r.batch_id, r.replay, r.pieces), (first.batch_id, true, 5));
    assert_eq!(
        (r.ranges.clone(), r.write_time),
        (ranges(PLAN), first.write_time)
    );
    assert_eq!(
        (r.rows_in, r.decoded, r.deleted, r.rejected),
        (15, 12, 2, 1)
    );
    assert_eq!(r.rows_in, r.decoded + r.deleted + r.rejected);
    assert_eq!(committed, vec![ranges(PLAN)]);
    assert!(!replay.pending().await);

    // Every row and every delete at exactly its first-attempt write time.
    let replayed = std::mem::take(&mut *replay.written.lock().unwrap());
    assert_eq!(by_name(&replayed.rows), by_name(&original.rows));
    assert_eq!(replayed.rows.len(), 12, "every row once");
    assert_eq!(by_name(&replayed.deletes), by_name(&original.deletes));
    // b's tombstone stays below its re-insert in the piece after it.
    let w = first.write_time;
    let deletes = by_name(&replayed.deletes);
    assert_eq!(deletes[&id(0, 1)], w.just_before());
    assert_eq!(deletes[&id(0, 6)], w.after_rows(15));
    assert!(by_name(&replayed.rows)["p0o7"] > w.just_before());
}

#[tokio::test]
async fn a_crash_between_pieces_replays_the_plan_again_and_commits_it_once() {
    let (first, original) = first_attempt().await;
    let replay = Replay::new(&first).await;
    // The reader dies when the third piece is asked for: two are written.
    let (result, reports, _, committed) = replay.run(3, Some(2)).await;
    assert!(result.is_err());
    assert!(reports.is_empty());
    assert!(committed.is_empty(), "{committed:?}");
    assert!(replay.pending().await, "the plan stays pending");
    let partial = replay.written.lock().unwrap().rows.clone();
    assert_eq!(partial.len(), 4, "{partial:?}");
    assert!(replay.written.lock().unwrap().deletes.is_empty());

    // The next start replays it whole again, at the same times.
    let (result, reports, _, committed) = replay.run(3, None).await;
    result.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].replay, reports[0].rows_in), (true, 15));
    assert_eq!(committed, vec![ranges(PLAN)]);
    assert!(!replay.pending().await);
    let written = std::mem::take(&mut *replay.written.lock().unwrap());
    let want = by_name(&original.rows);
    assert_eq!(written.rows.len(), 4 + 12);
    for (name, at) in &written.rows {
        assert_eq!(
            want.get(name),
            Some(at),
            "{name}: the same write time every time"
        );
    }
    assert_eq!(by_name(&written.deletes), by_name(&original.deletes));
}

#[tokio::test]
async fn a_record_larger_than_max_bytes_is_a_piece_of_its_own() {
    // Bytes bound the pieces as they bound batches: with max_bytes below a
    // single record, every piece is one record, and none stalls.
    let (first, original) = first_attempt().await;
    let replay = Replay::new(&first).await;
    let mut source = ScriptedSource::new(vec![], &replay.dir.join("checkpoint"), None);
    source.log = Some(awkward_log());
    let fetched = source.fetched.clone();
    let mut pipeline = timed_pipeline(&replay.dir, source, 1_000, &replay.written).await;
    pipeline.spec.bounds.max_bytes = 10;
    let mut reports = Collect(Vec::new());
    let (_stop, stopped) = watch::channel(false);
    pipeline.run(&mut reports, stopped).await.unwrap();
    assert_eq!(reports.0[0].pieces, 15);
    assert_eq!(fetched.lock().unwrap().len(), 15);
    let written = replay.written.lock().unwrap();
    assert_eq!(by_name(&written.rows), by_name(&original.rows));
}
