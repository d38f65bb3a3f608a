//! What `ember run` and `ember dead-letters redrive` share around the
//! engine's loop: a signal while connecting is a clean stop, the first
//! signal while running finishes the batch in flight and a second exits at
//! once, and closing the consumer never hangs the exit.

use std::time::Duration;

use anyhow::Result;
use ember::config::LoadedPipeline;
use ember::runner::{build_pipeline, BuiltPipeline};
use ember_engine::Trigger;
use tokio::sync::watch;

use crate::signals::Signals;

/// Connects the pipeline's sinks, source and dead-letter topic, or `None`
/// when a signal came first: nothing was read, so stopping is clean.
pub(crate) async fn build_unless_signalled(
    loaded: &LoadedPipeline,
    trigger: Option<Trigger>,
    signals: &mut Signals,
) -> Result<Option<BuiltPipeline>> {
    tokio::select! {
        built = build_pipeline(loaded, trigger) => Ok(Some(built?)),
        _ = signals.recv() => {
            eprintln!("ember: shutdown requested while starting: stopped before any batch");
            Ok(None)
        }
    }
}

/// The sink names, for the start-up line.
pub(crate) fn sink_names(loaded: &LoadedPipeline) -> String {
    loaded
        .config
        .sinks
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

/// Turns the first signal into a stop request (the engine finishes and
/// commits the batch in flight) and the second into an exit with 130.
pub(crate) fn stop_on_signals(mut signals: Signals) -> watch::Receiver<bool> {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!(
            "shutdown requested: finishing the batch in flight (signal again to exit at once)"
        );
        let _ = stop.send(true);
        // A batch can wait minutes for an unavailable sink; an operator who
        // cannot wait gets out now. Nothing of that batch is committed, so
        // the next start replays it.
        signals.recv().await;
        eprintln!("ember: second signal: exiting without committing the batch in flight (it is replayed on the next start)");
        std::process::exit(130);
    });
    stopped
}

/// How long closing the consumer may take at exit.
pub(crate) const CONSUMER_CLOSE: Duration = Duration::from_secs(5);

/// Drops `engine` (closing its Kafka consumer) on a thread of its own and
/// waits at most `within`. Everything is committed by then; closing leaves
/// the group cleanly, but librdkafka's close can block forever when a
/// rebalance lands in the middle of it, and the broker drops a member that
/// did not leave by timeout anyway.
pub(crate) fn close_within<T: Send + 'static>(engine: T, within: Duration) {
    let (closed, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(engine);
        let _ = closed.send(());
    });
    if wait.recv_timeout(within).is_err() {
        tracing::warn!("the Kafka consumer did not close within {within:?}; exiting anyway");
    }
}
