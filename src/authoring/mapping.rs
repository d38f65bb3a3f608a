//! Which source expression lands in which sink column: read from the
//! planned `INSERT`, whose input DataFusion has already shaped to the sink
//! table's columns (a column list mapped by name, or by position; casts to
//! the column's type; `NULL` for a column the SQL does not set).

use datafusion::logical_expr::{Expr, LogicalPlan};
use ember_connectors::cassandra::SinkColumns;
use ember_engine::sql::Transform;

/// One sink column and what the SQL writes into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMapping {
    pub sink_column: String,
    pub cql_type: String,
    /// Part of the primary key.
    pub key: bool,
    /// The expression, as DataFusion resolved it; `None` when the SQL
    /// leaves the column unset.
    pub from: Option<String>,
}

/// The mapping of every column of `columns` for `transform`.
pub fn column_mapping(transform: &Transform, columns: &SinkColumns) -> Vec<ColumnMapping> {
    let input = match transform.logical_plan() {
        LogicalPlan::Dml(dml) => Some(dml.input.as_ref()),
        _ => None,
    };
    let exprs: Vec<(String, Option<String>)> = match input {
        Some(LogicalPlan::Projection(p)) => p
            .schema
            .fields()
            .iter()
            .zip(&p.expr)
            .map(|(field, e)| (field.name().clone(), written(e)))
            .collect(),
        Some(other) => other
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), Some(f.name().clone())))
            .collect(),
        None => Vec::new(),
    };
    columns
        .names
        .iter()
        .zip(&columns.cql_types)
        .enumerate()
        .map(|(i, (name, ty))| ColumnMapping {
            sink_column: name.clone(),
            cql_type: ty.clone(),
            key: i < columns.key_len,
            from: exprs
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, e)| e.clone()),
        })
        .collect()
}

/// The expression without its alias (the alias is the sink column); a
/// `NULL` (or a cast of one) means the SQL does not set the column.
fn written(e: &Expr) -> Option<String> {
    let inner = match e {
        Expr::Alias(a) => a.expr.as_ref(),
        other => other,
    };
    let unset = match inner {
        Expr::Literal(v, _) => v.is_null(),
        Expr::Cast(c) => matches!(c.expr.as_ref(), Expr::Literal(v, _) if v.is_null()),
        _ => false,
    };
    (!unset).then(|| inner.to_string())
}
