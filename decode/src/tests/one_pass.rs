//! What the one-pass decoder must keep from the two-pass one it replaced:
//! which reason wins when a record has several faults, the coercions of
//! arrow-json's `coerce_primitive`, and no trace of a rejected record in
//! the builders. Each case also runs through the fuzz harness, which
//! compares it with the previous decoder.

use super::*;
use crate::fuzzing;
use arrow::datatypes::{Float64Type, Int64Type};

fn reasons(spec: &SourceSchema, records: &[&str]) -> Vec<Option<RejectReason>> {
    let payloads: Vec<Option<&[u8]>> = records.iter().map(|r| Some(r.as_bytes())).collect();
    fuzzing::check(spec, &payloads);
    let d = JsonDecoder::new(spec.clone()).decode(&payloads).unwrap();
    (0..records.len())
        .map(|i| d.rejects.iter().find(|r| r.index == i).map(|r| r.reason))
        .collect()
}

fn field(name: &str, ty: ColumnType, required: bool) -> FieldSpec {
    FieldSpec {
        name: name.into(),
        ty,
        required,
    }
}

#[test]
fn the_first_fault_wins_in_the_old_order() {
    use RejectReason::*;
    let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
    let cases: Vec<(String, Option<RejectReason>)> = vec![
        // A repeated key before a syntax error, and after one.
        (
            format!(r#"{{"id":"{ID}","a":1,"a":2,"b":tru}}"#),
            Some(DuplicateKey),
        ),
        (
            format!(r#"{{"id":"{ID}","b":tru,"a":1,"a":2}}"#),
            Some(InvalidJson),
        ),
        // Nesting too deep anywhere beats an earlier repeat or syntax error.
        (format!(r#"{{"a":1,"a":2,"d":{deep}}}"#), Some(TooDeep)),
        (format!(r#"{{"a":tru,"d":{deep}}}"#), Some(TooDeep)),
        // Half a surrogate pair in a value counts after the structure...
        (
            format!(r#"{{"id":"{ID}","x":"\ud800","x":1}}"#),
            Some(DuplicateKey),
        ),
        (
            format!(r#"{{"id":"{ID}","x":"\ud800","y":tru}}"#),
            Some(InvalidJson),
        ),
        // ... but in a top-level key it is an error where it stands.
        (r#"{"\ud800":1,"x":1,"x":2}"#.to_string(), Some(InvalidJson)),
        // A wrong type beats a missing required field listed before it.
        (r#"{"first_name":{}}"#.to_string(), Some(WrongType)),
        (
            format!(r#"{{"id":"{ID}","phone":"\ud800","first_name":{{}}}}"#),
            Some(InvalidJson),
        ),
        // Whitespace JSON does not allow.
        ("\u{a0}{}".to_string(), Some(InvalidJson)),
        ("\u{2003}\u{a0} \n".to_string(), Some(Empty)),
        // Not an object, however deep.
        (deep.clone(), Some(NotAnObject)),
        (format!("{deep} x"), Some(InvalidJson)),
        // Unknown keys repeat too, escaped or not, few or many.
        (
            format!(r#"{{"id":"{ID}","zz":1,"\u007a\u007a":2}}"#),
            Some(DuplicateKey),
        ),
        (
            format!(r#"{{"id":"{ID}","\u0069d":null}}"#),
            Some(DuplicateKey),
        ),
        (format!(r#"{{"id":"{ID}"}}"#), None),
    ];
    let spec = SourceSchema::users_created();
    let records: Vec<&str> = cases.iter().map(|(r, _)| r.as_str()).collect();
    let want: Vec<_> = cases.iter().map(|(_, w)| *w).collect();
    assert_eq!(reasons(&spec, &records), want);
}

#[test]
fn many_unknown_keys_cost_little_and_repeats_are_found() {
    let keys: Vec<String> = (0..100_000).map(|i| format!(r#""k{i}":{i}"#)).collect();
    let many = format!(r#"{{"id":"{ID}",{}}}"#, keys.join(","));
    let repeat = format!(r#"{{"id":"{ID}",{},"k99":0}}"#, keys[..1000].join(","));
    let early = format!(r#"{{"id":"{ID}","k3":0,{}}}"#, keys[..20].join(","));
    let d = decode(&[many.as_bytes(), repeat.as_bytes(), early.as_bytes()]);
    assert_eq!(d.rows, vec![0]);
    let got: Vec<_> = d
        .rejects
        .iter()
        .map(|r| (r.reason, r.detail.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                RejectReason::DuplicateKey,
                r#"key "k99" appears twice in the object"#
            ),
            (
                RejectReason::DuplicateKey,
                r#"key "k3" appears twice in the object"#
            ),
        ]
    );
}

#[test]
fn text_columns_keep_numbers_and_booleans_as_written() {
    let spec = SourceSchema {
        fields: vec![field("s", ColumnType::String, false)],
    };
    let values = [
        "1.0",
        "1e5",
        "-0",
        "1E+2",
        "-1.5e-3",
        "0.10",
        "1e400",
        "true",
        "false",
        "12345678901234567890123",
    ];
    let records: Vec<String> = values.iter().map(|v| format!(r#"{{"s":{v}}}"#)).collect();
    let payloads: Vec<Option<&[u8]>> = records.iter().map(|r| Some(r.as_bytes())).collect();
    fuzzing::check(&spec, &payloads);
    let d = JsonDecoder::new(spec).decode(&payloads).unwrap();
    let cells = d.batch.column(0).as_string::<i32>();
    let got: Vec<&str> = (0..cells.len()).map(|i| cells.value(i)).collect();
    assert_eq!(got, values);
}

#[test]
fn typed_columns_accept_what_arrow_json_accepted() {
    let spec = SourceSchema {
        fields: vec![
            field("n", ColumnType::Int, false),
            field("x", ColumnType::Double, false),
            field("b", ColumnType::Boolean, false),
        ],
    };
    // (record, accepted)
    let cases = [
        (r#"{"n":1.9,"x":1,"b":true}"#, true),
        (r#"{"n":"42","x":"1.5","b":false}"#, true),
        (r#"{"n":" -7 ","x":" 2.5 ","b":null}"#, true),
        (r#"{"n":"+7","x":"inf","b":null}"#, true),
        (r#"{"n":1e3,"x":"NaN"}"#, true),
        (r#"{"n":-9223372036854775808.0,"x":1e400}"#, true),
        (r#"{"n":"1.5"}"#, false),
        (r#"{"n":"1e3"}"#, false),
        (r#"{"n":""}"#, false),
        (r#"{"n":9223372036854775808}"#, false),
        (r#"{"n":true}"#, false),
        (r#"{"n":[1]}"#, false),
        (r#"{"x":"abc"}"#, false),
        (r#"{"x":false}"#, false),
        (r#"{"x":{}}"#, false),
        (r#"{"b":"true"}"#, false),
        (r#"{"b":1}"#, false),
        (r#"{"b":[]}"#, false),
    ];
    let records: Vec<&str> = cases.iter().map(|(r, _)| *r).collect();
    let got = reasons(&spec, &records);
    for ((record, accepted), reason) in cases.iter().zip(got) {
        match accepted {
            true => assert_eq!(reason, None, "{record}"),
            false => assert_eq!(reason, Some(RejectReason::WrongType), "{record}"),
        }
    }
    let payloads: Vec<Option<&[u8]>> = records.iter().map(|r| Some(r.as_bytes())).collect();
    let d = JsonDecoder::new(spec).decode(&payloads).unwrap();
    let ints = d.batch.column(0).as_primitive::<Int64Type>();
    let got: Vec<Option<i64>> = ints.iter().collect();
    assert_eq!(
        got,
        vec![
            Some(1),
            Some(42),
            Some(-7),
            Some(7),
            Some(1000),
            Some(i64::MIN)
        ]
    );
    let doubles = d.batch.column(1).as_primitive::<Float64Type>();
    assert_eq!(doubles.value(3), f64::INFINITY);
    assert!(doubles.value(4).is_nan());
}

#[test]
fn details_name_the_field_the_key_and_the_place() {
    let records = [
        format!(r#"{{"id":"{ID}","address":{{"street": "Main"}}}}"#),
        format!(r#"{{"id":"{ID}","phone":"x","phone":"y"}}"#),
        format!("{{\"id\":\"{ID}\",\n\"phone\" \"x\"}}"),
        format!(r#"{{"id":"{ID}","email":"\ud800"}}"#),
        r#"{"id":"nope"}"#.to_string(),
        r#"{"first_name":"x"}"#.to_string(),
    ];
    let bytes: Vec<&[u8]> = records.iter().map(|r| r.as_bytes()).collect();
    let d = decode(&bytes);
    let details: Vec<&str> = d.rejects.iter().map(|r| r.detail.as_str()).collect();
    assert_eq!(
        details,
        vec![
            r#"field `address` expects a string, a number or a boolean, got {"street": "Main"}"#,
            r#"key "phone" appears twice in the object"#,
            r#"invalid JSON: expected `:`, found '"' at line 2 column 9"#,
            "invalid JSON: unpaired UTF-16 surrogate escape at line 1 column 55",
            r#"field `id` is not a UUID: "nope""#,
            "required field `id` is missing or null",
        ]
    );
}

#[test]
fn a_record_rejected_at_its_last_field_leaves_no_cells() {
    let good = |name: &str| format!(r#"{{"id":"{ID}","first_name":"{name}","picture":"p"}}"#);
    // Every column is converted before the last one fails.
    let bad = format!(r#"{{"id":"{ID}","first_name":"bad","picture":[1]}}"#);
    let (a, b) = (good("a"), good("b"));
    let d = decode(&[a.as_bytes(), bad.as_bytes(), b.as_bytes()]);
    assert_eq!(d.rows, vec![0, 2]);
    for column in d.batch.columns() {
        assert_eq!(column.len(), 2);
    }
    let names = col(&d, "first_name");
    assert_eq!((names.value(0), names.value(1)), ("a", "b"));
}
