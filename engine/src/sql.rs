//! The user's program: `sql/*.sql` transforms, planned once, run per batch.
//!
//! Each file holds one `INSERT INTO <sink> SELECT … FROM <source table>`.
//! The source table is a [`StreamingTable`] whose only partition reads the
//! current batch from the [`BatchContext`] carried in the task context, so
//! the physical plan is built once at start-up and executed again for every
//! batch; planning errors surface before the first record is read.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::TableProvider;
use datafusion::common::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement;
use datafusion_spark::SessionStateBuilderSpark;

use crate::batch_context::BatchContext;
use crate::error::{EngineError, SinkFailure};

mod determinism;
pub use determinism::NonDeterministicCall;

/// One planned transform.
#[derive(Debug)]
pub struct Transform {
    /// The SQL file it came from.
    pub file: PathBuf,
    /// The table it inserts into.
    pub sink_table: String,
    /// Kept for `ember check`, which prints what each file resolved to.
    logical: LogicalPlan,
    plan: Arc<dyn ExecutionPlan>,
}

impl Transform {
    /// The logical plan as the statement resolved (before optimisation):
    /// the `INSERT` over its `SELECT`, shaped to the sink table's columns.
    pub fn logical_plan(&self) -> &LogicalPlan {
        &self.logical
    }

    /// The physical plan executed for every batch.
    pub fn physical_plan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.plan
    }
}

/// A DataFusion session with the source table and the sink tables
/// registered, and the transforms planned against them.
pub struct SqlEngine {
    state: SessionState,
    transforms: Vec<Transform>,
    /// Nanoseconds spent computing the transforms' `SELECT`s (their
    /// operators' `elapsed_compute`) since the last
    /// [`SqlEngine::take_select_time`]: the SQL stage's share of a
    /// transform, the rest being the sink's writes.
    select_nanos: AtomicU64,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEngine")
            .field("transforms", &self.transforms)
            .finish()
    }
}

/// A DataFusion session with Spark-compatible functions, and spans collected
/// so planning errors can name a line.
pub fn new_session() -> SessionContext {
    let mut config = SessionConfig::new()
        // One partition keeps a batch's rows in source order through
        // projections, which the per-row write timestamps rely on.
        .with_target_partitions(1)
        .with_information_schema(true);
    config.options_mut().sql_parser.collect_spans = true;
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_spark_features()
        .build();
    SessionContext::new_with_state(state)
}

impl SqlEngine {
    /// Registers `source_table` (schema `source_schema`) and the sinks in a
    /// fresh session, then reads and plans every SQL file.
    pub async fn plan(
        source_table: &str,
        source_schema: SchemaRef,
        sinks: Vec<(String, Arc<dyn TableProvider>)>,
        files: &[PathBuf],
    ) -> Result<Self, EngineError> {
        let ctx = new_session();
        let partition: Arc<dyn PartitionStream> = Arc::new(CurrentBatch {
            schema: source_schema.clone(),
        });
        let table = StreamingTable::try_new(source_schema, vec![partition]).map_err(|source| {
            EngineError::Setup {
                what: "source table".into(),
                source,
            }
        })?;
        ctx.register_table(source_table, Arc::new(table))
            .map_err(|source| EngineError::Setup {
                what: format!("register `{source_table}`"),
                source,
            })?;
        for (name, provider) in sinks {
            ctx.register_table(name.as_str(), provider)
                .map_err(|source| EngineError::Setup {
                    what: format!("register sink `{name}`"),
                    source,
                })?;
        }
        if files.is_empty() {
            return Err(EngineError::NoSqlFiles);
        }
        let state = ctx.state();
        let mut transforms = Vec::with_capacity(files.len());
        for file in files {
            transforms.push(plan_file(&state, file).await?);
        }
        Ok(SqlEngine {
            state,
            transforms,
            select_nanos: AtomicU64::new(0),
        })
    }

    pub fn transforms(&self) -> &[Transform] {
        &self.transforms
    }

    /// Runs every transform on one batch; returns the rows each sink
    /// acknowledged, in file order.
    pub async fn run(&self, batch: BatchContext) -> Result<Vec<(String, u64)>, EngineError> {
        let batch = Arc::new(batch);
        let mut written = Vec::with_capacity(self.transforms.len());
        for (i, t) in self.transforms.iter().enumerate() {
            let count = self.run_transform(i, batch.clone()).await?;
            written.push((t.sink_table.clone(), count));
        }
        Ok(written)
    }

    /// Runs transform `index` (file order) on one batch; returns the rows
    /// its sink acknowledged. Transforms are independent: each is run, and
    /// its failures narrowed down, on its own (see [`crate::narrow`]).
    pub async fn run_transform(
        &self,
        index: usize,
        batch: Arc<BatchContext>,
    ) -> Result<u64, EngineError> {
        let t = self
            .transforms
            .get(index)
            .ok_or_else(|| EngineError::Internal(format!("no transform {index}")))?;
        let batch_id = batch.batch_id;
        let config = self.state.config().clone().with_extension(batch);
        let task = Arc::new(TaskContext::from(&self.state).with_session_config(config));
        // The plan is executed again for every batch and its metrics add
        // up: this batch's share is the difference.
        let before = select_compute(t.plan.as_ref());
        let out = collect(t.plan.clone(), task).await;
        let spent = select_compute(t.plan.as_ref()).saturating_sub(before);
        self.select_nanos.fetch_add(spent as u64, Ordering::Relaxed);
        let out = out.map_err(|e| classify(batch_id, &t.file, e))?;
        acknowledged_rows(&out, &t.file)
    }

    /// Time spent computing the `SELECT`s since the last call (see
    /// `select_nanos`), and a fresh start.
    pub fn take_select_time(&self) -> Duration {
        Duration::from_nanos(self.select_nanos.swap(0, Ordering::Relaxed))
    }
}

/// The `elapsed_compute` nanoseconds of every operator below the plan's
/// root (the `INSERT`'s sink): what computing its `SELECT` took so far.
fn select_compute(plan: &dyn ExecutionPlan) -> usize {
    fn below(plan: &dyn ExecutionPlan) -> usize {
        plan.children()
            .into_iter()
            .map(|child| {
                child
                    .metrics()
                    .and_then(|m| m.elapsed_compute())
                    .unwrap_or(0)
                    + below(child.as_ref())
            })
            .sum()
    }
    below(plan)
}

/// The row count an `INSERT`'s plan returns (one row, one `UInt64` column):
/// what the sink acknowledged. Anything else is an engine bug, and a count
/// silently taken as 0 would break `in = written + filtered + dead-lettered`.
fn acknowledged_rows(out: &[RecordBatch], file: &Path) -> Result<u64, EngineError> {
    out.first()
        .and_then(|b| b.columns().first())
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        .filter(|a| a.len() == 1 && a.is_valid(0))
        .map(|a| a.value(0))
        .ok_or_else(|| {
            EngineError::Internal(format!(
                "{}: the INSERT returned no row count",
                file.display()
            ))
        })
}

/// A sink's own failure (see [`SinkFailure`]) stops the pipeline; any other
/// execution error is the data's, and may be narrowed to records.
fn classify(batch_id: u64, file: &Path, e: DataFusionError) -> EngineError {
    let sink = match e.find_root() {
        DataFusionError::External(inner) => {
            inner.downcast_ref::<SinkFailure>().map(|f| f.0.clone())
        }
        _ => None,
    };
    match sink {
        Some(message) => EngineError::Sink { batch_id, message },
        None => EngineError::Batch {
            batch_id,
            file: file.to_path_buf(),
            message: e.to_string(),
        },
    }
}

/// Reads, parses and plans one SQL file.
async fn plan_file(state: &SessionState, file: &Path) -> Result<Transform, EngineError> {
    let sql_error = |message: String| EngineError::Sql {
        file: file.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(file).map_err(|e| sql_error(format!("cannot read: {e}")))?;
    let first_line = first_code_line(&text);
    let statement = parse_deterministic(state, file, &text)?;
    let logical = state
        .statement_to_plan(statement)
        .await
        .map_err(|e| sql_error(describe(&e, first_line)))?;
    let sink_table = match &logical {
        LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)) => {
            dml.table_name.table().to_string()
        }
        other => {
            return Err(sql_error(format!(
                "{first_line}: expected one `INSERT INTO <sink> SELECT …` statement, found {}",
                other.display()
            )))
        }
    };
    let plan = state
        .create_physical_plan(&logical)
        .await
        .map_err(|e| sql_error(describe(&e, first_line)))?;
    Ok(Transform {
        file: file.to_path_buf(),
        sink_table,
        logical,
        plan,
    })
}

/// Parses `text` (the contents of `file`) and refuses it if it calls a
/// function whose result may differ on a replay (see [`determinism`]).
fn parse_deterministic(
    state: &SessionState,
    file: &Path,
    text: &str,
) -> Result<Statement, EngineError> {
    let sql_error = |message: String| EngineError::Sql {
        file: file.to_path_buf(),
        message,
    };
    let dialect = state.config_options().sql_parser.dialect;
    let statement = state
        .sql_to_statement(text, &dialect)
        .map_err(|e| sql_error(describe(&e, first_code_line(text))))?;
    let calls = determinism::non_deterministic_calls(state, &statement);
    if !calls.is_empty() {
        return Err(sql_error(determinism::refusal(&calls)));
    }
    Ok(statement)
}

/// What can be checked of a SQL file without the source and the sinks
/// (`ember check` is offline): that it reads, parses, and calls no
/// non-deterministic function. Planning against the tables happens at
/// `ember run`.
pub fn check_file(file: &Path) -> Result<(), EngineError> {
    let text = std::fs::read_to_string(file).map_err(|e| EngineError::Sql {
        file: file.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    parse_deterministic(&new_session().state(), file, &text).map(|_| ())
}

/// `line:col: message` from DataFusion's diagnostic span when it has one,
/// else from the line sqlparser names, else the statement's first line.
fn describe(err: &DataFusionError, first_line: usize) -> String {
    let message = err.to_string();
    if let Some(span) = err.diagnostic().and_then(|d| d.span) {
        if span.start.line > 0 {
            return format!("line {}:{}: {message}", span.start.line, span.start.column);
        }
    }
    if let Some(line) = sqlparser_line(&message) {
        return format!("line {line}: {message}");
    }
    format!("line {first_line}: {message}")
}

/// sqlparser errors end in "at Line: 3, Column: 7".
fn sqlparser_line(message: &str) -> Option<usize> {
    let at = message.rfind("Line: ")?;
    let digits: String = message[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The first line that is neither blank nor a `--` comment (1-based).
fn first_code_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with("--")
        })
        .map_or(1, |i| i + 1)
}

/// The only partition of the source table: the batch in the task context.
#[derive(Debug)]
struct CurrentBatch {
    schema: SchemaRef,
}

impl PartitionStream for CurrentBatch {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let item = match BatchContext::of(&ctx) {
            Some(batch) => Ok(batch.input.clone()),
            None => Err(DataFusionError::Internal(
                "the source table was read outside a micro-batch".into(),
            )),
        };
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::once(async move { item }),
        ))
    }
}

#[cfg(test)]
mod tests;
