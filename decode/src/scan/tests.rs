//! Unit tests of the JSON cursor: strings, numbers, skipping.

use super::*;

fn string(s: &str) -> Result<(String, Option<usize>), SyntaxError> {
    let mut sc = Scanner::new(s);
    sc.pos = 1;
    let mut out = String::new();
    let text = sc.string(Want::Value, &mut out)?;
    let got = match text {
        Text::Raw(t) => t.to_string(),
        Text::Decoded(r) => out[r].to_string(),
    };
    assert_eq!(sc.pos, s.len(), "{s}");
    Ok((got, sc.unpaired_surrogate))
}

#[test]
fn find_special_is_exact() {
    let bytes: Vec<u8> = (0u8..=255).collect();
    for start in 0..bytes.len() {
        for len in 0..40.min(bytes.len() - start) {
            let s = &bytes[start..start + len];
            let want = s
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(len);
            assert_eq!(find_special(s, 0), want, "{s:?}");
        }
    }
    let mut s = vec![b'a'; 64];
    for at in 0..64 {
        for special in [b'"', b'\\', 0, 0x1f] {
            s[at] = special;
            assert_eq!(find_special(&s, 0), at);
            assert_eq!(find_special(&s, at), at);
            s[at] = 0xC3;
        }
    }
}

#[test]
fn strings_decode_every_escape() {
    assert_eq!(string(r#""plain""#).unwrap().0, "plain");
    assert_eq!(
        string(r#""\"\\\/\b\f\n\r\t\u00e9\u0000""#).unwrap().0,
        "\"\\/\u{8}\u{c}\n\r\t\u{e9}\0"
    );
    assert_eq!(
        string(r#""x\ud84d\ude00y\uDBFF\uDFFF\ud83d\ude00""#).unwrap(),
        ("x\u{23600}y\u{10FFFF}\u{1F600}".to_string(), None)
    );
    assert_eq!(string("\"ünï 👩‍🚀\"").unwrap().0, "ünï 👩‍🚀");
}

#[test]
fn unpaired_surrogates_are_noted_in_values() {
    for s in [
        r#""\ud800""#,
        r#""\udc00\ud800""#,
        r#""\ud800\u0041""#,
        r#""\ud800\n""#,
        r#""\ud800x""#,
    ] {
        assert_eq!(string(s).unwrap().1, Some(1), "{s}");
    }
}

#[test]
fn bad_strings_are_errors() {
    for (s, kind) in [
        ("\"abc", Syntax::Eof("a string")),
        ("\"a\\", Syntax::Eof("a string")),
        ("\"a\\u12", Syntax::Eof("a string")),
        ("\"a\\x\"", Syntax::InvalidEscape),
        ("\"a\\u12g4\"", Syntax::InvalidUnicodeEscape),
        ("\"a\u{1}\"", Syntax::ControlCharacter),
        ("\"\\ud800\\uzzzz\"", Syntax::InvalidUnicodeEscape),
    ] {
        assert_eq!(string(s).unwrap_err().kind, kind, "{s:?}");
    }
    let mut sc = Scanner::new(r#""\ud800""#);
    sc.pos = 1;
    let err = sc.string(Want::Key, &mut String::new()).unwrap_err();
    assert_eq!(
        err,
        SyntaxError {
            kind: Syntax::UnpairedSurrogate,
            at: 1
        }
    );
}

fn skip(s: &str, limit: usize) -> Result<usize, SyntaxError> {
    let mut sc = Scanner::new(s);
    sc.skip_value(0, limit, &mut Vec::new())?;
    Ok(sc.pos)
}

#[test]
fn numbers_follow_the_grammar() {
    for ok in [
        "0",
        "-0",
        "1.0",
        "1e5",
        "-1.5E-3",
        "1E+2",
        "123456789012345678901234567890",
    ] {
        let mut sc = Scanner::new(ok);
        assert_eq!(sc.number(), Ok(ok), "{ok}");
    }
    for (bad, at) in [
        ("-", 1),
        ("1.", 2),
        ("1e", 2),
        ("1e+", 3),
        ("-a", 1),
        (".5", 0),
    ] {
        let mut sc = Scanner::new(bad);
        assert_eq!(
            sc.number(),
            Err(SyntaxError {
                kind: Syntax::InvalidNumber,
                at
            }),
            "{bad}"
        );
    }
    // `01` is the number `0` followed by a byte that does not belong.
    let mut sc = Scanner::new("01");
    assert_eq!(sc.number(), Ok("0"));
}

#[test]
fn skipping_checks_structure_without_recursion() {
    let ok = r#" {"a": [1, -2.5e3, "x\"", true, false, null, {}, []], "b": {"c": {}}} "#;
    assert_eq!(skip(ok, 64), Ok(ok.len() - 1));
    for bad in [
        "[1,]",
        "[,1]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "[1 2]",
        "{\"a\":1]",
        "[",
        "{",
        "tru",
        "nul",
        "[\"\\u00\"]",
        "{\"a\":}",
        "",
    ] {
        assert!(skip(bad, 64).is_err(), "{bad}");
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(skip(&deep, usize::MAX), Ok(deep.len()));
    assert_eq!(skip(&deep, 64).unwrap_err().kind, Syntax::TooDeep);
    let exactly = format!("{}{}", "[".repeat(64), "]".repeat(64));
    assert_eq!(skip(&exactly, 64), Ok(128));
}
