//! `--sample-every`: a time series of the run, for soak runs (does memory drift? do file
//! descriptors leak? does the tail creep up?) and for watching a stepped run.
//!
//! Each sample covers the interval since the previous one: the server's RSS, open file
//! descriptors (`/proc/PID/fd`) and CPU share (with `--server-pid`), the sockets open, the ack
//! p50/p99/max of the acks that *arrived* in the interval, the errors and REST logins in it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::session::Phase;
use crate::stats::Stats;
use crate::sys;

/// One point of the time series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the load started (end of the interval).
    pub t_secs: f64,
    /// `run` or `drain`.
    pub phase: String,
    /// The step of the schedule (0 for a plain run).
    pub step: usize,
    pub open_sockets: u64,
    pub sent_per_sec: f64,
    pub acks_per_sec: f64,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    pub ack_max_ms: f64,
    /// Errors in the interval, and since the start.
    pub errors: u64,
    pub errors_total: u64,
    pub logins: u64,
    pub login_p99_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_rss_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_fds: Option<u64>,
    /// Server CPU over the interval, in % of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_rss_bytes: Option<u64>,
}

/// What the series says about drift, judged after the warm-up (the first fifth of the run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub warmup_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_at_warmup_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_last_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_max_after_warmup_bytes: Option<u64>,
    /// (last − at warm-up) / at warm-up, in %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_drift_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fds_min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fds_max: Option<u64>,
    pub ack_p99_min_ms: f64,
    pub ack_p99_max_ms: f64,
}

impl Drift {
    /// Over the samples of the run phase after the warm-up; None with fewer than two.
    pub fn of(samples: &[Sample]) -> Option<Self> {
        let run: Vec<&Sample> = samples.iter().filter(|s| s.phase == "run").collect();
        if run.len() < 2 {
            return None;
        }
        let warm = run[run.len() / 5];
        let after: Vec<&Sample> = run
            .iter()
            .copied()
            .filter(|s| s.t_secs >= warm.t_secs)
            .collect();
        let last = run[run.len() - 1];
        let rss_drift_pct = match (warm.server_rss_bytes, last.server_rss_bytes) {
            (Some(a), Some(b)) if a > 0 => Some((b as f64 - a as f64) / a as f64 * 100.0),
            _ => None,
        };
        let p99 = after.iter().map(|s| s.ack_p99_ms);
        Some(Self {
            warmup_secs: warm.t_secs,
            rss_at_warmup_bytes: warm.server_rss_bytes,
            rss_last_bytes: last.server_rss_bytes,
            rss_max_after_warmup_bytes: after.iter().filter_map(|s| s.server_rss_bytes).max(),
            rss_drift_pct,
            fds_min: after.iter().filter_map(|s| s.server_fds).min(),
            fds_max: after.iter().filter_map(|s| s.server_fds).max(),
            ack_p99_min_ms: p99.clone().fold(f64::INFINITY, f64::min),
            ack_p99_max_ms: p99.fold(0.0, f64::max),
        })
    }
}

/// Sample every `every` from `started` until aborted; the samples land in the returned vector.
pub fn spawn(
    every: Duration,
    started: Instant,
    stats: Arc<Stats>,
    server_pid: Option<u32>,
    phase: watch::Receiver<Phase>,
) -> (JoinHandle<()>, Arc<Mutex<Vec<Sample>>>) {
    let out: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let samples = out.clone();
    let task = tokio::spawn(async move {
        let mut iv = tokio::time::interval_at(started + every, every);
        let mut last = (
            started,
            Stats::get(&stats.sent),
            Stats::get(&stats.acks),
            Stats::get(&stats.errors),
            Stats::get(&stats.logins),
            server_pid.and_then(|p| sys::cpu_secs(Some(p))),
        );
        // Ends when the scenario aborts it after the drain.
        loop {
            iv.tick().await;
            let now = Instant::now();
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
            let (sent, acks, errors, logins) = (
                Stats::get(&stats.sent),
                Stats::get(&stats.acks),
                Stats::get(&stats.errors),
                Stats::get(&stats.logins),
            );
            let cpu = server_pid.and_then(|p| sys::cpu_secs(Some(p)));
            let window = stats.take_window();
            let (phase_name, step) = match *phase.borrow() {
                Phase::Run(k) => ("run", k),
                Phase::Drain => ("drain", 0),
                Phase::Ramp | Phase::Stop => ("other", 0),
            };
            let sample = Sample {
                t_secs: now.duration_since(started).as_secs_f64(),
                phase: phase_name.to_string(),
                step,
                open_sockets: Stats::get(&stats.open),
                sent_per_sec: (sent - last.1) as f64 / dt,
                acks_per_sec: (acks - last.2) as f64 / dt,
                ack_p50_ms: window.ack.p50,
                ack_p99_ms: window.ack.p99,
                ack_max_ms: window.ack.max,
                errors: errors - last.3,
                errors_total: errors,
                logins: logins - last.4,
                login_p99_ms: window.login.p99,
                server_rss_bytes: server_pid.and_then(sys::rss_bytes),
                server_fds: server_pid.and_then(sys::open_fds),
                server_cpu_pct: match (last.5, cpu) {
                    (Some(a), Some(b)) => Some((b - a) / dt * 100.0),
                    _ => None,
                },
                client_rss_bytes: sys::own_rss_bytes(),
            };
            last = (now, sent, acks, errors, logins, cpu);
            samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sample);
        }
    });
    (task, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: f64, rss: u64, fds: u64, p99: f64) -> Sample {
        Sample {
            t_secs: t,
            phase: "run".into(),
            server_rss_bytes: Some(rss),
            server_fds: Some(fds),
            ack_p99_ms: p99,
            ..Default::default()
        }
    }

    #[test]
    fn drift_is_judged_after_the_warmup() -> anyhow::Result<()> {
        let samples: Vec<Sample> = (0..10)
            .map(|i| {
                s(
                    f64::from(i) * 60.0,
                    if i < 2 { 50 } else { 100 + i as u64 },
                    40,
                    5.0,
                )
            })
            .collect();
        let d = Drift::of(&samples).ok_or_else(|| anyhow::anyhow!("no drift"))?;
        assert_eq!(d.warmup_secs, 120.0);
        assert_eq!(d.rss_at_warmup_bytes, Some(102));
        assert_eq!(d.rss_last_bytes, Some(109));
        assert!((d.rss_drift_pct.unwrap_or(0.0) - 700.0 / 102.0).abs() < 1e-9);
        assert_eq!((d.fds_min, d.fds_max), (Some(40), Some(40)));
        assert_eq!((d.ack_p99_min_ms, d.ack_p99_max_ms), (5.0, 5.0));
        assert!(Drift::of(&samples[..1]).is_none());
        Ok(())
    }
}
