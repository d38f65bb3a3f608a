//! What a sink needs to know about the batch it is writing.

use std::sync::Arc;

use crate::write_time::WriteTime;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::TaskContext;

/// Carried to every operator of a batch's plan as a session-config
/// extension: the source table reads `input` from it, and sinks read the
/// write time from it. Passing it through the task context (rather than
/// through shared mutable state) is what lets one planned SQL statement be
/// executed again for every batch.
#[derive(Debug, Clone)]
pub struct BatchContext {
    /// Monotonic batch number within the pipeline.
    pub batch_id: u64,
    /// The decoded input rows of the batch.
    pub input: RecordBatch,
    /// Base write time of this batch. A sink writes row `i` of its input
    /// at `write_time.after_rows(i)`, so within a batch a later row for the
    /// same key wins, and batches never overlap: the next batch's base is
    /// beyond this one's last row.
    pub write_time: WriteTime,
}

impl BatchContext {
    /// The context of the batch a task belongs to, if any.
    pub fn of(task: &TaskContext) -> Option<Arc<BatchContext>> {
        task.session_config().get_extension::<BatchContext>()
    }
}
