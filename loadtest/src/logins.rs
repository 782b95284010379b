//! `--logins-per-sec`: REST logins during the load, as real users make them — each one a
//! `POST /api/auth/login` (timed: `login_ms`) followed by a logout, so sessions do not pile
//! up over a long soak — by users prepared only for this (`<prefix>-login-<n>@example.com`),
//! round-robin over them and over the targets.
//!
//! Open loop: the logins start on schedule whatever the answers; at most [`MAX_IN_FLIGHT`] are
//! outstanding, and a tick that finds them all busy counts a `login:backlog` error.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use crate::prep::{self, Target};
use crate::session::Phase;
use crate::stats::{Metric, Stats};

/// Logins outstanding at once, at most.
pub const MAX_IN_FLIGHT: usize = 64;

/// How many users to prepare for `rate` logins a second: a few seconds' worth, so that no
/// user logs in twice at the same moment.
pub fn users_for(rate: f64) -> usize {
    ((rate * 4.0).ceil() as usize).clamp(4, 200)
}

/// Log in at `rate` per second while the phase is `Run`; then wait (at most `timeout`) for the
/// logins in flight.
pub fn spawn(
    rate: f64,
    targets: Vec<Target>,
    emails: Vec<String>,
    password: String,
    stats: Arc<Stats>,
    mut phase: watch::Receiver<Phase>,
    timeout: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(client) = prep::http_client(MAX_IN_FLIGHT) else {
            stats.error("login:client");
            return;
        };
        if emails.is_empty() || targets.is_empty() || rate <= 0.0 {
            return;
        }
        let period = Duration::from_secs_f64(1.0 / rate);
        let mut iv = tokio::time::interval(period);
        iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut in_flight = JoinSet::new();
        let password: Arc<str> = Arc::from(password);
        let mut n = 0usize;
        // Bounded by the run: it stops when the phase leaves `Run`.
        loop {
            tokio::select! {
                _ = iv.tick() => {}
                changed = phase.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
            if !matches!(*phase.borrow(), Phase::Run(_)) {
                break;
            }
            while in_flight.try_join_next().is_some() {}
            if in_flight.len() >= MAX_IN_FLIGHT {
                stats.error("login:backlog");
                continue;
            }
            let (client, stats, password) = (client.clone(), stats.clone(), password.clone());
            let target = targets[n % targets.len()].clone();
            let email = emails[n % emails.len()].clone();
            n += 1;
            in_flight.spawn(async move {
                let started = Instant::now();
                match prep::sign_in(&client, &target, &email, &password, None).await {
                    Ok(token) => {
                        stats.record(Metric::Login, started.elapsed());
                        Stats::add(&stats.logins, 1);
                        if let Err(kind) = prep::logout(&client, &target, &token).await {
                            stats.error(format!("logout:{kind}"));
                        }
                    }
                    Err(kind) => stats.error(format!("login:{kind}")),
                }
            });
        }
        let deadline = Instant::now() + timeout;
        while !in_flight.is_empty() {
            match tokio::time::timeout_at(deadline, in_flight.join_next()).await {
                Ok(_) => {}
                Err(_) => {
                    for _ in 0..in_flight.len() {
                        stats.error("login:timeout");
                    }
                    in_flight.abort_all();
                    break;
                }
            }
        }
    })
}
