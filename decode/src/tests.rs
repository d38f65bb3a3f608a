use super::*;
use arrow::array::{Array, AsArray, StringArray};

const ID: &str = "6f1c5a5e-4b2d-4c1e-9a43-2d1f5e8b7c90";

fn decode(records: &[&[u8]]) -> Decoded {
    let payloads: Vec<Option<&[u8]>> = records.iter().map(|r| Some(*r)).collect();
    JsonDecoder::new(SourceSchema::users_created())
        .decode(&payloads)
        .unwrap()
}

fn col<'a>(d: &'a Decoded, name: &str) -> &'a StringArray {
    d.batch.column_by_name(name).unwrap().as_string::<i32>()
}

#[test]
fn good_records_become_rows_in_order() {
    let a = format!(r#"{{"id":"{ID}","first_name":"Ana","post_code":"AB1 2CD"}}"#);
    let b = format!(r#"{{"id":"{ID}","first_name":"Bo","post_code":12345,"extra":{{"x":1}}}}"#);
    let d = decode(&[a.as_bytes(), b.as_bytes()]);
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    assert_eq!(d.rows, vec![0, 1]);
    assert_eq!(col(&d, "first_name").value(1), "Bo");
    // a numeric post_code arrives as its text
    assert_eq!(col(&d, "post_code").value(0), "AB1 2CD");
    assert_eq!(col(&d, "post_code").value(1), "12345");
    assert!(col(&d, "email").is_null(0));
}

#[test]
fn every_bad_record_is_isolated_with_its_reason() {
    let good = format!(r#"{{"id":"{ID}","first_name":"Ok"}}"#);
    let wrong_type = format!(r#"{{"id":"{ID}","first_name":{{"nested":true}}}}"#);
    let dup = format!(r#"{{"id":"{ID}","id":"{ID}"}}"#);
    let records: Vec<&[u8]> = vec![
        good.as_bytes(),
        b"",
        b"\xff\xfe{}",
        b"{\"id\":",
        b"[1,2]",
        b"42",
        wrong_type.as_bytes(),
        b"{\"first_name\":\"no id\"}",
        b"{\"id\":\"not-a-uuid\"}",
        dup.as_bytes(),
        b"{\"id\":null}",
        b"{} {}",
        b"   ",
        good.as_bytes(),
    ];
    let d = decode(&records);
    let got: Vec<(usize, RejectReason)> = d.rejects.iter().map(|r| (r.index, r.reason)).collect();
    use RejectReason::*;
    assert_eq!(
        got,
        vec![
            (1, Empty),
            (2, InvalidUtf8),
            (3, InvalidJson),
            (4, NotAnObject),
            (5, NotAnObject),
            (6, WrongType),
            (7, MissingRequired),
            (8, InvalidUuid),
            (9, DuplicateKey),
            (10, MissingRequired),
            (11, InvalidJson),
            (12, Empty),
        ]
    );
    assert_eq!(d.rows, vec![0, 13]);
    assert_eq!(d.batch.num_rows() + d.rejects.len(), records.len());
}

#[test]
fn tombstones_are_rejected() {
    let d = JsonDecoder::new(SourceSchema::users_created())
        .decode(&[None])
        .unwrap();
    assert_eq!(d.rejects[0].reason, RejectReason::Tombstone);
    assert_eq!(d.batch.num_rows(), 0);
}

#[test]
fn truncated_record_cannot_merge_with_its_neighbour() {
    // Concatenated, these two would form one valid object.
    let head = b"{\"first_name\":";
    let tail = format!(r#""x","id":"{ID}"}}"#);
    let d = decode(&[head, tail.as_bytes()]);
    assert_eq!(d.rejects.len(), 2);
    assert_eq!(d.batch.num_rows(), 0);
}

#[test]
fn deep_nesting_is_rejected_not_a_stack_overflow() {
    let nest = |levels: usize| {
        format!(
            "{{\"id\":\"{ID}\",\"first_name\":{}1{}}}",
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    // 63 levels inside the object is accepted JSON but the wrong type;
    // 100,000 is refused (values are skipped without recursion, so this
    // is a limit, not a stack guard). Brackets in strings do not count.
    let (ok_depth, deep) = (nest(63), nest(100_000));
    let in_string = format!(r#"{{"id":"{ID}","first_name":"{}"}}"#, "[".repeat(1000));
    let d = decode(&[ok_depth.as_bytes(), deep.as_bytes(), in_string.as_bytes()]);
    let reasons: Vec<_> = d.rejects.iter().map(|r| (r.index, r.reason)).collect();
    assert_eq!(
        reasons,
        vec![(0, RejectReason::WrongType), (1, RejectReason::TooDeep)]
    );
    assert_eq!(d.rows, vec![2]);
}

#[test]
fn escaped_duplicate_keys_are_detected() {
    let dup = format!(r#"{{"id":"{ID}","\u0069d":"{ID}"}}"#);
    let d = decode(&[dup.as_bytes()]);
    assert_eq!(d.rejects[0].reason, RejectReason::DuplicateKey);
}

#[test]
fn text_survives_byte_exact() {
    let name = "Zoë 👩‍🚀 \u{202e}abc \"quoted\" '; DROP TABLE x; --";
    let rec = serde_json::json!({"id": ID, "first_name": name}).to_string();
    let d = decode(&[rec.as_bytes()]);
    assert!(d.rejects.is_empty());
    assert_eq!(col(&d, "first_name").value(0), name);
}

#[test]
fn a_lone_surrogate_escape_is_invalid_json_not_a_wrong_type() {
    // An escape of half a surrogate pair encodes no character: the record
    // is not valid JSON text, whatever the field's type.
    let rec = format!(r#"{{"id":"{ID}","phone":"\ud800"}}"#);
    let good = format!(r#"{{"id":"{ID}"}}"#);
    let d = decode(&[good.as_bytes(), rec.as_bytes(), good.as_bytes()]);
    let reasons: Vec<_> = d.rejects.iter().map(|r| (r.index, r.reason)).collect();
    assert_eq!(reasons, vec![(1, RejectReason::InvalidJson)]);
    assert_eq!(d.rows, vec![0, 2]);
}

#[test]
fn escaped_supplementary_characters_decode_to_themselves() {
    // Found by fuzzing: arrow-json turned U+23600 (sent as the escaped pair
    // \ud84d\ude00) into U+13600. Also the first and last pair, an emoji,
    // a lone surrogate (rejected) and a pair in a key.
    let rec = format!(
        r#"{{"id":"{ID}","first_name":"\ud84d\ude00 \ud840\udc00 \udbff\udfff \ud83d\ude00"}}"#
    );
    let lone = format!(r#"{{"id":"{ID}","first_name":"\ud84d"}}"#);
    let key = format!(r#"{{"id":"{ID}","\ud840\udc00":"x","last_name":"\uD87E\uDC00"}}"#);
    let d = decode(&[rec.as_bytes(), lone.as_bytes(), key.as_bytes()]);
    assert_eq!(d.rows, vec![0, 2]);
    assert_eq!(
        col(&d, "first_name").value(0),
        "\u{23600} \u{20000} \u{10FFFF} \u{1F600}"
    );
    assert_eq!(col(&d, "last_name").value(1), "\u{2F800}");
    assert_eq!(d.rejects[0].reason, RejectReason::InvalidJson);
}

mod bad_input;
mod one_pass;

/// A broken invariant of the decoder is an error, never an empty batch
/// that leaves `rows` naming records no row holds.
#[test]
fn columns_that_do_not_fit_the_schema_are_an_error() {
    let mut decoder = JsonDecoder::new(SourceSchema::users_created());
    // The schema loses a field the decoder still builds a column for.
    let fields: Vec<_> = decoder.schema.fields().iter().skip(1).cloned().collect();
    decoder.schema = std::sync::Arc::new(arrow_schema::Schema::new(fields));
    let payload = br#"{"id":"6f1c64b0-54c6-4a8c-9d0f-1c2b3a4d5e6f"}"#;
    let err = decoder.decode(&[Some(&payload[..])]).unwrap_err();
    assert!(err.to_string().starts_with("decoder bug"), "{err}");
}
