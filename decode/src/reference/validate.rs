//! The reference decoder's first pass (see [`super`]): per-record checks
//! that must pass before a payload reaches arrow-json.
//!
//! arrow-json decodes a stream of concatenated values, so on its own it cannot
//! tell one record from the next: a truncated record followed by its
//! neighbour might parse as one object. Checking each payload here first —
//! valid UTF-8, exactly one JSON object, no key twice — pins every record to
//! exactly one row.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::record::{exceeds_depth, MAX_DEPTH};
use crate::{truncate, RejectReason};

/// Ok if the payload may be handed to the columnar decoder.
pub(crate) fn check_record(payload: Option<&[u8]>) -> Result<(), (RejectReason, String)> {
    let bytes = payload.ok_or((
        RejectReason::Tombstone,
        "record has no value (tombstone)".to_string(),
    ))?;
    if bytes.is_empty() {
        return Err((RejectReason::Empty, "record value is empty".into()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        (
            RejectReason::InvalidUtf8,
            format!("value is not valid UTF-8: {e}"),
        )
    })?;
    let first = text.trim_start().chars().next();
    if first != Some('{') {
        let detail = match first {
            None => "value is only whitespace".to_string(),
            Some(_) => format!(
                "value is not a JSON object: {:?}",
                truncate(text.trim_start(), 32)
            ),
        };
        // Whitespace-only is as empty as it gets; a non-object JSON value
        // (array, number, string) is its own reason, but only if it is JSON.
        return Err(match first {
            None => (RejectReason::Empty, detail),
            Some(_) if serde_json::from_str::<IgnoredAny>(text).is_ok() => {
                (RejectReason::NotAnObject, detail)
            }
            Some(_) => (
                RejectReason::InvalidJson,
                format!(
                    "value is not valid JSON: {:?}",
                    truncate(text.trim_start(), 32)
                ),
            ),
        });
    }
    if let Some(depth) = exceeds_depth(bytes, MAX_DEPTH) {
        return Err((
            RejectReason::TooDeep,
            format!("value nests deeper than {MAX_DEPTH} levels (at least {depth})"),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let outcome = de.deserialize_map(TopLevelKeys).and_then(|()| de.end());
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => {
            let msg = e.to_string();
            match msg.strip_prefix(DUPLICATE_PREFIX) {
                Some(rest) => Err((
                    RejectReason::DuplicateKey,
                    format!("key {rest} appears twice in the object"),
                )),
                None => Err((RejectReason::InvalidJson, format!("invalid JSON: {msg}"))),
            }
        }
    }
}

const DUPLICATE_PREFIX: &str = "duplicate key ";

/// Walks the top-level object, remembering keys and skipping values without
/// building them.
struct TopLevelKeys;

impl<'de> Visitor<'de> for TopLevelKeys {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format_args!(
                    "{DUPLICATE_PREFIX}{:?}",
                    truncate(&key, 64)
                )));
            }
            map.next_value::<IgnoredAny>()?;
            seen.insert(key);
        }
        Ok(())
    }
}

/// A key borrowed from the input when it has no escapes, owned otherwise
/// (serde's own `Cow` impl always allocates).
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}
