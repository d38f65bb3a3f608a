//! The source schema: which JSON fields become which Arrow columns.
//!
//! It lives in the decode crate (not the engine) so the fuzz target and the
//! decoder share one definition without pulling in DataFusion.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

/// The type of one source column, as written in a pipeline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Text. Numbers and booleans are accepted and kept as their JSON text
    /// (the randomuser API sends `postcode` as a number or a string).
    String,
    /// Text that must parse as a UUID; anything else is a decode error.
    Uuid,
    /// 64-bit signed integer.
    #[serde(alias = "bigint", alias = "long")]
    Int,
    /// 64-bit float.
    #[serde(alias = "float")]
    Double,
    /// true / false.
    #[serde(alias = "bool")]
    Boolean,
}

impl ColumnType {
    /// The Arrow type the column decodes into.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::String | ColumnType::Uuid => DataType::Utf8,
            ColumnType::Int => DataType::Int64,
            ColumnType::Double => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
        }
    }
}

/// One field of the source schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The JSON key, also the column name the SQL sees.
    pub name: String,
    /// The column type.
    #[serde(rename = "type", default = "default_type")]
    pub ty: ColumnType,
    /// A record whose value for this field is missing or null is dead-lettered.
    #[serde(default)]
    pub required: bool,
}

fn default_type() -> ColumnType {
    ColumnType::String
}

/// The ordered list of fields decoded from each record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SourceSchema {
    pub fields: Vec<FieldSpec>,
}

impl SourceSchema {
    /// The Arrow schema of decoded batches. Every column is nullable: required
    /// fields are enforced by the decoder, which dead-letters the record,
    /// rather than by Arrow, which would fail the whole batch.
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.fields
                .iter()
                .map(|f| Field::new(&f.name, f.ty.data_type(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// The classic `users_created` contract (DESIGN.md §1): `id` is a required
    /// UUID, every other field is text.
    pub fn users_created() -> Self {
        let text = [
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
        let mut fields = vec![FieldSpec {
            name: "id".into(),
            ty: ColumnType::Uuid,
            required: true,
        }];
        fields.extend(text.iter().map(|n| FieldSpec {
            name: (*n).into(),
            ty: ColumnType::String,
            required: false,
        }));
        SourceSchema { fields }
    }

    /// Checks the schema itself: at least one field, no duplicate names.
    pub fn validate(&self) -> Result<(), SchemaError> {
        if self.fields.is_empty() {
            return Err(SchemaError::NoFields);
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.fields {
            if f.name.is_empty() {
                return Err(SchemaError::EmptyName);
            }
            if !seen.insert(f.name.as_str()) {
                return Err(SchemaError::Duplicate(f.name.clone()));
            }
        }
        Ok(())
    }
}

/// A source schema that cannot describe records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("the source schema has no fields")]
    NoFields,
    #[error("a source field has an empty name")]
    EmptyName,
    #[error("source field `{0}` is declared twice")]
    Duplicate(String),
}
