//! Rate limits on the auth endpoints — the rules; transport hands in the client's address
//! (see `transport::http::client_ip`) and the device token its cookie carries.
//!
//! - **Per client address** (`AUTH_RATE_PER_MIN`, IPv6 by /64): register, login and refresh
//!   attempts per minute, whatever their outcome.
//! - **Failed logins per (account, source)**: a burst of [`FAILURE_BURST`], then one per
//!   [`FAILURE_PERIOD`] — never more than 95 in any hour, under ASVS V2.2.1's 100. The source
//!   is the client's address, or, for a browser that has logged in to this account before
//!   (its device cookie says so), that device: a known device keeps its own budget even when
//!   an attacker shares its address.
//!
//! Why not one budget per account, as before: then anybody could keep any account locked with
//! a couple of wrong passwords a minute, from anywhere (a lockout is a lever for attackers).
//! Spending the budget of one (account, source) pair only slows that source down; the owner,
//! logging in from another address or from a known device, is not affected. What this does
//! not stop is a guesser with many addresses (each has its own 95 an hour, each capped by
//! `AUTH_RATE_PER_MIN` too, and each guess costs an Argon2id hash): `docs/security.md` says so.
//!
//! An attempt takes its budget *before* the password is checked (so concurrent guesses cannot
//! overrun it) and gives it back if the password was right.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::time::Instant;

/// The address a per-client limit is kept for: an IPv4 address, or an IPv6 address's /64.
/// One home or one server is given a whole /64; counting each of its addresses apart would
/// give one client 2^64 budgets.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from_bits(
            v6.to_bits() & !((1u128 << 64) - 1),
        )),
        v4 => v4,
    }
}

/// Why a request was refused, and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header (at least 1).
    pub fn secs(self) -> u64 {
        self.0.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// Where a login attempt comes from, for its failure budget.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A client address (IPv6: its /64).
    Address(IpAddr),
    /// A browser that logged in to this account before: the id its device cookie carries.
    Device(String),
}

/// Failed logins allowed at once for one (account, source).
pub const FAILURE_BURST: u32 = 5;
/// Then one more per this long: 5 + 3600/40 = 95 an hour at most.
pub const FAILURE_PERIOD: Duration = Duration::from_secs(40);

pub struct AuthLimits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// (account email, source) → its failure bucket.
    failures: DashMap<(String, Source), Instant>,
}

/// A login attempt's share of its failure budget: spent unless [`AuthLimits::succeeded`]
/// gives it back.
#[derive(Debug)]
pub struct Attempt {
    key: (String, Source),
}

impl AuthLimits {
    pub fn new(per_ip_per_min: u32) -> Self {
        let per_ip =
            NonZeroU32::new(per_ip_per_min).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self {
            per_ip,
            failures: DashMap::new(),
        }
    }

    /// One auth attempt from `ip` (by its [`client_key`]).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        let Some(limiter) = &self.per_ip else {
            return Ok(());
        };
        limiter.check_key(&client_key(ip)).map_err(|not_until| {
            RetryAfter(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// Before checking a password: takes one failure from this (account, source)'s budget,
    /// or says how long until there is one.
    pub fn begin_login(&self, email: &str, source: Source) -> Result<Attempt, RetryAfter> {
        self.begin_login_at(email, source, Instant::now())
    }

    fn begin_login_at(
        &self,
        email: &str,
        source: Source,
        now: Instant,
    ) -> Result<Attempt, RetryAfter> {
        let source = match source {
            Source::Address(ip) => Source::Address(client_key(ip)),
            device => device,
        };
        let key = (email.to_owned(), source);
        let mut tat = self.failures.entry(key.clone()).or_insert(now);
        // GCRA: the bucket is full when its "theoretical arrival time" is at or before now;
        // each failure pushes it one period later; up to `burst - 1` periods ahead is allowed.
        let tolerance = FAILURE_PERIOD * (FAILURE_BURST - 1);
        let ahead = tat.saturating_duration_since(now);
        if ahead > tolerance {
            return Err(RetryAfter(ahead - tolerance));
        }
        *tat = (*tat).max(now) + FAILURE_PERIOD;
        Ok(Attempt { key })
    }

    /// The password was right: the attempt is not a failure.
    pub fn succeeded(&self, attempt: Attempt) {
        let now = Instant::now();
        if let Some(mut tat) = self.failures.get_mut(&attempt.key) {
            *tat = tat.checked_sub(FAILURE_PERIOD).unwrap_or(now).max(now);
        }
    }

    /// Drops idle keys so the maps do not grow without bound.
    pub fn housekeeping(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
        }
        let now = Instant::now();
        self.failures.retain(|_, tat| *tat > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Source {
        Source::Address(s.parse().unwrap())
    }

    #[test]
    fn per_ip_limit_counts_attempts_by_address_and_64() {
        let l = AuthLimits::new(3);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check_ip(ip).is_ok());
        }
        let wait = l.check_ip(ip).unwrap_err();
        assert!(wait.secs() >= 1 && wait.secs() <= 20);
        assert!(l.check_ip("127.0.0.2".parse().unwrap()).is_ok());
        assert!(AuthLimits::new(0).check_ip(ip).is_ok());
        // One /64 is one client.
        for i in 0..3 {
            assert!(
                l.check_ip(format!("2001:db8::{i}").parse().unwrap())
                    .is_ok()
            );
        }
        assert!(l.check_ip("2001:db8::ffff".parse().unwrap()).is_err());
        assert!(l.check_ip("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn failures_are_budgeted_per_account_and_source_and_successes_are_free() {
        let l = AuthLimits::new(0);
        let mut now = Instant::now();
        for _ in 0..FAILURE_BURST {
            l.begin_login_at("a@b.co", addr("192.0.2.1"), now).unwrap();
        }
        let wait = l
            .begin_login_at("a@b.co", addr("192.0.2.1"), now)
            .unwrap_err();
        assert!(wait.secs() >= 1 && wait.secs() <= 40, "{wait:?}");
        // Another source, another account, a known device: their own budgets.
        assert!(
            l.begin_login_at("a@b.co", addr("198.51.100.7"), now)
                .is_ok()
        );
        assert!(
            l.begin_login_at("other@b.co", addr("192.0.2.1"), now)
                .is_ok()
        );
        assert!(
            l.begin_login_at("a@b.co", Source::Device("d1".into()), now)
                .is_ok()
        );
        // A success gives its share back.
        for _ in 0..20 {
            let a = l.begin_login_at("c@b.co", addr("192.0.2.1"), now).unwrap();
            l.succeeded(a);
        }
        // Refilled at one per period.
        now += FAILURE_PERIOD;
        assert!(l.begin_login_at("a@b.co", addr("192.0.2.1"), now).is_ok());
        assert!(l.begin_login_at("a@b.co", addr("192.0.2.1"), now).is_err());
    }

    #[test]
    fn no_source_gets_more_than_100_failures_in_an_hour() {
        let l = AuthLimits::new(0);
        let mut now = Instant::now();
        let mut failures = 0;
        // One attempt a second for two hours; count the failures in the last hour.
        for second in 0..7200 {
            if l.begin_login_at("a@b.co", addr("192.0.2.1"), now).is_ok() && second >= 3600 {
                failures += 1;
            }
            now += Duration::from_secs(1);
        }
        assert!(failures <= 100, "{failures}");
        assert!(failures >= 80, "still slowed down, not locked: {failures}");
    }
}
