//! What one run measures: counters the progress line reads without locking, and the latency
//! histograms and error tally behind one mutex (a few thousand samples a second at most, so
//! a shared lock is cheaper than thousands of per-session histograms).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Histograms record microseconds, from 1 µs to 1 hour, with 3 significant digits.
const HIST_MAX_US: u64 = 3_600_000_000;

/// The latencies a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// TCP connect + HTTP upgrade until the `welcome` frame.
    Connect,
    /// Command sent → its `ack` on the same socket.
    Ack,
    /// Command sent on tab A → the matching `todo.*` event on tab B.
    Fanout,
    /// `chat.send` sent → the first `chat.delta` of that conversation.
    ChatFirstToken,
    /// `chat.send` sent → `chat.done` of that conversation.
    ChatDone,
}

/// `{"p50", "p95", "p99", "max"}` in milliseconds, plus how many samples there were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub count: u64,
}

impl Percentiles {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            count: h.len(),
        }
    }
}

/// The histograms of one run, handed to the report and the plot once the run is over.
#[derive(Debug, Clone)]
pub struct Histograms {
    pub connect: Histogram<u64>,
    pub ack: Histogram<u64>,
    pub fanout: Histogram<u64>,
    pub chat_first_token: Histogram<u64>,
    pub chat_done: Histogram<u64>,
}

impl Histograms {
    fn new() -> anyhow::Result<Self> {
        let h = || Histogram::<u64>::new_with_bounds(1, HIST_MAX_US, 3);
        Ok(Self {
            connect: h()?,
            ack: h()?,
            fanout: h()?,
            chat_first_token: h()?,
            chat_done: h()?,
        })
    }

    fn get_mut(&mut self, m: Metric) -> &mut Histogram<u64> {
        match m {
            Metric::Connect => &mut self.connect,
            Metric::Ack => &mut self.ack,
            Metric::Fanout => &mut self.fanout,
            Metric::ChatFirstToken => &mut self.chat_first_token,
            Metric::ChatDone => &mut self.chat_done,
        }
    }
}

struct Locked {
    hist: Histograms,
    errors: BTreeMap<String, u64>,
}

/// Shared by every session task of one run.
pub struct Stats {
    /// Sockets open right now (welcome received, not yet closed).
    pub open: AtomicU64,
    /// Sockets that ever received their welcome.
    pub connected: AtomicU64,
    /// Connect attempts that finished, successfully or not (the ramp is over when this reaches
    /// the number of sessions).
    pub connect_done: AtomicU64,
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub acks: AtomicU64,
    /// Acks that arrived after their command had already been counted as a timeout.
    pub late_acks: AtomicU64,
    /// Fan-out events matched on the other tab.
    pub fanout_received: AtomicU64,
    /// Fan-out events expected on the other tab (it was open when the command was sent).
    pub fanout_expected: AtomicU64,
    /// Todo events seen (any tab, including the sender's own copy).
    pub events: AtomicU64,
    /// Send ticks skipped because the session's previous chat turn was still streaming.
    pub chat_busy_ticks: AtomicU64,
    pub errors: AtomicU64,
    locked: Mutex<Locked>,
}

impl Stats {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            open: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            connect_done: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            late_acks: AtomicU64::new(0),
            fanout_received: AtomicU64::new(0),
            fanout_expected: AtomicU64::new(0),
            events: AtomicU64::new(0),
            chat_busy_ticks: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            locked: Mutex::new(Locked {
                hist: Histograms::new()?,
                errors: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Locked> {
        // A panic while holding the lock cannot leave a histogram half-written in a way that
        // matters for a report, so a poisoned lock is simply taken over.
        self.locked.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, metric: Metric, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(HIST_MAX_US)
            .max(1);
        self.lock().hist.get_mut(metric).saturating_record(us);
    }

    /// Count one error of this kind, e.g. `connect:http_401`, `error_frame:rate_limited`,
    /// `close:4029`, `timeout:ack`.
    pub fn error(&self, kind: impl Into<String>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.lock().errors.entry(kind.into()).or_insert(0) += 1;
    }

    pub fn errors_by_kind(&self) -> BTreeMap<String, u64> {
        self.lock().errors.clone()
    }

    pub fn histograms(&self) -> Histograms {
        self.lock().hist.clone()
    }

    pub fn percentiles(&self, metric: Metric) -> Percentiles {
        Percentiles::from_histogram(self.lock().hist.get_mut(metric))
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_in_milliseconds() -> anyhow::Result<()> {
        let stats = Stats::new()?;
        for ms in 1..=100u64 {
            stats.record(Metric::Ack, Duration::from_millis(ms));
        }
        let p = stats.percentiles(Metric::Ack);
        assert_eq!(p.count, 100);
        assert!((p.p50 - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p99 - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max - 100.0).abs() < 0.1, "{p:?}");
        assert_eq!(stats.percentiles(Metric::Fanout), Percentiles::default());
        Ok(())
    }

    #[test]
    fn errors_are_tallied_by_kind() -> anyhow::Result<()> {
        let stats = Stats::new()?;
        stats.error("timeout:ack");
        stats.error("timeout:ack");
        stats.error("close:4029");
        assert_eq!(Stats::get(&stats.errors), 3);
        assert_eq!(stats.errors_by_kind().get("timeout:ack"), Some(&2));
        Ok(())
    }
}
