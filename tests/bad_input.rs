//! The bad-input corpus: one topic holding every kind of broken or awkward
//! record we know of, run through the real pipeline. The test pins down the
//! exact set of rows Cassandra ends up with (every text byte for byte) and
//! the exact set of dead letters (value and key byte for byte, with the
//! reason), so a decoder change that silently drops, mangles or newly
//! accepts a kind of input fails here.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use ember::ingest::generator::STORED_COLUMNS;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use uuid::Uuid;

/// The text columns of `created_users` (all but the id), in the order
/// `stored_rows` returns them.
fn text_columns() -> &'static [&'static str] {
    &STORED_COLUMNS[1..]
}

/// A JSON value as written into the payload: a string (escaped by us) or a
/// raw JSON token written as is (numbers keep their exact text that way).
#[derive(Clone)]
enum V {
    S(String),
    Raw(String),
}

fn s(text: impl Into<String>) -> V {
    V::S(text.into())
}

fn raw(token: impl Into<String>) -> V {
    V::Raw(token.into())
}

impl V {
    fn json(&self) -> String {
        match self {
            V::S(t) => serde_json::to_string(t).expect("string encodes"),
            V::Raw(t) => t.clone(),
        }
    }

    /// What a text column stores for this value: strings as they are,
    /// numbers and booleans as their exact JSON text, null as null.
    fn stored(&self) -> Option<String> {
        match self {
            V::S(t) => Some(t.clone()),
            V::Raw(t) if t == "null" => None,
            // A string token written with its own escapes: its decoded text.
            V::Raw(t) if t.starts_with('"') => {
                Some(serde_json::from_str(t).expect("raw string tokens are valid JSON"))
            }
            V::Raw(t) => Some(t.clone()),
        }
    }
}

/// A user object with fields in the given order (duplicates allowed: the
/// corpus needs them).
#[derive(Clone)]
struct Obj(Vec<(String, V)>);

impl Obj {
    /// Every stored field set, plus `dob`, which travels but is not stored.
    fn user(id: &str, tag: &str) -> Obj {
        let mut fields = vec![("id".to_string(), s(id))];
        for col in text_columns() {
            fields.push((col.to_string(), s(format!("{col}-{tag}"))));
        }
        fields.push(("dob".into(), s("1990-01-01T00:00:00Z")));
        Obj(fields)
    }

    fn set(mut self, key: &str, value: V) -> Obj {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
        self
    }

    fn without(mut self, key: &str) -> Obj {
        self.0.retain(|(k, _)| k != key);
        self
    }

    fn push(mut self, key: &str, value: V) -> Obj {
        self.0.push((key.to_string(), value));
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let body: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v.json()))
            .collect();
        format!("{{{}}}", body.join(",")).into_bytes()
    }

    /// The 10 text columns Cassandra must hold for this object.
    fn stored(&self) -> [Option<String>; 10] {
        std::array::from_fn(|i| {
            self.0
                .iter()
                .rev()
                .find(|(k, _)| k == text_columns()[i])
                .and_then(|(_, v)| v.stored())
        })
    }
}

/// What must become of one record.
enum Expect {
    /// A row with this id and these text columns (unless a later record
    /// with the same id replaces it).
    Row(Uuid, Box<[Option<String>; 10]>),
    /// A dead letter with this reason.
    Dead(&'static str),
}

struct Case {
    kind: &'static str,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    expect: Expect,
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x6f1d_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// The corpus, in production order (one partition, so this is offset order).
fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut n = 0u128;
    let written = |cases: &mut Vec<Case>, kind: &'static str, obj: Obj| {
        let uuid = Uuid::parse_str(match &obj.0.iter().find(|(k, _)| k == "id").unwrap().1 {
            V::S(t) => t,
            V::Raw(_) => unreachable!("written cases have string ids"),
        })
        .expect("written cases have valid ids");
        cases.push(Case {
            kind,
            key: Some(format!("key-{kind}").into_bytes()),
            value: Some(obj.bytes()),
            expect: Expect::Row(uuid, Box::new(obj.stored())),
        });
    };
    let dead = |cases: &mut Vec<Case>, kind: &'static str, value: Option<Vec<u8>>, reason| {
        cases.push(Case {
            kind,
            key: Some(format!("key-{kind}").into_bytes()),
            value,
            expect: Expect::Dead(reason),
        });
    };
    let mut next = || {
        n += 1;
        id(n).to_string()
    };

    // --- Awkward but valid: written, byte for byte.
    written(&mut cases, "plain", Obj::user(&next(), "plain"));
    written(
        &mut cases,
        "extra unknown fields",
        Obj::user(&next(), "extra")
            .push("nickname", s("ignored"))
            .push(
                "location",
                raw(r#"{"lat": 1.5, "lon": [1, 2, {"x": null}]}"#),
            )
            .push("tags", raw(r#"["a", 1, true, null]"#)),
    );
    written(
        &mut cases,
        "explicit nulls",
        Obj::user(&next(), "nulls")
            .set("first_name", raw("null"))
            .set("phone", raw("null")),
    );
    written(
        &mut cases,
        "missing optional fields",
        Obj::user(&next(), "missing")
            .without("email")
            .without("picture")
            .without("dob"),
    );
    written(
        &mut cases,
        "only the id",
        Obj(vec![("id".into(), s(next()))]),
    );
    written(
        &mut cases,
        "emoji",
        Obj::user(&next(), "emoji")
            .set("first_name", s("🔥 Zoë 👩‍👩‍👧‍👦"))
            .set("address", s("🇫🇷 🏳️‍🌈 1 Rue de l’Été")),
    );
    written(
        &mut cases,
        "right-to-left text",
        Obj::user(&next(), "rtl")
            .set("first_name", s("مرحبا"))
            .set("last_name", s("שָׁלוֹם"))
            .set("address", s("abc\u{202E}fed\u{202C} \u{200F}x\u{200E}")),
    );
    written(
        &mut cases,
        "control characters",
        Obj::user(&next(), "control")
            .set("first_name", s("nul\u{0}in the middle"))
            .set("address", s("line1\nline2\r\n\ttabbed\u{7}\u{1b}[31m"))
            .set("phone", s("\u{1f}\u{7f}\u{85}\u{2028}")),
    );
    written(
        &mut cases,
        "quotes and CQL",
        Obj::user(&next(), "cql")
            .set("first_name", s("O'Brien"))
            .set("last_name", s("'); DROP KEYSPACE spark_streams; --"))
            .set("address", s(r#""quoted" \backslash\ $$dollar$$ {curly}"#)),
    );
    written(
        &mut cases,
        "SQL-looking",
        Obj::user(&next(), "sql")
            .set("username", s("Robert'); DROP TABLE users;--"))
            .set("email", s("x' OR '1'='1"))
            .set("phone", s("SELECT * FROM users_created WHERE 1=1")),
    );
    written(
        &mut cases,
        "numbers and booleans in text fields",
        Obj::user(&next(), "numbers")
            .set("post_code", raw("12345"))
            .set("phone", raw("123456789012345678901234567890"))
            .set("address", raw("-1.5e3"))
            .set("gender", raw("true")),
    );
    written(
        &mut cases,
        "escapes",
        Obj(vec![
            ("id".into(), s(next())),
            ("first_name".into(), raw(r#""\u00e9t\u00e9 \ud83d\ude00""#)),
            ("last_name".into(), raw(r#""a\/b \"q\" \\ \b\f""#)),
        ]),
    );
    written(
        &mut cases,
        "escaped characters beyond U+FFFF",
        Obj(vec![
            ("id".into(), s(next())),
            ("first_name".into(), raw(r#""\ud84d\ude00 \ud840\udc00""#)),
            ("last_name".into(), raw(r#""\udbff\udfff""#)),
        ]),
    );
    written(
        &mut cases,
        "empty strings",
        Obj::user(&next(), "empty")
            .set("first_name", s(""))
            .set("picture", s("")),
    );
    written(
        &mut cases,
        "64 KiB field",
        Obj::user(&next(), "wide").set("address", s("a".repeat(64 * 1024))),
    );
    written(
        &mut cases,
        "1 MiB value",
        Obj::user(&next(), "huge").set("picture", s("p".repeat(1024 * 1024))),
    );
    written(
        &mut cases,
        "fields in another order",
        Obj(Obj::user(&next(), "order").0.into_iter().rev().collect()),
    );
    written(
        &mut cases,
        "nesting under the limit",
        Obj::user(&next(), "nested").push(
            "deep",
            raw(format!("{}1{}", "[".repeat(40), "]".repeat(40))),
        ),
    );
    written(
        &mut cases,
        "other-case field name",
        Obj::user(&next(), "case").push("FIRST_NAME", s("ignored")),
    );
    let upper = next();
    let mut obj = Obj::user(&upper, "upper").set("id", s(upper.to_uppercase()));
    cases.push(Case {
        kind: "upper-case id",
        key: Some(b"key-upper".to_vec()),
        value: Some(obj.bytes()),
        expect: Expect::Row(Uuid::parse_str(&upper).unwrap(), Box::new(obj.stored())),
    });
    let simple = next();
    obj = Obj::user(&simple, "simple").set("id", s(simple.replace('-', "")));
    cases.push(Case {
        kind: "id without hyphens",
        key: Some(b"key-simple".to_vec()),
        value: Some(obj.bytes()),
        expect: Expect::Row(Uuid::parse_str(&simple).unwrap(), Box::new(obj.stored())),
    });
    let spaced = next();
    obj = Obj::user(&spaced, "spaces");
    cases.push(Case {
        kind: "whitespace around the object, no key",
        key: None,
        value: Some([b" \n\t".as_slice(), &obj.bytes(), b"\r\n "].concat()),
        expect: Expect::Row(Uuid::parse_str(&spaced).unwrap(), Box::new(obj.stored())),
    });
    // The same id three times: the last offset wins.
    let repeated = next();
    for (kind, tag) in [
        ("repeated id (1st)", "v1"),
        ("repeated id (2nd)", "v2"),
        ("repeated id (3rd)", "v3"),
    ] {
        written(&mut cases, kind, Obj::user(&repeated, tag));
    }
    // A good record followed by a broken one with the same id: the good
    // one stays.
    let kept = next();
    written(
        &mut cases,
        "good before a broken update",
        Obj::user(&kept, "kept"),
    );

    // --- Broken: dead-lettered with their reason.
    dead(
        &mut cases,
        "broken update of an existing id",
        Some(
            Obj::user(&kept, "broken")
                .set("first_name", raw("{}"))
                .bytes(),
        ),
        "wrong_type",
    );
    dead(&mut cases, "tombstone", None, "tombstone");
    dead(&mut cases, "empty value", Some(Vec::new()), "empty_value");
    dead(
        &mut cases,
        "whitespace only",
        Some(b" \n\t ".to_vec()),
        "empty_value",
    );
    dead(
        &mut cases,
        "invalid UTF-8",
        Some(b"\xff\xfe\xfd garbage".to_vec()),
        "invalid_utf8",
    );
    let mut in_string = Obj::user(&next(), "x").bytes();
    let at = in_string.len() - 3;
    in_string.splice(at..at, b"\xc3\x28".iter().copied());
    dead(
        &mut cases,
        "invalid UTF-8 inside a string",
        Some(in_string),
        "invalid_utf8",
    );
    let full = Obj::user(&next(), "truncated").bytes();
    dead(
        &mut cases,
        "truncated JSON",
        Some(full[..full.len() / 2].to_vec()),
        "invalid_json",
    );
    dead(
        &mut cases,
        "array",
        Some(br#"[{"id": "x"}]"#.to_vec()),
        "not_an_object",
    );
    dead(&mut cases, "number", Some(b"42".to_vec()), "not_an_object");
    dead(
        &mut cases,
        "string",
        Some(br#""a string""#.to_vec()),
        "not_an_object",
    );
    dead(
        &mut cases,
        "JSON null",
        Some(b"null".to_vec()),
        "not_an_object",
    );
    dead(
        &mut cases,
        "not JSON at all",
        Some(b"hello, world".to_vec()),
        "invalid_json",
    );
    dead(
        &mut cases,
        "byte-order mark",
        Some(
            [
                b"\xef\xbb\xbf".as_slice(),
                &Obj::user(&next(), "bom").bytes(),
            ]
            .concat(),
        ),
        "invalid_json",
    );
    let one = Obj::user(&next(), "two").bytes();
    dead(
        &mut cases,
        "two objects in one value",
        Some([one.as_slice(), &one].concat()),
        "invalid_json",
    );
    dead(
        &mut cases,
        "trailing garbage",
        Some([Obj::user(&next(), "trail").bytes().as_slice(), b" x"].concat()),
        "invalid_json",
    );
    dead(
        &mut cases,
        "trailing comma",
        Some(format!(r#"{{"id": "{}",}}"#, next()).into_bytes()),
        "invalid_json",
    );
    dead(
        &mut cases,
        "single quotes",
        Some(format!("{{'id': '{}'}}", next()).into_bytes()),
        "invalid_json",
    );
    dead(
        &mut cases,
        "NaN",
        Some(format!(r#"{{"id": "{}", "phone": NaN}}"#, next()).into_bytes()),
        "invalid_json",
    );
    dead(
        &mut cases,
        "raw control character in a string",
        Some(format!("{{\"id\": \"{}\", \"phone\": \"a\u{1}b\"}}", next()).into_bytes()),
        "invalid_json",
    );
    dead(
        &mut cases,
        "lone surrogate escape",
        Some(format!(r#"{{"id": "{}", "phone": "\ud800"}}"#, next()).into_bytes()),
        "invalid_json",
    );
    dead(
        &mut cases,
        "1 MiB of garbage",
        Some(vec![b'#'; 1024 * 1024]),
        "invalid_json",
    );
    dead(
        &mut cases,
        "deep nesting",
        Some(
            Obj::user(&next(), "deep")
                .push(
                    "deep",
                    raw(format!("{}{}", "[".repeat(100), "]".repeat(100))),
                )
                .bytes(),
        ),
        "nesting_too_deep",
    );
    dead(
        &mut cases,
        "duplicate key",
        Some(
            Obj::user(&next(), "dup")
                .push("first_name", s("again"))
                .bytes(),
        ),
        "duplicate_key",
    );
    dead(
        &mut cases,
        "duplicate id key",
        Some(Obj::user(&next(), "dupid").push("id", s(next())).bytes()),
        "duplicate_key",
    );
    dead(
        &mut cases,
        "missing id",
        Some(Obj::user("x", "noid").without("id").bytes()),
        "missing_required_field",
    );
    dead(
        &mut cases,
        "null id",
        Some(Obj::user("x", "nullid").set("id", raw("null")).bytes()),
        "missing_required_field",
    );
    dead(
        &mut cases,
        "id not a UUID",
        Some(Obj::user("not-a-uuid", "badid").bytes()),
        "invalid_uuid",
    );
    dead(
        &mut cases,
        "empty id",
        Some(Obj::user("", "emptyid").bytes()),
        "invalid_uuid",
    );
    dead(
        &mut cases,
        "number id",
        Some(Obj::user("x", "numid").set("id", raw("12345")).bytes()),
        "invalid_uuid",
    );
    dead(
        &mut cases,
        "CQL in the id",
        Some(Obj::user("x'); DROP TABLE created_users; --", "cqlid").bytes()),
        "invalid_uuid",
    );
    dead(
        &mut cases,
        "object where text is expected",
        Some(
            Obj::user(&next(), "obj")
                .set("address", raw(r#"{"street": "Main"}"#))
                .bytes(),
        ),
        "wrong_type",
    );
    dead(
        &mut cases,
        "array where text is expected",
        Some(
            Obj::user(&next(), "arr")
                .set("phone", raw("[1, 2]"))
                .bytes(),
        ),
        "wrong_type",
    );
    dead(
        &mut cases,
        "object id",
        Some(
            Obj::user("x", "objid")
                .set("id", raw(r#"{"uuid": 1}"#))
                .bytes(),
        ),
        "wrong_type",
    );
    cases.push(Case {
        kind: "binary key, broken value",
        key: Some(b"\x00\xff\x80key".to_vec()),
        value: Some(b"{not json".to_vec()),
        expect: Expect::Dead("invalid_json"),
    });
    cases
}

/// A producer that accepts the 1 MiB records.
fn big_producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("message.max.bytes", "4194304")
        .create()
        .expect("producer")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bad_input_corpus_is_written_or_dead_lettered_exactly() {
    let cases = corpus();
    let kinds: std::collections::HashSet<_> = cases.iter().map(|c| c.kind).collect();
    assert_eq!(kinds.len(), cases.len(), "every case names its own kind");
    assert!(cases.len() >= 30, "the corpus has {} kinds", cases.len());

    let names = Names::new("corpus");
    create_topic(&names.topic, 1);
    let producer = big_producer();
    for case in &cases {
        let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&names.topic).partition(0);
        if let Some(k) = &case.key {
            rec = rec.key(k.as_slice());
        }
        if let Some(v) = &case.value {
            rec = rec.payload(v.as_slice());
        }
        producer
            .send(rec, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("produce {:?}: {e}", case.kind));
    }

    // The expected outcome: later rows replace earlier ones with the same id.
    let mut expected_rows: BTreeMap<String, [Option<String>; 11]> = BTreeMap::new();
    let mut expected_dead = Vec::new();
    for case in &cases {
        match &case.expect {
            Expect::Row(uuid, cols) => {
                let mut row: [Option<String>; 11] = Default::default();
                row[0] = Some(uuid.to_string());
                row[1..].clone_from_slice(cols.as_slice());
                expected_rows.insert(uuid.to_string(), row);
            }
            Expect::Dead(reason) => expected_dead.push((case, *reason)),
        }
    }

    let summary = run_available_now(&names);
    assert_eq!(summary["rows_in"], cases.len(), "{summary}");
    assert_eq!(summary["rejected"], expected_dead.len(), "{summary}");
    assert_eq!(
        summary["written_total"],
        cases.len() - expected_dead.len(),
        "every decoded record is written (repeated ids included): {summary}"
    );

    let session = session().await;
    let stored = stored_rows(&session, &names.keyspace).await;
    let stored: BTreeMap<_, _> = stored.into_iter().collect();
    for (id, want) in &expected_rows {
        let got = stored.get(id).unwrap_or_else(|| panic!("row {id} missing"));
        for (col, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                g == w,
                "row {id} column {col}: got {:?}, want {:?}",
                g.as_deref().map(shorten),
                w.as_deref().map(shorten)
            );
        }
    }
    let extra: Vec<_> = stored
        .keys()
        .filter(|k| !expected_rows.contains_key(*k))
        .collect();
    assert!(extra.is_empty(), "unexpected rows: {extra:?}");

    let dlq = format!("{}.dlq", names.topic);
    assert_eq!(
        record_count(&dlq),
        expected_dead.len() as i64,
        "dead letters"
    );
    let letters = consume_with_headers(&dlq, expected_dead.len());
    let got: Vec<(Option<&[u8]>, &str)> = letters
        .iter()
        .map(|l| (l.key.as_deref(), l.headers["ember.reason"].as_str()))
        .collect();
    let want: Vec<(Option<&[u8]>, &str)> = expected_dead
        .iter()
        .map(|(c, r)| (c.key.as_deref(), *r))
        .collect();
    if got != want {
        let kinds: Vec<_> = letters
            .iter()
            .map(|l| {
                let key = l.key.as_deref().map(String::from_utf8_lossy);
                format!(
                    "{key:?}: {} ({})",
                    l.headers["ember.reason"], l.headers["ember.detail"]
                )
            })
            .collect();
        panic!(
            "dead letters differ.\n got: {kinds:#?}\nwant: {:#?}",
            expected_dead
                .iter()
                .map(|(c, r)| format!("{}: {r}", c.kind))
                .collect::<Vec<_>>()
        );
    }
    for (letter, (case, _)) in letters.iter().zip(&expected_dead) {
        assert!(
            letter.value == case.value,
            "{}: value byte for byte",
            case.kind
        );
        assert_eq!(letter.headers["ember.source.topic"], names.topic);
        assert_eq!(letter.headers["ember.source.partition"], "0");
        assert!(!letter.headers["ember.detail"].is_empty(), "{}", case.kind);
    }
    // Offsets in the headers are the records' own, in order.
    let offsets: Vec<i64> = letters
        .iter()
        .map(|l| l.headers["ember.source.offset"].parse().unwrap())
        .collect();
    let want_offsets: Vec<i64> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.expect, Expect::Dead(_)))
        .map(|(i, _)| i as i64)
        .collect();
    assert_eq!(offsets, want_offsets);
    println!(
        "corpus: {} records of {} kinds: {} rows stored ({} written), {} dead-lettered",
        cases.len(),
        kinds.len(),
        expected_rows.len(),
        cases.len() - expected_dead.len(),
        expected_dead.len()
    );
}

fn shorten(text: &str) -> String {
    if text.len() > 80 {
        format!(
            "{}… ({} bytes)",
            &text[..text.floor_char_boundary(60)],
            text.len()
        )
    } else {
        text.to_string()
    }
}
