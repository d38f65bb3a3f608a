//! Transforms must be deterministic: a replayed batch (after a crash, a
//! takeover, or while narrowing a failure down to records) has to produce
//! exactly the rows of the first attempt, or the upserts stop being an
//! exactly-once effect. `uuid()` in a key inserts new rows on every replay;
//! `now()` is fixed when the plan is built, i.e. once per run, so a replay
//! after a restart stores another value than the first attempt did.
//!
//! The rule comes from DataFusion's own classification, not from a list of
//! names: a function whose [`Volatility`] is not `Immutable` may return
//! something else for the same input on another run — `Volatile` ones
//! (`random()`, `uuid()`, `shuffle()`) on every call, `Stable` ones
//! (`now()`, `current_date`, `current_time`) per query, which for Ember is
//! per run. Both are refused when the SQL is checked, with the file, the
//! line and the function. The check reads only the parsed SQL and the
//! session's function registry, so `ember check` runs it offline.

use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::Volatility;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{visit_expressions, Expr};
use std::ops::ControlFlow;

/// A call of a function that may return different results on a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonDeterministicCall {
    /// The function as the session knows it (lower case).
    pub function: String,
    pub volatility: Volatility,
    /// 1-based position of the function's name in the SQL text.
    pub line: u64,
    pub column: u64,
}

/// Why `calls` are refused, each with its line, as one message.
pub fn refusal(calls: &[NonDeterministicCall]) -> String {
    let listed: Vec<String> = calls
        .iter()
        .map(|c| {
            let why = match c.volatility {
                Volatility::Volatile => "returns a new value on every call",
                _ => "is fixed when the plan is built, so a replay after a restart gets another value",
            };
            format!("line {}:{}: `{}()` {why}", c.line, c.column, c.function)
        })
        .collect();
    format!(
        "{}; a replayed batch must produce the same rows, so non-deterministic functions \
         are refused (derive the value from the record instead)",
        listed.join("; ")
    )
}

/// Every call in `statement` of a function the session registers as not
/// `Immutable`, in text order. Unknown functions are left to planning,
/// which reports them.
pub fn non_deterministic_calls(
    state: &SessionState,
    statement: &Statement,
) -> Vec<NonDeterministicCall> {
    let Statement::Statement(statement) = statement else {
        return Vec::new();
    };
    let mut calls = Vec::new();
    let _ = visit_expressions(statement.as_ref(), |expr| {
        if let Expr::Function(call) = expr {
            let ident = call.name.0.last().and_then(|part| part.as_ident());
            if let Some(ident) = ident {
                // Unquoted names are normalised to lower case, as the
                // planner does before it looks them up.
                let name = match ident.quote_style {
                    Some(_) => ident.value.clone(),
                    None => ident.value.to_lowercase(),
                };
                if let Some(volatility) = volatility_of(state, &name) {
                    if volatility != Volatility::Immutable {
                        calls.push(NonDeterministicCall {
                            function: name,
                            volatility,
                            line: ident.span.start.line,
                            column: ident.span.start.column,
                        });
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    calls
}

/// The volatility of a scalar, aggregate or window function of the session.
fn volatility_of(state: &SessionState, name: &str) -> Option<Volatility> {
    if let Some(f) = state.scalar_functions().get(name) {
        return Some(f.signature().volatility);
    }
    if let Some(f) = state.aggregate_functions().get(name) {
        return Some(f.signature().volatility);
    }
    state
        .window_functions()
        .get(name)
        .map(|f| f.signature().volatility)
}
