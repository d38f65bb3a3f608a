use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use ember_decode::{ColumnType, FieldSpec};

use super::*;
use crate::write_time::at;

const ID: &str = "6f1c5a5e-4b2d-4c1e-9a43-2d1f5e8b7c90";

fn field(name: &str, ty: ColumnType) -> FieldSpec {
    FieldSpec {
        name: name.into(),
        ty,
        required: false,
    }
}

fn by_id() -> KeyDecoder {
    KeyDecoder::new(SourceSchema {
        fields: vec![field("id", ColumnType::Uuid)],
    })
}

fn compound() -> KeyDecoder {
    KeyDecoder::new(SourceSchema {
        fields: vec![
            field("user", ColumnType::String),
            field("n", ColumnType::Int),
        ],
    })
}

#[test]
fn a_json_object_key_names_the_primary_key_columns() {
    let key = format!(r#" {{"id":"{ID}","first_name":"ignored"}}"#);
    let d = by_id().decode(&[key.as_bytes()]).unwrap();
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    assert_eq!(d.rows, vec![0]);
    assert_eq!(d.batch.column(0).as_string::<i32>().value(0), ID);

    let d = compound()
        .decode(&[br#"{"n":"7","user":"ana"}"#, br#"{"user":"bo","n":8}"#])
        .unwrap();
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    assert_eq!(d.batch.column(0).as_string::<i32>().value(1), "bo");
    let n = d.batch.column(1).as_primitive::<Int64Type>();
    assert_eq!((n.value(0), n.value(1)), (7, 8));
}

#[test]
fn a_plain_key_is_a_single_column_primary_key() {
    let quoted = format!("\"{ID}\"");
    let keys: Vec<&[u8]> = vec![ID.as_bytes(), b"not-a-uuid", quoted.as_bytes(), b"\"open"];
    let d = by_id().decode(&keys).unwrap();
    assert_eq!(d.rows, vec![0, 2]);
    let ids = d.batch.column(0).as_string::<i32>();
    assert_eq!((ids.value(0), ids.value(1)), (ID, ID));
    let reasons: Vec<(usize, &str)> = d
        .rejects
        .iter()
        .map(|(i, m)| (*i, m.split(':').next().unwrap_or_default()))
        .collect();
    assert_eq!(reasons, vec![(1, "invalid_uuid"), (3, "invalid_json")]);

    // Quotes and backslashes in a plain text key stay what they were.
    let text = KeyDecoder::new(SourceSchema {
        fields: vec![field("name", ColumnType::String)],
    });
    let d = text.decode(&[br#"a "quoted" \ key"#]).unwrap();
    assert_eq!(
        d.batch.column(0).as_string::<i32>().value(0),
        r#"a "quoted" \ key"#
    );
}

#[test]
fn a_key_that_does_not_name_the_whole_primary_key_is_refused() {
    let keys: Vec<&[u8]> = vec![
        br#"{"user":"ana"}"#,
        br#"{"user":"ana","n":null}"#,
        b"ana",
        br#"{"user":"ana","n":1,"n":2}"#,
        b"{not json",
        b"{\xff}",
    ];
    let d = compound().decode(&keys).unwrap();
    assert!(d.rows.is_empty(), "{:?}", d.rows);
    let reasons: Vec<(usize, &str)> = d
        .rejects
        .iter()
        .map(|(i, m)| (*i, m.split(':').next().unwrap_or_default()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (0, "missing_required_field"),
            (1, "missing_required_field"),
            (2, "the primary key has several columns"),
            (3, "duplicate_key"),
            (4, "invalid_json"),
            (5, "invalid_utf8"),
        ]
    );
    assert_eq!(d.batch.num_rows(), 0);
    assert_eq!(d.batch.column(0).len(), 0);
}

fn rec(offset: i64, key: Option<&str>, value: Option<&str>) -> RawRecord {
    RawRecord {
        partition: 0,
        offset,
        timestamp_ms: None,
        key: key.map(|k| k.as_bytes().to_vec().into()),
        value: value.map(|v| v.as_bytes().to_vec().into()),
    }
}

#[test]
fn a_delete_is_above_the_batch_unless_a_later_record_has_its_key() {
    let records = vec![
        rec(0, Some("a"), Some("{}")),
        rec(1, Some("a"), None),
        rec(2, Some("b"), None),
        rec(3, Some("b"), Some("{}")),
        rec(4, None, None),
        rec(5, Some("c"), None),
        rec(6, Some("c"), None),
    ];
    let w = at(1_000);
    let times = write_times(&records, w);
    // a: deleted after its insert, at the batch's top; b: re-inserted later
    // in the batch, so deleted below it; c: the last tombstone is the top.
    assert_eq!(times[1], w.after_rows(7));
    assert_eq!(times[2], w.just_before());
    assert_eq!(times[5], w.just_before());
    assert_eq!(times[6], w.after_rows(7));
}

#[test]
fn a_tombstone_superseded_in_a_later_piece_of_the_plan_is_deleted_below_it() {
    // The plan of the test above, written in three pieces: the times must
    // be those of the plan written whole.
    let records = vec![
        rec(0, Some("a"), Some("{}")),
        rec(1, Some("a"), None),
        rec(2, Some("b"), None),
        rec(3, Some("b"), Some("{}")),
        rec(4, None, None),
        rec(5, Some("c"), None),
        rec(6, Some("c"), None),
    ];
    let mut plan = PlanTombstones::default();
    plan.observe(&records[0..2], &[1]);
    plan.observe(&records[2..3], &[0]);
    plan.observe(&records[3..6], &[1, 2]);
    plan.observe(&records[6..7], &[0]);
    let offsets: Vec<i64> = plan.records().iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![1, 2, 4, 5, 6]);
    let whole = write_times(&records, at(1_000));
    let want: Vec<WriteTime> = offsets.iter().map(|&o| whole[o as usize]).collect();
    assert_eq!(plan.times(at(1_000), records.len()), want);
    assert_eq!(want[1], at(999), "b is re-inserted in a later piece");
}

/// Keeps what it was asked to delete; refuses keys equal to `refuse`.
struct Recorded {
    refuse: &'static str,
    deleted: std::sync::Mutex<Vec<(String, WriteTime)>>,
}

#[async_trait]
impl DeleteSink for Recorded {
    fn describe(&self) -> String {
        "recorded".into()
    }

    fn key_schema(&self) -> SourceSchema {
        SourceSchema {
            fields: vec![field("id", ColumnType::Uuid)],
        }
    }

    async fn delete(
        &self,
        keys: RecordBatch,
        write_times: Vec<WriteTime>,
    ) -> Result<Vec<(usize, String)>, SinkFailure> {
        let ids = keys.column(0).as_string::<i32>();
        let mut refused = Vec::new();
        let mut deleted = self.deleted.lock().unwrap();
        for (row, at) in write_times.into_iter().enumerate() {
            if ids.value(row) == self.refuse {
                refused.push((row, "refused".to_string()));
            } else {
                deleted.push((ids.value(row).to_string(), at));
            }
        }
        Ok(refused)
    }
}

#[tokio::test]
async fn tombstones_are_deleted_or_set_aside_with_their_reason() {
    const OTHER: &str = "00000000-0000-4000-8000-000000000002";
    let sink = Arc::new(Recorded {
        refuse: OTHER,
        deleted: Default::default(),
    });
    let deletes = Deletes::new(vec![sink.clone()]);
    let json_key = format!(r#"{{"id":"{ID}"}}"#);
    let records = vec![
        rec(0, Some(ID), Some("{}")),
        rec(1, None, None),
        rec(2, Some("nope"), None),
        rec(3, Some(&json_key), None),
        rec(4, Some(OTHER), None),
    ];
    let applied = deletes
        .apply(&records, &[1, 2, 3, 4], &write_times(&records, at(100)))
        .await
        .unwrap();
    assert_eq!(applied.deleted, 1);
    let reasons: Vec<(usize, DeadLetterReason)> = applied
        .letters
        .iter()
        .map(|(i, reason, _)| (*i, *reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (1, DeadLetterReason::TombstoneWithoutKey),
            (2, DeadLetterReason::TombstoneInvalidKey),
            (4, DeadLetterReason::DeleteFailed)
        ]
    );
    assert!(
        applied.letters[1].2.contains("invalid_uuid"),
        "{:?}",
        applied.letters
    );
    // The JSON key's tombstone is the last of its key bytes: the batch's top.
    assert_eq!(
        *sink.deleted.lock().unwrap(),
        vec![(ID.to_string(), at(105))]
    );
}
