//! The reference decoder's workaround (see [`super`]) for arrow-json
//! decoding escaped surrogate pairs wrongly.
//!
//! arrow-json 59's tape decoder joins the two halves of `\uD84D\uDE00` with
//! `|` where it must add, so every character from U+20000 on that arrives as
//! an escaped pair (CJK extensions, plane 15/16 private use; what
//! `JSON.stringify`-with-ASCII and many Java serializers emit) silently turns
//! into a different character — U+23600 becomes U+13600. Found by fuzzing
//! (`fuzz/corpus/decode_users_created/regress-surrogate-pair-plane2`).
//!
//! Raw UTF-8 is equally valid inside a JSON string and arrow-json copies it
//! byte for byte, so each escaped pair is rewritten as the UTF-8 of its
//! character before the payload reaches arrow-json. Everything else —
//! including lone surrogates, which arrow-json rejects — is left as it is.

use std::borrow::Cow;

/// `bytes` with every escaped UTF-16 surrogate pair replaced by its
/// character's UTF-8. Borrowed (no copy) unless a pair is present.
///
/// Only called on payloads the validator accepted, so they are valid JSON:
/// every backslash starts an escape inside a string, and skipping two bytes
/// past one that is not a pair can only land inside that escape's hex digits,
/// never on a quote or a backslash.
pub(crate) fn unescape_surrogate_pairs(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0; // bytes[..copied] are already in `out`
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'\\') {
        let at = i + offset;
        match surrogate_pair_at(&bytes[at..]) {
            Some(c) => {
                let out = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                out.extend_from_slice(&bytes[copied..at]);
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                i = at + PAIR_LEN;
                copied = i;
            }
            None => i = at + 2,
        }
        if i >= bytes.len() {
            break;
        }
    }
    match out {
        Some(mut out) => {
            out.extend_from_slice(&bytes[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(bytes),
    }
}

/// `\uXXXX\uYYYY`
const PAIR_LEN: usize = 12;

/// The character of a `\uD800-DBFF\uDC00-DFFF` escape pair at the start of
/// `s`, if there is one.
fn surrogate_pair_at(s: &[u8]) -> Option<char> {
    let s = s.get(..PAIR_LEN)?;
    if &s[..2] != b"\\u" || &s[6..8] != b"\\u" {
        return None;
    }
    let high = hex4(&s[2..6])?;
    let low = hex4(&s[8..12])?;
    if !(0xD800..=0xDBFF).contains(&high) || !(0xDC00..=0xDFFF).contains(&low) {
        return None;
    }
    let code = 0x1_0000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
    char::from_u32(code)
}

fn hex4(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |acc, &d| {
        let v = char::from(d).to_digit(16)?;
        Some((acc << 4) | v as u16)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(s: &str) -> String {
        String::from_utf8(unescape_surrogate_pairs(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn pairs_become_raw_utf8() {
        assert_eq!(fix(r#"{"a":"\ud84d\ude00"}"#), "{\"a\":\"\u{23600}\"}");
        assert_eq!(
            fix(r#"{"a":"x\uD83D\uDE00y\udbff\udfff"}"#),
            "{\"a\":\"x😀y\u{10FFFF}\"}"
        );
        assert_eq!(fix(r#"{"\ud840\udc00":1}"#), "{\"\u{20000}\":1}");
    }

    #[test]
    fn other_escapes_are_untouched_and_not_copied() {
        for s in [
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            r#"{"a":"\udc00\ud800"}"#,
            r#"{"a":"\\ud84d\\ude00"}"#,
            r#"{"a":"\ud84d\\ude00"}"#,
            r#"{"a":"\n\"\\\u00e9"}"#,
            r#"{"a":"\ud84d\ude0"}"#,
            "{}",
        ] {
            assert!(
                matches!(unescape_surrogate_pairs(s.as_bytes()), Cow::Borrowed(_)),
                "{s}"
            );
        }
        // An escaped backslash followed by a real pair: only the pair changes.
        assert_eq!(
            fix(r#"{"a":"\\\ud84d\ude00"}"#),
            "{\"a\":\"\\\\\u{23600}\"}"
        );
    }
}
