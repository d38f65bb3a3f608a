//! Every kind of record the end-to-end bad-input corpus (`tests/bad_input.rs`
//! at the root) sends, at the decoder's level: the same payloads, the same
//! expected reason or cells, without Kafka or Cassandra. When a kind is
//! added there, add it here.

use super::*;

/// The users_created text columns, in schema order after `id`.
const TEXT: [&str; 11] = [
    "first_name",
    "last_name",
    "gender",
    "address",
    "post_code",
    "email",
    "username",
    "dob",
    "registered_date",
    "phone",
    "picture",
];

fn id(n: u128) -> String {
    uuid::Uuid::from_u128(0x6f1d_0000_0000_4000_8000_0000_0000_0000 | n).to_string()
}

/// A JSON member list with fields in order; values are raw JSON tokens.
#[derive(Clone)]
struct Obj(Vec<(String, String)>);

fn s(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

impl Obj {
    fn user(id: &str, tag: &str) -> Obj {
        let mut fields = vec![("id".to_string(), s(id))];
        for col in TEXT.iter().filter(|c| **c != "dob") {
            fields.push((col.to_string(), s(&format!("{col}-{tag}"))));
        }
        fields.push(("dob".into(), s("1990-01-01T00:00:00Z")));
        Obj(fields)
    }

    fn set(mut self, key: &str, raw: &str) -> Obj {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = raw.to_string(),
            None => self.0.push((key.to_string(), raw.to_string())),
        }
        self
    }

    fn push(mut self, key: &str, raw: &str) -> Obj {
        self.0.push((key.to_string(), raw.to_string()));
        self
    }

    fn without(mut self, key: &str) -> Obj {
        self.0.retain(|(k, _)| k != key);
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let body: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}:{v}", s(k)))
            .collect();
        format!("{{{}}}", body.join(",")).into_bytes()
    }

    /// What each text column must hold: strings decoded, other tokens as
    /// written, null as null.
    fn expected(&self, col: &str) -> Option<String> {
        let (_, raw) = self.0.iter().rev().find(|(k, _)| k == col)?;
        match raw.as_str() {
            "null" => None,
            r if r.starts_with('"') => Some(serde_json::from_str(r).unwrap()),
            r => Some(r.to_string()),
        }
    }
}

enum Expect {
    Row(Obj),
    Dead(RejectReason),
}

fn corpus() -> Vec<(&'static str, Vec<u8>, Expect)> {
    use RejectReason::*;
    let mut n = 0;
    let mut next = || {
        n += 1;
        id(n)
    };
    let mut cases: Vec<(&'static str, Vec<u8>, Expect)> = Vec::new();
    let row = |kind, obj: Obj| (kind, obj.bytes(), Expect::Row(obj));
    let rows = vec![
        row("plain", Obj::user(&next(), "plain")),
        row(
            "extra unknown fields",
            Obj::user(&next(), "extra")
                .push("nickname", &s("ignored"))
                .push("location", r#"{"lat": 1.5, "lon": [1, 2, {"x": null}]}"#)
                .push("tags", r#"["a", 1, true, null]"#),
        ),
        row(
            "explicit nulls",
            Obj::user(&next(), "nulls")
                .set("first_name", "null")
                .set("phone", "null"),
        ),
        row(
            "missing optional fields",
            Obj::user(&next(), "missing")
                .without("email")
                .without("picture")
                .without("dob"),
        ),
        row("only the id", Obj(vec![("id".into(), s(&next()))])),
        row(
            "emoji",
            Obj::user(&next(), "emoji")
                .set("first_name", &s("🔥 Zoë 👩‍👩‍👧‍👦"))
                .set("address", &s("🇫🇷 🏳️‍🌈 1 Rue de l’Été")),
        ),
        row(
            "right-to-left text",
            Obj::user(&next(), "rtl")
                .set("first_name", &s("مرحبا"))
                .set("last_name", &s("שָׁלוֹם"))
                .set("address", &s("abc\u{202E}fed\u{202C} \u{200F}x\u{200E}")),
        ),
        row(
            "control characters",
            Obj::user(&next(), "control")
                .set("first_name", &s("nul\u{0}in the middle"))
                .set("address", &s("line1\nline2\r\n\ttabbed\u{7}\u{1b}[31m"))
                .set("phone", &s("\u{1f}\u{7f}\u{85}\u{2028}")),
        ),
        row(
            "quotes and CQL",
            Obj::user(&next(), "cql")
                .set("first_name", &s("O'Brien"))
                .set("last_name", &s("'); DROP KEYSPACE spark_streams; --"))
                .set("address", &s(r#""quoted" \backslash\ $$dollar$$ {curly}"#)),
        ),
        row(
            "SQL-looking",
            Obj::user(&next(), "sql")
                .set("username", &s("Robert'); DROP TABLE users;--"))
                .set("email", &s("x' OR '1'='1"))
                .set("phone", &s("SELECT * FROM users_created WHERE 1=1")),
        ),
        row(
            "numbers and booleans in text fields",
            Obj::user(&next(), "numbers")
                .set("post_code", "12345")
                .set("phone", "123456789012345678901234567890")
                .set("address", "-1.5e3")
                .set("gender", "true"),
        ),
        row(
            "escapes",
            Obj(vec![
                ("id".into(), s(&next())),
                (
                    "first_name".into(),
                    r#""\u00e9t\u00e9 \ud83d\ude00""#.into(),
                ),
                ("last_name".into(), r#""a\/b \"q\" \\ \b\f""#.into()),
            ]),
        ),
        row(
            "escaped characters beyond U+FFFF",
            Obj(vec![
                ("id".into(), s(&next())),
                ("first_name".into(), r#""\ud84d\ude00 \ud840\udc00""#.into()),
                ("last_name".into(), r#""\udbff\udfff""#.into()),
            ]),
        ),
        row(
            "empty strings",
            Obj::user(&next(), "empty")
                .set("first_name", &s(""))
                .set("picture", &s("")),
        ),
        row(
            "64 KiB field",
            Obj::user(&next(), "wide").set("address", &s(&"a".repeat(64 * 1024))),
        ),
        row(
            "1 MiB value",
            Obj::user(&next(), "huge").set("picture", &s(&"p".repeat(1024 * 1024))),
        ),
        row(
            "fields in another order",
            Obj(Obj::user(&next(), "order").0.into_iter().rev().collect()),
        ),
        row(
            "nesting under the limit",
            Obj::user(&next(), "nested")
                .push("deep", &format!("{}1{}", "[".repeat(40), "]".repeat(40))),
        ),
        row(
            "other-case field name",
            Obj::user(&next(), "case").push("FIRST_NAME", &s("ignored")),
        ),
    ];
    cases.extend(rows);
    let upper = next();
    let obj = Obj::user(&upper, "upper").set("id", &s(&upper.to_uppercase()));
    cases.push(("upper-case id", obj.bytes(), Expect::Row(obj)));
    let simple = next();
    let obj = Obj::user(&simple, "simple").set("id", &s(&simple.replace('-', "")));
    cases.push(("id without hyphens", obj.bytes(), Expect::Row(obj)));
    let obj = Obj::user(&next(), "spaces");
    let spaced = [b" \n\t".as_slice(), &obj.bytes(), b"\r\n "].concat();
    cases.push(("whitespace around the object", spaced, Expect::Row(obj)));
    let repeated = next();
    for (kind, tag) in [("repeated id (1st)", "v1"), ("repeated id (2nd)", "v2")] {
        let obj = Obj::user(&repeated, tag);
        cases.push((kind, obj.bytes(), Expect::Row(obj)));
    }

    let kept = next();
    let mut dead = |kind, bytes: Vec<u8>, reason| cases.push((kind, bytes, Expect::Dead(reason)));
    dead(
        "broken update of an existing id",
        Obj::user(&kept, "broken").set("first_name", "{}").bytes(),
        WrongType,
    );
    dead("empty value", Vec::new(), Empty);
    dead("whitespace only", b" \n\t ".to_vec(), Empty);
    dead(
        "invalid UTF-8",
        b"\xff\xfe\xfd garbage".to_vec(),
        InvalidUtf8,
    );
    let mut in_string = Obj::user(&id(900), "x").bytes();
    let at = in_string.len() - 3;
    in_string.splice(at..at, b"\xc3\x28".iter().copied());
    dead("invalid UTF-8 inside a string", in_string, InvalidUtf8);
    let full = Obj::user(&id(901), "truncated").bytes();
    dead(
        "truncated JSON",
        full[..full.len() / 2].to_vec(),
        InvalidJson,
    );
    dead("array", br#"[{"id": "x"}]"#.to_vec(), NotAnObject);
    dead("number", b"42".to_vec(), NotAnObject);
    dead("string", br#""a string""#.to_vec(), NotAnObject);
    dead("JSON null", b"null".to_vec(), NotAnObject);
    dead("not JSON at all", b"hello, world".to_vec(), InvalidJson);
    let bom = [
        b"\xef\xbb\xbf".as_slice(),
        &Obj::user(&id(902), "bom").bytes(),
    ]
    .concat();
    dead("byte-order mark", bom, InvalidJson);
    let one = Obj::user(&id(903), "two").bytes();
    dead(
        "two objects in one value",
        [one.as_slice(), &one].concat(),
        InvalidJson,
    );
    let trail = [Obj::user(&id(904), "trail").bytes().as_slice(), b" x"].concat();
    dead("trailing garbage", trail, InvalidJson);
    let i = id(905);
    dead(
        "trailing comma",
        format!(r#"{{"id": "{i}",}}"#).into_bytes(),
        InvalidJson,
    );
    dead(
        "single quotes",
        format!("{{'id': '{i}'}}").into_bytes(),
        InvalidJson,
    );
    dead(
        "NaN",
        format!(r#"{{"id": "{i}", "phone": NaN}}"#).into_bytes(),
        InvalidJson,
    );
    let control = format!("{{\"id\": \"{i}\", \"phone\": \"a\u{1}b\"}}");
    dead(
        "raw control character in a string",
        control.into_bytes(),
        InvalidJson,
    );
    let lone = format!(r#"{{"id": "{i}", "phone": "\ud800"}}"#);
    dead("lone surrogate escape", lone.into_bytes(), InvalidJson);
    dead("1 MiB of garbage", vec![b'#'; 1024 * 1024], InvalidJson);
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    dead(
        "deep nesting",
        Obj::user(&id(906), "deep").push("deep", &deep).bytes(),
        TooDeep,
    );
    let dup = Obj::user(&id(907), "dup").push("first_name", &s("again"));
    dead("duplicate key", dup.bytes(), DuplicateKey);
    let dup_id = Obj::user(&id(908), "dupid").push("id", &s(&id(909)));
    dead("duplicate id key", dup_id.bytes(), DuplicateKey);
    dead(
        "missing id",
        Obj::user("x", "noid").without("id").bytes(),
        MissingRequired,
    );
    dead(
        "null id",
        Obj::user("x", "nullid").set("id", "null").bytes(),
        MissingRequired,
    );
    dead(
        "id not a UUID",
        Obj::user("not-a-uuid", "badid").bytes(),
        InvalidUuid,
    );
    dead("empty id", Obj::user("", "emptyid").bytes(), InvalidUuid);
    dead(
        "number id",
        Obj::user("x", "numid").set("id", "12345").bytes(),
        InvalidUuid,
    );
    dead(
        "CQL in the id",
        Obj::user("x'); DROP TABLE created_users; --", "cqlid").bytes(),
        InvalidUuid,
    );
    dead(
        "object where text is expected",
        Obj::user(&id(910), "obj")
            .set("address", r#"{"street": "Main"}"#)
            .bytes(),
        WrongType,
    );
    dead(
        "array where text is expected",
        Obj::user(&id(911), "arr").set("phone", "[1, 2]").bytes(),
        WrongType,
    );
    dead(
        "object id",
        Obj::user("x", "objid").set("id", r#"{"uuid": 1}"#).bytes(),
        WrongType,
    );
    dead("broken value", b"{not json".to_vec(), InvalidJson);
    cases
}

#[test]
fn every_bad_input_kind_is_decoded_or_rejected_as_end_to_end() {
    let cases = corpus();
    let mut payloads: Vec<Option<&[u8]>> =
        cases.iter().map(|(_, b, _)| Some(b.as_slice())).collect();
    payloads.push(None);
    let d = JsonDecoder::new(SourceSchema::users_created())
        .decode(&payloads)
        .unwrap();
    assert_eq!(d.rows.len() + d.rejects.len(), payloads.len());
    assert_eq!(
        d.rejects.last().map(|r| r.reason),
        Some(RejectReason::Tombstone)
    );

    let mut rejects = d.rejects.iter();
    let mut row = 0;
    for (index, (kind, _, expect)) in cases.iter().enumerate() {
        match expect {
            Expect::Row(obj) => {
                assert_eq!(d.rows.get(row), Some(&index), "{kind}: not a row");
                // Ids stay as sent (upper case, no hyphens): the sink parses them.
                for col in std::iter::once("id").chain(TEXT) {
                    let cells = d.batch.column_by_name(col).unwrap().as_string::<i32>();
                    let got = cells.is_valid(row).then(|| cells.value(row));
                    assert_eq!(got, obj.expected(col).as_deref(), "{kind}: `{col}`");
                }
                row += 1;
            }
            Expect::Dead(reason) => {
                let r = rejects
                    .next()
                    .unwrap_or_else(|| panic!("{kind}: not rejected"));
                assert_eq!(
                    (r.index, r.reason),
                    (index, *reason),
                    "{kind}: {}",
                    r.detail
                );
                assert!(!r.detail.is_empty(), "{kind}");
            }
        }
    }
    // And the previous decoder agrees on every one of them.
    crate::fuzzing::check(&SourceSchema::users_created(), &payloads);
}
