//! What one run measures: counters the progress line reads without locking, and the latency
//! histograms and error tally behind one mutex (a few thousand samples a second at most, so
//! a shared lock is cheaper than thousands of per-session histograms).
//!
//! Three views of the same samples: the whole run; each step of a stepped run (a command's ack
//! latency and its errors belong to the step it was *sent* in, so a backlog from an overloaded
//! step is not blamed on the next one); and the interval since the last time-series sample
//! (by arrival time: what the server was doing in that interval).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    /// `POST /api/auth/login` sent → its answer (`--logins-per-sec`).
    Login,
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
    pub login: Histogram<u64>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new_with_bounds(1, HIST_MAX_US, 3)?)
}

fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(HIST_MAX_US)
        .max(1)
}

impl Histograms {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            connect: histogram()?,
            ack: histogram()?,
            fanout: histogram()?,
            chat_first_token: histogram()?,
            chat_done: histogram()?,
            login: histogram()?,
        })
    }

    fn get_mut(&mut self, m: Metric) -> &mut Histogram<u64> {
        match m {
            Metric::Connect => &mut self.connect,
            Metric::Ack => &mut self.ack,
            Metric::Fanout => &mut self.fanout,
            Metric::ChatFirstToken => &mut self.chat_first_token,
            Metric::ChatDone => &mut self.chat_done,
            Metric::Login => &mut self.login,
        }
    }
}

/// Counters of one step that sessions bump without the lock.
#[derive(Default)]
struct StepCounters {
    sent: AtomicU64,
    acks: AtomicU64,
    late_acks: AtomicU64,
}

/// The locked part of one step.
struct StepLocked {
    ack: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

/// What one step has produced so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepView {
    pub sent: u64,
    pub acks: u64,
    pub late_acks: u64,
    pub ack: Percentiles,
    /// Acks no slower than the bound asked about.
    pub acked_within_bound: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
}

/// What arrived since the previous sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowView {
    pub ack: Percentiles,
    pub login: Percentiles,
}

struct Locked {
    hist: Histograms,
    errors: BTreeMap<String, u64>,
    steps: Vec<StepLocked>,
    window_ack: Histogram<u64>,
    window_login: Histogram<u64>,
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
    /// Successful REST logins (`--logins-per-sec`).
    pub logins: AtomicU64,
    /// The step errors without a command of their own are charged to.
    current_step: AtomicUsize,
    steps: Vec<StepCounters>,
    locked: Mutex<Locked>,
}

impl Stats {
    /// Statistics for a run of `steps` steps (1 for a plain run).
    pub fn new(steps: usize) -> anyhow::Result<Self> {
        let steps = steps.max(1);
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
            logins: AtomicU64::new(0),
            current_step: AtomicUsize::new(0),
            steps: (0..steps).map(|_| StepCounters::default()).collect(),
            locked: Mutex::new(Locked {
                hist: Histograms::new()?,
                errors: BTreeMap::new(),
                steps: (0..steps)
                    .map(|_| {
                        Ok(StepLocked {
                            ack: histogram()?,
                            errors: BTreeMap::new(),
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
                window_ack: histogram()?,
                window_login: histogram()?,
            }),
        })
    }

    fn step_index(&self, step: usize) -> usize {
        step.min(self.steps.len() - 1)
    }

    /// From now on, errors that belong to no command are charged to `step`.
    pub fn set_step(&self, step: usize) {
        self.current_step
            .store(self.step_index(step), Ordering::Relaxed);
    }

    /// A command was sent during `step`.
    pub fn count_sent(&self, step: usize) {
        Self::add(&self.sent, 1);
        Self::add(&self.steps[self.step_index(step)].sent, 1);
    }

    /// A command sent during `step` was acknowledged after this latency.
    pub fn record_ack(&self, step: usize, latency: Duration) {
        let step = self.step_index(step);
        Self::add(&self.acks, 1);
        Self::add(&self.steps[step].acks, 1);
        let us = micros(latency);
        let mut l = self.lock();
        l.hist.ack.saturating_record(us);
        l.window_ack.saturating_record(us);
        l.steps[step].ack.saturating_record(us);
    }

    /// The ack of a command sent during `step` came after it had counted as a timeout.
    pub fn late_ack(&self, step: usize) {
        Self::add(&self.late_acks, 1);
        Self::add(&self.steps[self.step_index(step)].late_acks, 1);
    }

    /// What step `step` has produced so far; `bound` splits its acks into fast and slow.
    pub fn step_view(&self, step: usize, bound: Duration) -> StepView {
        let step = self.step_index(step);
        let c = &self.steps[step];
        let l = self.lock();
        let s = &l.steps[step];
        StepView {
            sent: Self::get(&c.sent),
            acks: Self::get(&c.acks),
            late_acks: Self::get(&c.late_acks),
            ack: Percentiles::from_histogram(&s.ack),
            acked_within_bound: s.ack.count_between(0, micros(bound)),
            errors: s.errors.values().sum(),
            errors_by_kind: s.errors.clone(),
        }
    }

    /// Ack and login percentiles of what arrived since the previous call, which starts a new
    /// interval.
    pub fn take_window(&self) -> WindowView {
        let mut l = self.lock();
        let view = WindowView {
            ack: Percentiles::from_histogram(&l.window_ack),
            login: Percentiles::from_histogram(&l.window_login),
        };
        l.window_ack.reset();
        l.window_login.reset();
        view
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Locked> {
        // A panic while holding the lock cannot leave a histogram half-written in a way that
        // matters for a report, so a poisoned lock is simply taken over.
        self.locked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a latency other than an ack's (those go through [`Stats::record_ack`]).
    pub fn record(&self, metric: Metric, latency: Duration) {
        let us = micros(latency);
        let mut l = self.lock();
        l.hist.get_mut(metric).saturating_record(us);
        if metric == Metric::Login {
            l.window_login.saturating_record(us);
        }
    }

    /// Count one error of this kind, e.g. `connect:http_401`, `close:4029`, charged to the
    /// current step.
    pub fn error(&self, kind: impl Into<String>) {
        self.command_error(self.current_step.load(Ordering::Relaxed), kind);
    }

    /// Count one error of a command sent during `step`, e.g. `error_frame:unavailable`,
    /// `timeout:ack`.
    pub fn command_error(&self, step: usize, kind: impl Into<String>) {
        let step = self.step_index(step);
        let kind = kind.into();
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut l = self.lock();
        *l.steps[step].errors.entry(kind.clone()).or_insert(0) += 1;
        *l.errors.entry(kind).or_insert(0) += 1;
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
        let stats = Stats::new(1)?;
        for ms in 1..=100u64 {
            stats.record_ack(0, Duration::from_millis(ms));
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
        let stats = Stats::new(1)?;
        stats.error("timeout:ack");
        stats.error("timeout:ack");
        stats.error("close:4029");
        assert_eq!(Stats::get(&stats.errors), 3);
        assert_eq!(stats.errors_by_kind().get("timeout:ack"), Some(&2));
        Ok(())
    }

    #[test]
    fn steps_keep_their_own_acks_and_errors() -> anyhow::Result<()> {
        let stats = Stats::new(2)?;
        let bound = Duration::from_millis(50);
        for _ in 0..10 {
            stats.count_sent(0);
        }
        stats.count_sent(1);
        stats.set_step(1);
        // A command of step 0 answered during step 1 still belongs to step 0.
        for ms in [1, 2, 3, 80] {
            stats.record_ack(0, Duration::from_millis(ms));
        }
        stats.command_error(0, "error_frame:unavailable");
        stats.error("disconnect:eof");
        let s0 = stats.step_view(0, bound);
        assert_eq!(
            (s0.sent, s0.acks, s0.acked_within_bound, s0.errors),
            (10, 4, 3, 1)
        );
        assert_eq!(s0.errors_by_kind.get("error_frame:unavailable"), Some(&1));
        let s1 = stats.step_view(1, bound);
        assert_eq!((s1.sent, s1.acks, s1.errors), (1, 0, 1));
        // Out-of-range steps are clamped, never a panic.
        assert_eq!(stats.step_view(9, bound), s1);
        Ok(())
    }

    #[test]
    fn the_window_restarts_at_each_sample() -> anyhow::Result<()> {
        let stats = Stats::new(1)?;
        stats.record_ack(0, Duration::from_millis(10));
        stats.record(Metric::Login, Duration::from_millis(30));
        let w = stats.take_window();
        assert_eq!((w.ack.count, w.login.count), (1, 1));
        assert_eq!(stats.take_window(), WindowView::default());
        assert_eq!(
            stats.percentiles(Metric::Ack).count,
            1,
            "the run total stays"
        );
        Ok(())
    }
}
