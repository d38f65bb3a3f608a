//! One record: the top-level object read in one pass into a value per
//! schema field, with duplicate keys detected on the way, and the reason
//! a record fails decided with the precedence the decoder has always had.
//!
//! Precedence, highest first (the order the previous decoder's passes ran
//! in, kept so that a record is dead-lettered for the same reason as
//! before): invalid UTF-8 (checked by the caller); whitespace only; nesting
//! deeper than [`MAX_DEPTH`] anywhere in an object; the first syntax error
//! or repeated key in reading order; a surrogate escape without its other
//! half; then, in [`crate::columns`], a value of the wrong type, and last a
//! missing required field or a non-UUID `uuid`. Only the first failure is
//! reported; every error path below the happy one may rescan the payload,
//! which costs nothing for the records that decode.

use std::borrow::Cow;

use crate::columns::Problem;
use crate::keys::{FieldLookup, UnknownKeys};
use crate::scan::{Scanner, Syntax, SyntaxError, Text, Want};
use crate::{truncate, RejectReason};

/// Deepest nesting accepted, the top-level object included. Values are
/// skipped without recursion, so this is a policy, not a stack guard:
/// nobody sends user records 64 levels deep.
pub(crate) const MAX_DEPTH: usize = 64;

/// What one schema field held in the record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'p> {
    /// The key did not appear.
    Absent,
    Null,
    Bool(bool),
    /// A number, as written.
    Number(&'p str),
    Str(Text<'p>),
    /// An object or array, as written.
    Nested(&'p str),
}

/// The reusable state of reading records (one per `decode` call).
pub(crate) struct Record<'p> {
    /// One per schema field, in schema order.
    pub values: Vec<Value<'p>>,
    /// The record's strings that had escapes, unescaped
    /// ([`Text::Decoded`] ranges point here).
    pub decoded: String,
    /// The key being read, when it has escapes.
    key: String,
    unknown: UnknownKeys<'p>,
    /// Open containers while a value is skipped.
    stack: Vec<u8>,
}

/// Why reading stopped.
enum Failure {
    /// The first non-whitespace byte is not `{`.
    NotAnObject,
    Syntax(SyntaxError),
    /// This key (unescaped) came a second time.
    Duplicate(String),
}

impl From<SyntaxError> for Failure {
    fn from(e: SyntaxError) -> Self {
        Failure::Syntax(e)
    }
}

impl<'p> Record<'p> {
    pub fn new(fields: usize) -> Self {
        Record {
            values: vec![Value::Absent; fields],
            decoded: String::new(),
            key: String::new(),
            unknown: UnknownKeys::default(),
            stack: Vec::new(),
        }
    }

    /// Reads one payload. On success, `values` and `decoded` describe it;
    /// on failure, the reason and a detail naming what and where.
    pub fn read(&mut self, text: &'p str, lookup: &FieldLookup) -> Result<(), Problem> {
        for value in &mut self.values {
            *value = Value::Absent;
        }
        self.decoded.clear();
        self.unknown.clear();
        let mut scanner = Scanner::new(text);
        match self.object(&mut scanner, lookup) {
            Ok(()) => match scanner.unpaired_surrogate {
                None => Ok(()),
                Some(at) => Err(invalid_json(text, Syntax::UnpairedSurrogate, at)),
            },
            Err(Failure::NotAnObject) => Err(not_an_object(text, &mut self.stack)),
            Err(failure) => Err(too_deep(text).unwrap_or_else(|| match failure {
                Failure::Duplicate(key) => (
                    RejectReason::DuplicateKey,
                    format!("key {:?} appears twice in the object", truncate(&key, 64)),
                ),
                // The scan only stops for depth where the bracket count
                // above finds it too; should they ever disagree, the
                // scan's finding still names the reason.
                Failure::Syntax(SyntaxError {
                    kind: Syntax::TooDeep,
                    ..
                }) => (
                    RejectReason::TooDeep,
                    format!("value nests deeper than {MAX_DEPTH} levels"),
                ),
                Failure::Syntax(e) => invalid_json(text, e.kind, e.at),
                Failure::NotAnObject => not_an_object(text, &mut self.stack),
            })),
        }
    }

    /// The top-level object, key by key.
    fn object(&mut self, sc: &mut Scanner<'p>, lookup: &FieldLookup) -> Result<(), Failure> {
        let Record {
            values,
            decoded,
            key,
            unknown,
            stack,
        } = self;
        sc.skip_whitespace();
        if sc.peek() != Some(b'{') {
            return Err(Failure::NotAnObject);
        }
        sc.pos += 1;
        sc.skip_whitespace();
        if sc.peek() == Some(b'}') {
            sc.pos += 1;
        } else {
            let mut hint = 0;
            loop {
                sc.expect(b'"', "a string key", "an object")?;
                key.clear();
                let text = sc.string(Want::Key, key)?;
                let name: &str = match &text {
                    Text::Raw(k) => k,
                    Text::Decoded(_) => key,
                };
                let field = lookup.find(name, hint);
                let first_time = match field {
                    Some(f) => {
                        hint = f + 1;
                        values.get(f) == Some(&Value::Absent)
                    }
                    None => unknown.insert(match text {
                        Text::Raw(k) => Cow::Borrowed(k),
                        Text::Decoded(_) => Cow::Owned(key.clone()),
                    }),
                };
                if !first_time {
                    return Err(Failure::Duplicate(name.to_string()));
                }
                sc.skip_whitespace();
                sc.expect(b':', "`:`", "an object")?;
                sc.skip_whitespace();
                match field.and_then(|f| values.get_mut(f)) {
                    Some(slot) => *slot = read_value(sc, decoded, stack)?,
                    None => sc.skip_value(1, MAX_DEPTH, stack)?,
                }
                sc.skip_whitespace();
                match sc.peek() {
                    Some(b',') => {
                        sc.pos += 1;
                        sc.skip_whitespace();
                    }
                    Some(b'}') => {
                        sc.pos += 1;
                        break;
                    }
                    _ => return Err(sc.unexpected("`,` or `}`", "an object").into()),
                }
            }
        }
        sc.skip_whitespace();
        if !sc.at_end() {
            return Err(sc.error(Syntax::TrailingCharacters).into());
        }
        Ok(())
    }
}

/// The value of a schema field; `pos` is at its first byte.
fn read_value<'p>(
    sc: &mut Scanner<'p>,
    decoded: &mut String,
    stack: &mut Vec<u8>,
) -> Result<Value<'p>, SyntaxError> {
    Ok(match sc.peek() {
        Some(b'"') => {
            sc.pos += 1;
            Value::Str(sc.string(Want::Value, decoded)?)
        }
        Some(b'-' | b'0'..=b'9') => Value::Number(sc.number()?),
        Some(b't') => {
            sc.literal("true")?;
            Value::Bool(true)
        }
        Some(b'f') => {
            sc.literal("false")?;
            Value::Bool(false)
        }
        Some(b'n') => {
            sc.literal("null")?;
            Value::Null
        }
        Some(b'[' | b'{') => {
            let start = sc.pos;
            sc.skip_value(1, MAX_DEPTH, stack)?;
            Value::Nested(sc.slice(start, sc.pos)?)
        }
        _ => return Err(sc.unexpected("a value", "a value")),
    })
}

/// A payload that does not start with `{` (after JSON whitespace): only
/// whitespace (Unicode's, as before), JSON of another kind, or not JSON.
fn not_an_object(text: &str, stack: &mut Vec<u8>) -> Problem {
    let trimmed = text.trim_start();
    match trimmed.chars().next() {
        None => (RejectReason::Empty, "value is only whitespace".into()),
        // Whitespace JSON does not allow (U+00A0, say) before the brace.
        Some('{') => too_deep(text).unwrap_or_else(|| {
            let at = text.len() - text.trim_start_matches([' ', '\t', '\n', '\r']).len();
            invalid_json(text, Syntax::Expected("a value"), at)
        }),
        Some(_) if is_json(text, stack) => (
            RejectReason::NotAnObject,
            format!("value is not a JSON object: {:?}", truncate(trimmed, 32)),
        ),
        Some(_) => (
            RejectReason::InvalidJson,
            format!("value is not valid JSON: {:?}", truncate(trimmed, 32)),
        ),
    }
}

/// Whether `text` is one JSON value of any depth, whitespace around it.
fn is_json(text: &str, stack: &mut Vec<u8>) -> bool {
    let mut sc = Scanner::new(text);
    sc.skip_whitespace();
    let ok = sc.skip_value(0, usize::MAX, stack).is_ok();
    sc.skip_whitespace();
    ok && sc.at_end()
}

/// `TooDeep` if brackets outside strings nest deeper than [`MAX_DEPTH`]
/// anywhere in `text`, valid JSON or not: the previous decoder checked
/// this before parsing, so it outranks every syntax error.
fn too_deep(text: &str) -> Option<Problem> {
    let depth = exceeds_depth(text.as_bytes(), MAX_DEPTH)?;
    Some((
        RejectReason::TooDeep,
        format!("value nests deeper than {MAX_DEPTH} levels (at least {depth})"),
    ))
}

/// Scans brackets outside strings; returns the depth reached if it passes
/// `max`.
pub(crate) fn exceeds_depth(bytes: &[u8], max: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Some(depth);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// `InvalidJson`, saying what was wrong at which line and column.
fn invalid_json(text: &str, kind: Syntax, at: usize) -> Problem {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
    let found = match (kind, text.get(at..).and_then(|rest| rest.chars().next())) {
        (Syntax::Expected(_), Some(c)) => format!(", found {c:?}"),
        _ => String::new(),
    };
    (
        RejectReason::InvalidJson,
        format!("invalid JSON: {kind}{found} at line {line} column {column}"),
    )
}
