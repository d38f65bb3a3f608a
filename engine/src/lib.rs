//! Ember's micro-batch engine.
//!
//! The data path reads top to bottom in [`pipeline`]: a [`Source`] hands out
//! raw records, the decoder turns them into one Arrow batch, every SQL
//! transform runs on it through DataFusion and writes into its sink table,
//! and only when every sink acknowledged the batch is the source committed.
//!
//! The engine knows connectors only through traits: a source is a
//! [`Source`], a sink is any DataFusion `TableProvider` whose `insert_into`
//! writes somewhere.

pub mod batch_context;
pub mod bounds;
pub mod checkpoint;
pub mod dead_letter;
pub mod deletes;
pub mod duration;
pub mod error;
pub mod latency;
mod narrow;
pub mod pipeline;
pub mod report;
pub mod source;
pub mod sql;
pub mod trigger;
pub mod write_time;
pub mod write_time_bound;

pub use batch_context::BatchContext;
pub use bounds::{BatchBounds, ByteSize, ByteSizeError};
pub use checkpoint::Checkpoint;
pub use dead_letter::{DeadLetter, DeadLetterReason, DeadLetterSink};
pub use deletes::DeleteSink;
pub use duration::{parse_duration, DurationError, HumanDuration};
pub use error::{EngineError, SinkFailure};
pub use latency::{LatencyRecorder, LatencySummary};
pub use pipeline::{Pipeline, PipelineSpec, RunSummary};
pub use report::{BatchReport, PerReason, PerSink, Reporter, StageTimings};
pub use source::{OffsetRange, OffsetRanges, RawRecord, Source, SourceError};
pub use trigger::{Trigger, TriggerError};
pub use write_time::WriteTime;
pub use write_time_bound::MaxWriteTimeSkew;
