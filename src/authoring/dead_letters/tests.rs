use std::path::Path;

use bytes::Bytes;

use super::*;

fn letter(reason: Option<&str>, timestamp_ms: Option<i64>) -> StoredRecord {
    StoredRecord {
        partition: 0,
        offset: 0,
        timestamp_ms,
        key: None,
        value: Some(Bytes::from_static(b"{")),
        headers: reason
            .map(|r| vec![(REASON.to_string(), r.to_string())])
            .unwrap_or_default(),
    }
}

#[test]
fn letters_are_counted_by_reason_with_their_oldest_and_newest_times() {
    let letters = [
        letter(Some("invalid_json"), Some(30)),
        letter(Some("transform_failed"), Some(5)),
        letter(Some("invalid_json"), Some(10)),
        letter(Some("invalid_json"), None),
        letter(None, Some(7)),
    ];
    let counts = count_by_reason(&letters);
    let got: Vec<_> = counts
        .iter()
        .map(|c| (c.reason.as_str(), c.count, c.oldest_ms, c.newest_ms))
        .collect();
    assert_eq!(
        got,
        [
            ("invalid_json", 3, Some(10), Some(30)),
            ("transform_failed", 1, Some(5), Some(5)),
            ("unknown", 1, Some(7), Some(7)),
        ]
    );
}

#[test]
fn a_redrive_reads_the_dead_letter_topic_with_a_group_and_checkpoint_of_its_own() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/users.toml");
    let loaded = LoadedPipeline::load(&file, Vec::new()).unwrap();
    let (group, dlq, checkpoint) = (
        loaded.group_id(),
        loaded.dead_letter_topic().to_string(),
        loaded.checkpoint_location(),
    );
    let sql = loaded.config.sql.clone();
    let redrive = redrive_pipeline(loaded);
    assert_eq!(redrive.config.source.topic.to_string(), dlq);
    assert_eq!(redrive.group_id(), format!("{group}-redrive"));
    assert_ne!(redrive.checkpoint_location(), checkpoint);
    // What fails again goes back where it came from.
    assert_eq!(redrive.dead_letter_topic().to_string(), dlq);
    assert!(redrive.config.dead_letter.enabled);
    assert_eq!(
        redrive.config.source.starting_offsets,
        StartingOffsets::Earliest
    );
    // The current SQL, unchanged.
    assert_eq!(redrive.config.sql, sql);
}
