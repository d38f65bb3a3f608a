//! A sink table's columns read from its `create_cql` file instead of a live
//! cluster: `ember check` and `ember preview` plan and run the SQL offline
//! against the same columns, in the same order, that
//! [`super::CassandraTable`] reads from `system_schema` at `ember run`.
//!
//! Only what that needs is parsed: `CREATE TABLE [IF NOT EXISTS]
//! [keyspace.]name ( column type [STATIC] [PRIMARY KEY], …, PRIMARY KEY
//! ((partition…), clustering…) ) [WITH …]`. Other statements in the file
//! (`CREATE INDEX`, a second table) are skipped. Mistakes are reported with
//! the file, line and column they are at.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};

use super::error::UnsupportedColumn;
use super::schema::CqlKind;

mod tokens;
use tokens::{tokenize, Pos, Tok};

/// A sink table's columns as the SQL sees them: partition key, clustering
/// columns, then the other columns by name (the order `INSERT INTO t SELECT`
/// without a column list maps by), with their CQL and Arrow types.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkColumns {
    /// `keyspace.table` or, from a file without a keyspace, `table`.
    pub table: String,
    pub names: Vec<String>,
    /// CQL type names as declared (`text`, `uuid`, `bigint`, …).
    pub cql_types: Vec<String>,
    /// The first `key_len` columns are the primary key.
    pub key_len: usize,
    /// The Arrow schema the sink table exposes to SQL.
    pub schema: SchemaRef,
}

impl SinkColumns {
    /// Orders `columns` (name, CQL type, rank: 0 partition key, 1
    /// clustering, 2 other; then position within the key) as Cassandra
    /// reports them, and maps each type to Arrow. `None` names the first
    /// type the sink cannot write.
    pub(crate) fn ordered(
        table: String,
        mut columns: Vec<(u8, i32, String, String)>,
    ) -> Result<Self, UnsupportedColumn> {
        columns.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        let key_len = columns.iter().filter(|c| c.0 < 2).count();
        let mut names = Vec::new();
        let mut cql_types = Vec::new();
        let mut fields = Vec::new();
        for (_, _, name, ty) in columns {
            let Some(kind) = CqlKind::parse(&ty) else {
                return Err(UnsupportedColumn {
                    table,
                    column: name,
                    cql_type: ty,
                });
            };
            fields.push(Field::new(&name, kind.data_type(), true));
            names.push(name);
            cql_types.push(ty);
        }
        Ok(SinkColumns {
            table,
            names,
            cql_types,
            key_len,
            schema: Arc::new(Schema::new(fields)),
        })
    }
}

/// A `create_cql` file that does not declare the table as the sink needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct CqlParseError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Reads `file` and returns the columns of its `CREATE TABLE` for `table`.
pub fn read_create_table(file: &Path, table: &str) -> Result<SinkColumns, CqlParseError> {
    let text = std::fs::read_to_string(file).map_err(|e| CqlParseError {
        file: file.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("cannot read: {e}"),
    })?;
    parse_create_table(file, &text, table)
}

/// The columns of the `CREATE TABLE` for `table` in `text` (the contents of
/// `file`, named in errors).
pub fn parse_create_table(
    file: &Path,
    text: &str,
    table: &str,
) -> Result<SinkColumns, CqlParseError> {
    let tokens = tokenize(text).map_err(|(at, message)| error(file, at, message))?;
    let mut parser = Parser {
        file,
        tokens: &tokens,
        at: 0,
        end: Pos::after(text),
    };
    let mut seen = Vec::new();
    while parser.at < tokens.len() {
        if parser.keyword("create") && parser.peek_keyword(1, "table") {
            parser.at += 2;
            if parser.keyword("if") {
                parser.at += 1;
                parser.expect_keyword("not")?;
                parser.expect_keyword("exists")?;
            }
            let (keyspace, name) = parser.table_name()?;
            if name == table {
                let qualified = match keyspace {
                    Some(ks) => format!("{ks}.{name}"),
                    None => name,
                };
                return parser.column_list(qualified);
            }
            seen.push(name);
        }
        parser.skip_statement();
    }
    let found = match seen.as_slice() {
        [] => "it has no CREATE TABLE".to_string(),
        names => format!("it creates {}", names.join(", ")),
    };
    Err(error(
        file,
        Pos { line: 1, column: 1 },
        format!("no CREATE TABLE for table `{table}` ({found})"),
    ))
}

fn error(file: &Path, at: Pos, message: String) -> CqlParseError {
    CqlParseError {
        file: file.to_path_buf(),
        line: at.line,
        column: at.column,
        message,
    }
}

struct Parser<'a> {
    file: &'a Path,
    tokens: &'a [(Tok, Pos)],
    at: usize,
    end: Pos,
}

impl Parser<'_> {
    fn pos(&self) -> Pos {
        self.tokens.get(self.at).map_or(self.end, |t| t.1)
    }

    fn fail<T>(&self, message: String) -> Result<T, CqlParseError> {
        Err(error(self.file, self.pos(), message))
    }

    fn found(&self) -> String {
        match self.tokens.get(self.at) {
            None => "the end of the file".into(),
            Some((Tok::Word { text, .. }, _)) => format!("`{text}`"),
            Some((Tok::Punct(c), _)) => format!("`{c}`"),
            Some((Tok::Literal, _)) => "a literal".into(),
        }
    }

    fn peek_keyword(&self, ahead: usize, keyword: &str) -> bool {
        matches!(
            self.tokens.get(self.at + ahead),
            Some((Tok::Word { text, quoted: false }, _)) if text == keyword
        )
    }

    fn keyword(&self, keyword: &str) -> bool {
        self.peek_keyword(0, keyword)
    }

    fn punct(&self, c: char) -> bool {
        matches!(self.tokens.get(self.at), Some((Tok::Punct(p), _)) if *p == c)
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), CqlParseError> {
        if !self.keyword(keyword) {
            return self.fail(format!(
                "expected `{}`, found {}",
                keyword.to_uppercase(),
                self.found()
            ));
        }
        self.at += 1;
        Ok(())
    }

    fn expect_punct(&mut self, c: char, what: &str) -> Result<(), CqlParseError> {
        if !self.punct(c) {
            return self.fail(format!("expected `{c}` {what}, found {}", self.found()));
        }
        self.at += 1;
        Ok(())
    }

    /// An identifier: unquoted ones are case-insensitive (lower-cased, as
    /// Cassandra stores them), quoted ones keep their case.
    fn identifier(&mut self, what: &str) -> Result<String, CqlParseError> {
        match self.tokens.get(self.at) {
            Some((Tok::Word { text, .. }, _)) => {
                self.at += 1;
                Ok(text.clone())
            }
            _ => self.fail(format!("expected {what}, found {}", self.found())),
        }
    }

    fn table_name(&mut self) -> Result<(Option<String>, String), CqlParseError> {
        let first = self.identifier("a table name")?;
        if self.punct('.') {
            self.at += 1;
            let table = self.identifier("a table name after the keyspace")?;
            return Ok((Some(first), table));
        }
        Ok((None, first))
    }

    /// Past the next `;` (or to the end).
    fn skip_statement(&mut self) {
        while self.at < self.tokens.len() {
            let semicolon = self.punct(';');
            self.at += 1;
            if semicolon {
                return;
            }
        }
    }

    /// `PRIMARY KEY`, in a column definition or on its own: there is one
    /// per table, and `key_at` remembers where it was.
    fn primary_key(&mut self, key_at: &mut Option<Pos>) -> Result<(), CqlParseError> {
        let at = self.pos();
        self.at += 1;
        self.expect_keyword("key")?;
        if key_at.is_some() {
            return Err(error(self.file, at, "a second PRIMARY KEY".into()));
        }
        *key_at = Some(at);
        Ok(())
    }

    /// `( definition, … )` after the table name.
    fn column_list(&mut self, table: String) -> Result<SinkColumns, CqlParseError> {
        self.expect_punct('(', "to open the column list")?;
        // (name, type, where the type is)
        let mut columns: Vec<(String, String, Pos)> = Vec::new();
        let mut partition: Vec<(String, Pos)> = Vec::new();
        let mut clustering: Vec<(String, Pos)> = Vec::new();
        let mut key_at: Option<Pos> = None;
        loop {
            if self.keyword("primary") {
                self.primary_key(&mut key_at)?;
                self.expect_punct('(', "after PRIMARY KEY")?;
                if self.punct('(') {
                    self.at += 1;
                    partition = self.name_list()?;
                } else {
                    let at = self.pos();
                    partition = vec![(self.identifier("a partition key column")?, at)];
                }
                while self.punct(',') {
                    self.at += 1;
                    let at = self.pos();
                    clustering.push((self.identifier("a clustering column")?, at));
                }
                self.expect_punct(')', "to close PRIMARY KEY")?;
            } else {
                let name_at = self.pos();
                let name = self.identifier("a column name or PRIMARY KEY")?;
                if columns.iter().any(|c| c.0 == name) {
                    return Err(error(
                        self.file,
                        name_at,
                        format!("column `{name}` is declared twice"),
                    ));
                }
                let type_at = self.pos();
                let ty = self.cql_type()?;
                if self.keyword("static") {
                    self.at += 1;
                }
                if self.keyword("primary") {
                    self.primary_key(&mut key_at)?;
                    partition = vec![(name.clone(), name_at)];
                }
                columns.push((name, ty, type_at));
            }
            if self.punct(',') {
                self.at += 1;
                // A trailing comma before `)` is accepted, as Cassandra does.
                if self.punct(')') {
                    break;
                }
                continue;
            }
            break;
        }
        self.expect_punct(')', "or `,` in the column list")?;
        if key_at.is_none() {
            return self.fail(format!("table `{table}` has no PRIMARY KEY"));
        }
        let mut ranked = Vec::with_capacity(columns.len());
        for (rank, key) in [(0u8, &partition), (1, &clustering)] {
            for (position, (name, at)) in key.iter().enumerate() {
                if !columns.iter().any(|c| &c.0 == name) {
                    return Err(error(
                        self.file,
                        *at,
                        format!("PRIMARY KEY names `{name}`, which is not a column"),
                    ));
                }
                ranked.push((rank, position as i32, name.clone()));
            }
        }
        let mut declared = Vec::with_capacity(columns.len());
        for (name, ty, at) in columns {
            if CqlKind::parse(&ty).is_none() {
                return Err(error(
                    self.file,
                    at,
                    format!("column `{name}` has type `{ty}`, which the sink cannot write yet"),
                ));
            }
            let (rank, position) = ranked
                .iter()
                .find(|r| r.2 == name)
                .map_or((2, -1), |r| (r.0, r.1));
            declared.push((rank, position, name, ty));
        }
        SinkColumns::ordered(table, declared).map_err(|e| {
            let message = format!(
                "column {} has type `{}`, which the sink cannot write yet",
                e.column, e.cql_type
            );
            error(self.file, self.end, message)
        })
    }

    /// `name, …)` (the opening parenthesis already read).
    fn name_list(&mut self) -> Result<Vec<(String, Pos)>, CqlParseError> {
        let mut names = Vec::new();
        loop {
            let at = self.pos();
            names.push((self.identifier("a partition key column")?, at));
            if self.punct(',') {
                self.at += 1;
                continue;
            }
            self.expect_punct(')', "to close the partition key")?;
            return Ok(names);
        }
    }

    /// A type, its parameters included (`frozen<list<text>>`), as text.
    fn cql_type(&mut self) -> Result<String, CqlParseError> {
        let mut ty = self.identifier("a column type")?;
        if self.punct('<') {
            let mut depth = 0;
            loop {
                match self.tokens.get(self.at) {
                    None => return self.fail("unclosed `<` in a column type".into()),
                    Some((Tok::Punct('<'), _)) => depth += 1,
                    Some((Tok::Punct('>'), _)) => depth -= 1,
                    _ => {}
                }
                ty.push_str(&match &self.tokens[self.at].0 {
                    Tok::Word { text, .. } => text.clone(),
                    Tok::Punct(',') => ", ".into(),
                    Tok::Punct(c) => c.to_string(),
                    Tok::Literal => "?".into(),
                });
                self.at += 1;
                if depth == 0 {
                    break;
                }
            }
        }
        Ok(ty)
    }
}

#[cfg(test)]
mod tests;
