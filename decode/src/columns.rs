//! What each JSON value becomes in its column, and the Arrow builders.
//!
//! A record's values are first *staged* in their columns, every field
//! checked, and only then *committed* (appended to the builders) — so a
//! record that fails leaves nothing behind, without a builder that can
//! roll back.
//!
//! The coercions are the ones arrow-json applied with `coerce_primitive`
//! (the previous decoder), so the same records are accepted, with the same
//! cells:
//! - text (`string`, `uuid`): strings; numbers as their exact JSON text
//!   (`1.0`, `1e5`, `-0` stay as written); `true` / `false` as those words;
//! - `int`: integers; numbers with a fraction or an exponent are parsed as
//!   a double and truncated towards zero if within `[-2^63, 2^63)`
//!   (`1.9` → 1, `1e3` → 1000); strings holding a decimal integer (an
//!   optional sign, ASCII whitespace around it allowed), no fractions;
//! - `double`: numbers; strings a float parser accepts (`"1.5"`, `"1e3"`,
//!   `"inf"`, `"NaN"`), through the same parser arrow-json used;
//! - `boolean`: `true` and `false` only.
//!
//! `null` and a missing key are a null cell. Anything else is
//! [`RejectReason::WrongType`], naming the field and the value.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow::compute::kernels::cast_utils::Parser;
use arrow::datatypes::{Float64Type, Int64Type};

use crate::record::Value;
use crate::scan::Text;
use crate::{truncate, ColumnType, FieldSpec, RejectReason};

/// Why a record is rejected, with the detail.
pub(crate) type Problem = (RejectReason, String);

/// One column's builder and the value staged for the record in progress.
pub(crate) enum Column<'p> {
    Text {
        builder: StringBuilder,
        staged: Option<Text<'p>>,
    },
    Int {
        builder: Int64Builder,
        staged: Option<i64>,
    },
    Double {
        builder: Float64Builder,
        staged: Option<f64>,
    },
    Boolean {
        builder: BooleanBuilder,
        staged: Option<bool>,
    },
}

impl<'p> Column<'p> {
    /// An empty column for up to `rows` rows, `text_bytes` of text estimated.
    pub fn new(ty: ColumnType, rows: usize, text_bytes: usize) -> Self {
        match ty {
            ColumnType::String | ColumnType::Uuid => Column::Text {
                builder: StringBuilder::with_capacity(rows, text_bytes),
                staged: None,
            },
            ColumnType::Int => Column::Int {
                builder: Int64Builder::with_capacity(rows),
                staged: None,
            },
            ColumnType::Double => Column::Double {
                builder: Float64Builder::with_capacity(rows),
                staged: None,
            },
            ColumnType::Boolean => Column::Boolean {
                builder: BooleanBuilder::with_capacity(rows),
                staged: None,
            },
        }
    }

    /// Converts `value` for this column and keeps it until [`Self::commit`].
    /// `decoded` holds the record's unescaped strings.
    pub fn stage(
        &mut self,
        field: &FieldSpec,
        value: &Value<'p>,
        decoded: &str,
    ) -> Result<(), Problem> {
        let wrong = |expected: &str| wrong_type(field, expected, value, decoded);
        match self {
            Column::Text { staged, .. } => {
                *staged = match value {
                    Value::Absent | Value::Null => None,
                    Value::Str(text) => Some(text.clone()),
                    Value::Number(n) => Some(Text::Raw(n)),
                    Value::Bool(true) => Some(Text::Raw("true")),
                    Value::Bool(false) => Some(Text::Raw("false")),
                    Value::Nested(_) => return Err(wrong("a string, a number or a boolean")),
                }
            }
            Column::Int { staged, .. } => {
                *staged = match value {
                    Value::Absent | Value::Null => None,
                    Value::Number(n) => {
                        Some(int_from_number(n).ok_or_else(|| wrong("a 64-bit integer"))?)
                    }
                    Value::Str(text) => Some(
                        Int64Type::parse(resolve(text, decoded))
                            .ok_or_else(|| wrong("a 64-bit integer"))?,
                    ),
                    Value::Bool(_) | Value::Nested(_) => return Err(wrong("a 64-bit integer")),
                }
            }
            Column::Double { staged, .. } => {
                *staged = match value {
                    Value::Absent | Value::Null => None,
                    Value::Number(n) => {
                        Some(Float64Type::parse(n).ok_or_else(|| wrong("a number"))?)
                    }
                    Value::Str(text) => Some(
                        Float64Type::parse(resolve(text, decoded))
                            .ok_or_else(|| wrong("a number"))?,
                    ),
                    Value::Bool(_) | Value::Nested(_) => return Err(wrong("a number")),
                }
            }
            Column::Boolean { staged, .. } => {
                *staged = match value {
                    Value::Absent | Value::Null => None,
                    Value::Bool(b) => Some(*b),
                    _ => return Err(wrong("a boolean")),
                }
            }
        }
        Ok(())
    }

    /// The schema's constraints on the staged value: present if required,
    /// a UUID if `uuid`.
    pub fn check(&self, field: &FieldSpec, decoded: &str) -> Result<(), Problem> {
        let present = match self {
            Column::Text { staged, .. } => staged.is_some(),
            Column::Int { staged, .. } => staged.is_some(),
            Column::Double { staged, .. } => staged.is_some(),
            Column::Boolean { staged, .. } => staged.is_some(),
        };
        if !present && field.required {
            return Err((
                RejectReason::MissingRequired,
                format!("required field `{}` is missing or null", field.name),
            ));
        }
        if let (
            ColumnType::Uuid,
            Column::Text {
                staged: Some(text), ..
            },
        ) = (field.ty, self)
        {
            let text = resolve(text, decoded);
            if uuid::Uuid::try_parse(text).is_err() {
                return Err((
                    RejectReason::InvalidUuid,
                    format!(
                        "field `{}` is not a UUID: {:?}",
                        field.name,
                        truncate(text, 64)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Appends the staged value (null if none).
    pub fn commit(&mut self, decoded: &str) {
        match self {
            Column::Text { builder, staged } => match staged.take() {
                Some(text) => builder.append_value(resolve(&text, decoded)),
                None => builder.append_null(),
            },
            Column::Int { builder, staged } => builder.append_option(staged.take()),
            Column::Double { builder, staged } => builder.append_option(staged.take()),
            Column::Boolean { builder, staged } => builder.append_option(staged.take()),
        }
    }

    pub fn finish(self) -> ArrayRef {
        match self {
            Column::Text { mut builder, .. } => Arc::new(builder.finish()),
            Column::Int { mut builder, .. } => Arc::new(builder.finish()),
            Column::Double { mut builder, .. } => Arc::new(builder.finish()),
            Column::Boolean { mut builder, .. } => Arc::new(builder.finish()),
        }
    }
}

/// A string's text: from the payload, or from the record's decoded strings
/// (whose ranges are taken at `push` boundaries, so always char boundaries).
fn resolve<'a>(text: &'a Text<'_>, decoded: &'a str) -> &'a str {
    match text {
        Text::Raw(s) => s,
        Text::Decoded(range) => &decoded[range.clone()],
    }
}

/// A JSON number for an `int` column, as arrow-json read it: an integer if
/// it is one, otherwise a double truncated towards zero when it fits
/// (num-traits' `NumCast`, which arrow-json used: `[-2^63, 2^63)`).
fn int_from_number(n: &str) -> Option<i64> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(i);
    }
    let f = Float64Type::parse(n)?;
    // -2^63 and 2^63 are exact in f64.
    (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0)
        .contains(&f)
        .then_some(f as i64)
}

fn wrong_type(field: &FieldSpec, expected: &str, value: &Value<'_>, decoded: &str) -> Problem {
    let got = match value {
        Value::Absent | Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => truncate(n, 64).to_string(),
        Value::Str(text) => format!("{:?}", truncate(resolve(text, decoded), 64)),
        Value::Nested(raw) => truncate(raw, 64)
            .chars()
            .map(|c| if c.is_ascii_whitespace() { ' ' } else { c })
            .collect(),
    };
    (
        RejectReason::WrongType,
        format!("field `{}` expects {expected}, got {got}", field.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_ints_as_arrow_json_read_them() {
        for (n, want) in [
            ("0", Some(0)),
            ("-0", Some(0)),
            ("12", Some(12)),
            ("1.9", Some(1)),
            ("-1.9", Some(-1)),
            ("1e3", Some(1000)),
            ("1E-400", Some(0)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("-9223372036854775809", Some(i64::MIN)),
            ("-9223372036854775808.0", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("9223372036854775807.0", None),
            ("1e400", None),
            ("-1e400", None),
        ] {
            assert_eq!(int_from_number(n), want, "{n}");
        }
    }
}
