//! Watching a running pipeline: `/metrics` (Prometheus), `/progress` (the
//! last batches as JSON, like Spark's `StreamingQueryProgress`),
//! `/health/live` and `/health/ready`, and a live dashboard at `/`.
//!
//! Everything is fed from the engine's [`BatchReport`]s through
//! [`ObservingReporter`], so the endpoints show the very numbers the
//! progress lines and `--summary-json` print; only consumer lag is read on
//! the side, from the broker's watermarks ([`lag`]). Off unless
//! `metrics_address` or `--metrics` is given: a run without it pays nothing.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ember_engine::{BatchReport, Reporter};

pub mod lag;
pub mod metrics;
pub mod progress;
pub mod server;

pub use metrics::Metrics;
pub use progress::{BatchProgress, PipelineInfo};

/// How many batches `/progress` keeps (Spark keeps 100 too).
pub const PROGRESS_BATCHES: usize = 100;

/// What the endpoints read; shared between the reporter (the engine's
/// task) and the HTTP server.
pub struct Observer {
    pub metrics: Metrics,
    pub info: PipelineInfo,
    /// Not ready after this long without a batch or an idle trigger
    /// interval: the loop is stuck (a sink retrying, a source hanging).
    stall_after: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    progress: VecDeque<BatchProgress>,
    /// Source and sinks connected, SQL planned.
    connected: bool,
    /// The loop's last sign of life: a batch or an idle interval.
    last_activity: Option<Instant>,
    last_batch_done: Option<Instant>,
    /// Per partition, the next offset to process (the last batch's end).
    positions: BTreeMap<i32, i64>,
    /// Per partition, the lag last computed ([`lag`]).
    lag: BTreeMap<i32, i64>,
}

/// Readiness, with the reason when not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(String),
}

impl Observer {
    pub fn new(info: PipelineInfo, stall_after: Duration) -> Arc<Self> {
        Arc::new(Observer {
            metrics: Metrics::new(&info.name),
            info,
            stall_after,
            state: Mutex::new(State::default()),
        })
    }

    /// A poisoned lock only means a reader panicked mid-read: the state is
    /// counters and a ring buffer, still consistent, so keep serving it.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The source and sinks are connected and the SQL planned.
    pub fn connected(&self) {
        let mut state = self.state();
        state.connected = true;
        state.last_activity = Some(Instant::now());
    }

    fn batch_done(&self, report: &BatchReport) {
        self.metrics.record(report);
        let now = Instant::now();
        let mut state = self.state();
        let since_previous = state.last_batch_done.map(|t| now - t);
        state
            .progress
            .push_back(BatchProgress::of(report, since_previous));
        while state.progress.len() > PROGRESS_BATCHES {
            state.progress.pop_front();
        }
        for (p, range) in &report.ranges {
            let at = state.positions.entry(*p).or_default();
            *at = (*at).max(range.end);
        }
        state.last_activity = Some(now);
        state.last_batch_done = Some(now);
    }

    fn idle(&self) {
        self.state().last_activity = Some(Instant::now());
    }

    /// The last batches, oldest first.
    pub fn progress(&self) -> Vec<BatchProgress> {
        self.state().progress.iter().cloned().collect()
    }

    /// Per partition, the next offset to process as far as this run knows.
    pub fn positions(&self) -> BTreeMap<i32, i64> {
        self.state().positions.clone()
    }

    /// Records the lag per partition (and sets the gauges).
    pub fn set_lag(&self, watermarks: &BTreeMap<i32, i64>, positions: &BTreeMap<i32, i64>) {
        let mut lag = BTreeMap::new();
        for (p, high) in watermarks {
            let label = p.to_string();
            let at = positions.get(p).copied().unwrap_or(0);
            let behind = (high - at).max(0);
            self.metrics.lag.with_label_values(&[&label]).set(behind);
            self.metrics
                .high_watermark
                .with_label_values(&[&label])
                .set(*high);
            self.metrics.position.with_label_values(&[&label]).set(at);
            lag.insert(*p, behind);
        }
        self.state().lag = lag;
    }

    pub fn lag(&self) -> BTreeMap<i32, i64> {
        self.state().lag.clone()
    }

    pub fn readiness(&self) -> Readiness {
        let state = self.state();
        let readiness = if !state.connected {
            Readiness::NotReady("connecting the source and sinks".into())
        } else {
            match state.last_activity.map(|t| t.elapsed()) {
                Some(quiet) if quiet > self.stall_after => Readiness::NotReady(format!(
                    "no batch finished and no idle interval for {:.0} s (bound {:.0} s)",
                    quiet.as_secs_f64(),
                    self.stall_after.as_secs_f64()
                )),
                _ => Readiness::Ready,
            }
        };
        self.metrics
            .ready
            .set(i64::from(readiness == Readiness::Ready));
        readiness
    }
}

/// Passes every report to the reporter that prints, and to the observer.
pub struct ObservingReporter<'a> {
    pub inner: &'a mut dyn Reporter,
    pub observer: Option<Arc<Observer>>,
}

impl Reporter for ObservingReporter<'_> {
    fn batch_done(&mut self, report: &BatchReport) {
        if let Some(o) = &self.observer {
            o.batch_done(report);
        }
        self.inner.batch_done(report);
    }

    fn idle(&mut self) {
        if let Some(o) = &self.observer {
            o.idle();
        }
        self.inner.idle();
    }
}

#[cfg(test)]
mod tests;
