//! The tokens of a CQL file, with the line and column each starts at.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) column: usize,
}

impl Pos {
    /// Just after the last character of `text`: where "unexpected end" is.
    pub(super) fn after(text: &str) -> Pos {
        let line = text.lines().count().max(1);
        let column = text.lines().last().map_or(0, |l| l.chars().count()) + 1;
        Pos { line, column }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// An identifier or keyword; `quoted` keeps its case.
    Word {
        text: String,
        quoted: bool,
    },
    Punct(char),
    /// A string or number literal (only ever skipped, in `WITH …`).
    Literal,
}

/// Words, punctuation and literals with their positions; comments (`--`,
/// `//`, `/* */`) and whitespace dropped.
pub(super) fn tokenize(text: &str) -> Result<Vec<(Tok, Pos)>, (Pos, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut column) = (0, 1, 1);
    let advance = |i: &mut usize, line: &mut usize, column: &mut usize, c: char| {
        *i += 1;
        if c == '\n' {
            *line += 1;
            *column = 1;
        } else {
            *column += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, column };
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut column, c);
        } else if (c == '-' && next == Some('-')) || (c == '/' && next == Some('/')) {
            while i < chars.len() && chars[i] != '\n' {
                let c = chars[i];
                advance(&mut i, &mut line, &mut column, c);
            }
        } else if c == '/' && next == Some('*') {
            loop {
                if i >= chars.len() {
                    return Err((pos, "unterminated /* comment".into()));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    advance(&mut i, &mut line, &mut column, '*');
                    advance(&mut i, &mut line, &mut column, '/');
                    break;
                }
                let c = chars[i];
                advance(&mut i, &mut line, &mut column, c);
            }
        } else if c == '"' || c == '\'' {
            let mut text = String::new();
            advance(&mut i, &mut line, &mut column, c);
            loop {
                match chars.get(i) {
                    None => return Err((pos, format!("unterminated {c}"))),
                    Some(&q) if q == c && chars.get(i + 1) == Some(&c) => {
                        text.push(c);
                        advance(&mut i, &mut line, &mut column, q);
                        advance(&mut i, &mut line, &mut column, q);
                    }
                    Some(&q) if q == c => {
                        advance(&mut i, &mut line, &mut column, q);
                        break;
                    }
                    Some(&other) => {
                        text.push(other);
                        advance(&mut i, &mut line, &mut column, other);
                    }
                }
            }
            let tok = match c {
                '"' => Tok::Word { text, quoted: true },
                _ => Tok::Literal,
            };
            out.push((tok, pos));
        } else if c.is_alphanumeric() || c == '_' {
            let mut text = String::new();
            while let Some(&w) = chars.get(i) {
                if !(w.is_alphanumeric() || w == '_' || (w == '.' && text.parse::<f64>().is_ok())) {
                    break;
                }
                text.push(w);
                advance(&mut i, &mut line, &mut column, w);
            }
            let tok = if text.starts_with(|d: char| d.is_ascii_digit()) {
                Tok::Literal
            } else {
                Tok::Word {
                    text: text.to_lowercase(),
                    quoted: false,
                }
            };
            out.push((tok, pos));
        } else {
            out.push((Tok::Punct(c), pos));
            advance(&mut i, &mut line, &mut column, c);
        }
    }
    Ok(out)
}
