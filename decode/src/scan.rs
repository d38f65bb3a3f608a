//! The JSON grammar (RFC 8259), read left to right over one payload.
//!
//! The decoder reads every record exactly once: this cursor checks the
//! grammar while [`crate::record`] picks out the schema's fields, so nothing
//! is parsed twice and nothing is built that is not kept. It knows strings
//! (every escape, surrogate pairs joined), numbers, literals and nesting;
//! values the schema does not want are skipped without recursion, so depth
//! costs a byte of stack per level, never a stack frame.
//!
//! The text is already known to be UTF-8 (`std::str::from_utf8` ran on the
//! whole payload, as the reason `invalid_utf8` must win over any other), so
//! the scan looks only at ASCII bytes and slices `&str` at ASCII delimiters,
//! which are always character boundaries.
//!
//! Two kinds of string trouble are told apart, to keep the reasons and their
//! precedence of the decoder this one replaced (serde_json's structural check,
//! then arrow-json's tape): a malformed escape is an error at once; an escape
//! of one half of a UTF-16 surrogate pair is an error at once only in a
//! top-level key (serde_json decoded those), anywhere else it is noted in
//! [`Scanner::unpaired_surrogate`] and reported only if the rest of the
//! record is well-formed (arrow-json refused it after serde_json had passed
//! the record).

use std::fmt;

/// One syntax error and the byte offset it was found at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub kind: Syntax,
    pub at: usize,
}

/// What was wrong. Displayed as the middle of an `invalid JSON: …` detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// The text ended inside the named construct.
    Eof(&'static str),
    /// Another byte than the named one(s).
    Expected(&'static str),
    /// A raw byte below U+0020 inside a string.
    ControlCharacter,
    /// `\` followed by something other than `"\/bfnrtu`.
    InvalidEscape,
    /// `\u` not followed by four hex digits.
    InvalidUnicodeEscape,
    /// A number that breaks the grammar (`01`, `1.`, `-`, `1e`).
    InvalidNumber,
    /// One half of a UTF-16 surrogate pair on its own.
    UnpairedSurrogate,
    /// Bytes after the value.
    TrailingCharacters,
    /// Nesting deeper than the limit.
    TooDeep,
    /// A slice fell inside a character: a decoder bug, reported, not panicked on.
    NotACharBoundary,
}

impl fmt::Display for Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Syntax::Eof(what) => write!(f, "EOF while parsing {what}"),
            Syntax::Expected(what) => write!(f, "expected {what}"),
            Syntax::ControlCharacter => {
                f.write_str("control character (\\u0000-\\u001F) found while parsing a string")
            }
            Syntax::InvalidEscape => f.write_str("invalid escape"),
            Syntax::InvalidUnicodeEscape => f.write_str("invalid \\u escape (four hex digits)"),
            Syntax::InvalidNumber => f.write_str("invalid number"),
            Syntax::UnpairedSurrogate => f.write_str("unpaired UTF-16 surrogate escape"),
            Syntax::TrailingCharacters => f.write_str("trailing characters"),
            Syntax::TooDeep => f.write_str("nesting too deep"),
            Syntax::NotACharBoundary => f.write_str("decoder bug: slice inside a character"),
        }
    }
}

/// How a string's content is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Only checked.
    Skip,
    /// Decoded; a surrogate on its own is noted, not an error.
    Value,
    /// Decoded; a surrogate on its own is an error (a top-level key).
    Key,
}

/// A decoded string: a slice of the payload when it had no escapes,
/// otherwise the part of the caller's buffer it was decoded into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Text<'p> {
    Raw(&'p str),
    Decoded(std::ops::Range<usize>),
}

/// A cursor over one payload.
pub(crate) struct Scanner<'p> {
    text: &'p str,
    bytes: &'p [u8],
    pub pos: usize,
    /// Where the first surrogate escape without its other half is, outside
    /// top-level keys.
    pub unpaired_surrogate: Option<usize>,
}

impl<'p> Scanner<'p> {
    pub fn new(text: &'p str) -> Self {
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            unpaired_surrogate: None,
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub fn error(&self, kind: Syntax) -> SyntaxError {
        SyntaxError { kind, at: self.pos }
    }

    /// An error at the current byte: `Eof(inside)` at the end of the text,
    /// `Expected(expected)` otherwise.
    pub fn unexpected(&self, expected: &'static str, inside: &'static str) -> SyntaxError {
        match self.at_end() {
            true => self.error(Syntax::Eof(inside)),
            false => self.error(Syntax::Expected(expected)),
        }
    }

    /// The payload between two byte offsets.
    pub fn slice(&self, start: usize, end: usize) -> Result<&'p str, SyntaxError> {
        self.text.get(start..end).ok_or(SyntaxError {
            kind: Syntax::NotACharBoundary,
            at: start,
        })
    }

    /// Skips JSON whitespace (space, tab, line feed, carriage return).
    #[inline]
    pub fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` or fails with `Expected(expected)` / `Eof(inside)`.
    #[inline]
    pub fn expect(
        &mut self,
        byte: u8,
        expected: &'static str,
        inside: &'static str,
    ) -> Result<(), SyntaxError> {
        match self.peek() {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.unexpected(expected, inside)),
        }
    }

    /// Reads a string; `pos` is just past its opening quote. Escaped
    /// content is appended to `out` (left alone for [`Want::Skip`]).
    pub fn string(&mut self, want: Want, out: &mut String) -> Result<Text<'p>, SyntaxError> {
        let start = self.pos;
        let decoded_from = out.len();
        let mut segment = start;
        let mut escaped = false;
        loop {
            let i = find_special(self.bytes, self.pos);
            match self.bytes.get(i) {
                None => {
                    self.pos = i;
                    return Err(self.error(Syntax::Eof("a string")));
                }
                Some(b'"') => {
                    self.pos = i + 1;
                    if !escaped || want == Want::Skip {
                        return Ok(Text::Raw(self.slice(start, i)?));
                    }
                    out.push_str(self.slice(segment, i)?);
                    return Ok(Text::Decoded(decoded_from..out.len()));
                }
                Some(b'\\') => {
                    if want != Want::Skip {
                        out.push_str(self.slice(segment, i)?);
                    }
                    escaped = true;
                    self.pos = i + 1;
                    let c = self.escape(want)?;
                    if want != Want::Skip {
                        out.push(c);
                    }
                    segment = self.pos;
                }
                Some(_) => {
                    self.pos = i;
                    return Err(self.error(Syntax::ControlCharacter));
                }
            }
        }
    }

    /// One escape; `pos` is just past the backslash.
    fn escape(&mut self, want: Want) -> Result<char, SyntaxError> {
        let Some(b) = self.peek() else {
            return Err(self.error(Syntax::Eof("a string")));
        };
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let at = self.pos - 1;
                self.pos += 1;
                let unit = self.hex4()?;
                return match unit {
                    0xD800..=0xDBFF => match self.low_surrogate() {
                        Some(low) => {
                            self.pos += 6;
                            let code = 0x1_0000
                                + ((u32::from(unit) - 0xD800) << 10)
                                + (u32::from(low) - 0xDC00);
                            Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER))
                        }
                        None => self.unpaired(at, want),
                    },
                    0xDC00..=0xDFFF => self.unpaired(at, want),
                    _ => Ok(char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER)),
                };
            }
            _ => return Err(self.error(Syntax::InvalidEscape)),
        };
        self.pos += 1;
        Ok(c)
    }

    /// A surrogate without its other half at `at`: an error in a key, noted
    /// elsewhere (the record is rejected later unless something else is
    /// wrong first).
    fn unpaired(&mut self, at: usize, want: Want) -> Result<char, SyntaxError> {
        if want == Want::Key {
            return Err(SyntaxError {
                kind: Syntax::UnpairedSurrogate,
                at,
            });
        }
        self.unpaired_surrogate.get_or_insert(at);
        Ok(char::REPLACEMENT_CHARACTER)
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Result<u16, SyntaxError> {
        let mut unit = 0u16;
        for _ in 0..4 {
            let digit = match self.peek().map(hex_digit) {
                None => return Err(self.error(Syntax::Eof("a string"))),
                Some(None) => return Err(self.error(Syntax::InvalidUnicodeEscape)),
                Some(Some(digit)) => digit,
            };
            unit = (unit << 4) | digit;
            self.pos += 1;
        }
        Ok(unit)
    }

    /// The low half of a surrogate pair, if `\uDC00`–`\uDFFF` is next.
    fn low_surrogate(&self) -> Option<u16> {
        let next = self.bytes.get(self.pos..self.pos + 6)?;
        if next[0] != b'\\' || next[1] != b'u' {
            return None;
        }
        let unit = next[2..]
            .iter()
            .try_fold(0u16, |acc, &b| Some((acc << 4) | hex_digit(b)?))?;
        (0xDC00..=0xDFFF).contains(&unit).then_some(unit)
    }

    /// A number, returned as its text; `pos` is at its first byte.
    pub fn number(&mut self) -> Result<&'p str, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error(Syntax::InvalidNumber)),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        self.slice(start, self.pos)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), SyntaxError> {
        match self.peek() {
            Some(b'0'..=b'9') => {
                self.digits();
                Ok(())
            }
            _ => Err(self.error(Syntax::InvalidNumber)),
        }
    }

    /// `true`, `false` or `null`, whichever `pos` is at.
    pub fn literal(&mut self, word: &'static str) -> Result<(), SyntaxError> {
        let word = word.as_bytes();
        for (offset, &expected) in word.iter().enumerate() {
            match self.bytes.get(self.pos + offset) {
                Some(&b) if b == expected => {}
                Some(_) => {
                    self.pos += offset;
                    return Err(self.error(Syntax::Expected("a value")));
                }
                None => {
                    self.pos += offset;
                    return Err(self.error(Syntax::Eof("a value")));
                }
            }
        }
        self.pos += word.len();
        Ok(())
    }

    /// Checks one value of any kind and moves past it; `pos` is at its first
    /// byte. `depth` containers enclose it; one that would nest deeper than
    /// `limit` is [`Syntax::TooDeep`]. Containers are tracked in `stack`
    /// (one byte each), not by recursion.
    pub fn skip_value(
        &mut self,
        depth: usize,
        limit: usize,
        stack: &mut Vec<u8>,
    ) -> Result<(), SyntaxError> {
        stack.clear();
        let mut unused = String::new();
        loop {
            // A value starts here.
            self.skip_whitespace();
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    self.string(Want::Skip, &mut unused)?;
                }
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(b't') => self.literal("true")?,
                Some(b'f') => self.literal("false")?,
                Some(b'n') => self.literal("null")?,
                Some(open @ (b'[' | b'{')) => {
                    if depth + stack.len() >= limit {
                        return Err(self.error(Syntax::TooDeep));
                    }
                    self.pos += 1;
                    stack.push(open);
                    self.skip_whitespace();
                    let close = if open == b'[' { b']' } else { b'}' };
                    if self.peek() != Some(close) {
                        if open == b'{' {
                            self.member_key(&mut unused)?;
                        }
                        continue;
                    }
                    self.pos += 1;
                    stack.pop();
                }
                _ => return Err(self.unexpected("a value", "a value")),
            }
            // A value ended: close containers until one wants another value.
            loop {
                let Some(&open) = stack.last() else {
                    return Ok(());
                };
                self.skip_whitespace();
                match (self.peek(), open) {
                    (Some(b','), _) => {
                        self.pos += 1;
                        if open == b'{' {
                            self.skip_whitespace();
                            self.member_key(&mut unused)?;
                        }
                        break;
                    }
                    (Some(b']'), b'[') | (Some(b'}'), b'{') => {
                        self.pos += 1;
                        stack.pop();
                    }
                    (_, b'[') => return Err(self.unexpected("`,` or `]`", "a list")),
                    _ => return Err(self.unexpected("`,` or `}`", "an object")),
                }
            }
        }
    }

    /// A key and its colon inside a skipped object; `pos` is at the quote.
    fn member_key(&mut self, unused: &mut String) -> Result<(), SyntaxError> {
        self.expect(b'"', "a string key", "an object")?;
        self.string(Want::Skip, unused)?;
        self.skip_whitespace();
        self.expect(b':', "`:`", "an object")
    }
}

fn hex_digit(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}

/// The offset of the first `"`, `\` or control byte at or after `i`, or
/// the length of `bytes`. Eight bytes at a time: in each word, a byte is
/// flagged if it is a quote, a backslash or below 0x20; borrows can only
/// flag bytes above a truly flagged one, so the lowest flag is exact.
#[inline]
fn find_special(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let flags = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w);
        let flags = flags & HIGH;
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests;
