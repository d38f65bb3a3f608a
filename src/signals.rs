//! Shutdown signals for `ember run`: the first asks the pipeline to finish
//! its batch, a second one means "now".

/// SIGTERM or SIGINT, as many times as they come. Both handlers are
/// installed when this is made, so a signal that arrives before anyone
/// waits on it is kept rather than killing the process.
pub struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn new() -> Self {
        #[cfg(unix)]
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            #[cfg(unix)]
            term: signal(SignalKind::terminate()).ok(),
            #[cfg(unix)]
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    pub async fn recv(&mut self) {
        #[cfg(unix)]
        if let (Some(term), Some(interrupt)) = (&mut self.term, &mut self.interrupt) {
            tokio::select! {
                _ = term.recv() => {},
                _ = interrupt.recv() => {},
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
