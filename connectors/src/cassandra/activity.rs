//! What a sink is doing right now: requests in flight, requests sent and
//! retries. Counted as requests go out and read live by the metrics
//! endpoint, not carried in a batch's report: a report comes only after its
//! batch, and a sink retrying an unavailable Cassandra for minutes is
//! exactly when an operator looks.

use std::sync::atomic::{AtomicU64, Ordering};

/// Shared by a table's writer and deleter; cheap enough to count every
/// request (three relaxed atomics).
#[derive(Debug, Default)]
pub struct SinkActivity {
    in_flight: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

/// One reading of a [`SinkActivity`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivitySnapshot {
    /// Requests sent and not yet answered.
    pub in_flight: u64,
    /// Requests sent since the sink connected, retries included.
    pub requests: u64,
    /// Requests sent again after a transient failure.
    pub retries: u64,
}

impl SinkActivity {
    pub fn snapshot(&self) -> ActivitySnapshot {
        ActivitySnapshot {
            in_flight: self.in_flight.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    /// Counts a request going out; it is in flight until the guard drops
    /// (answered, failed, or its future cancelled).
    pub(crate) fn request(&self) -> InFlight<'_> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
}

/// A request in flight; see [`SinkActivity::request`].
pub(crate) struct InFlight<'a>(&'a SinkActivity);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_in_flight_until_its_guard_drops() {
        let activity = SinkActivity::default();
        let first = activity.request();
        let second = activity.request();
        activity.retried();
        assert_eq!(
            activity.snapshot(),
            ActivitySnapshot {
                in_flight: 2,
                requests: 2,
                retries: 1
            }
        );
        drop(first);
        drop(second);
        assert_eq!(activity.snapshot().in_flight, 0);
        assert_eq!(activity.snapshot().requests, 2);
    }
}
