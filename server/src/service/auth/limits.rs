//! Rate limits on the auth endpoints: per client IP (`AUTH_RATE_PER_MIN`) and per account on
//! failed logins (at most 5 in a burst, then one per 40 s: never more than 95 an hour, under
//! ASVS V2.2.1's 100).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Why a request was refused, and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header (at least 1).
    pub fn secs(self) -> u64 {
        self.0.as_secs_f64().ceil().max(1.0) as u64
    }
}

pub struct AuthLimits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failures: DefaultKeyedRateLimiter<String>,
    /// Accounts whose failure budget is spent, until when.
    locked: DashMap<String, Instant>,
}

const FAILURE_BURST: u32 = 5;
const FAILURE_PERIOD: Duration = Duration::from_secs(40);

impl AuthLimits {
    pub fn new(per_ip_per_min: u32) -> Self {
        let per_ip =
            NonZeroU32::new(per_ip_per_min).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        let failures = Quota::with_period(FAILURE_PERIOD)
            .map(|q| q.allow_burst(NonZeroU32::new(FAILURE_BURST).unwrap_or(NonZeroU32::MIN)))
            .unwrap_or_else(|| Quota::per_hour(NonZeroU32::MIN));
        Self {
            per_ip,
            failures: RateLimiter::keyed(failures),
            locked: DashMap::new(),
        }
    }

    /// One auth attempt from `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        let Some(limiter) = &self.per_ip else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            RetryAfter(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// Before checking a password: is this account locked by too many failures?
    pub fn check_account(&self, email: &str) -> Result<(), RetryAfter> {
        if let Some(until) = self.locked.get(email).map(|u| *u) {
            let now = Instant::now();
            if until > now {
                return Err(RetryAfter(until - now));
            }
            self.locked.remove(email);
        }
        Ok(())
    }

    /// After a failed password check: spend one of the account's failures.
    pub fn record_failure(&self, email: &str) {
        if let Err(not_until) = self.failures.check_key(&email.to_owned()) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.locked.insert(email.to_owned(), Instant::now() + wait);
        }
    }

    /// Drops idle keys so the maps do not grow without bound.
    pub fn housekeeping(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
        }
        self.failures.retain_recent();
        let now = Instant::now();
        self.locked.retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_limit_counts_attempts() {
        let l = AuthLimits::new(3);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check_ip(ip).is_ok());
        }
        let wait = l.check_ip(ip).unwrap_err();
        assert!(wait.secs() >= 1 && wait.secs() <= 20);
        assert!(l.check_ip("127.0.0.2".parse().unwrap()).is_ok());
        assert!(AuthLimits::new(0).check_ip(ip).is_ok());
    }

    #[test]
    fn accounts_lock_after_a_burst_of_failures() {
        let l = AuthLimits::new(0);
        for _ in 0..FAILURE_BURST {
            assert!(l.check_account("a@b.co").is_ok());
            l.record_failure("a@b.co");
        }
        assert!(
            l.check_account("a@b.co").is_ok(),
            "the burst itself is allowed"
        );
        l.record_failure("a@b.co");
        let wait = l.check_account("a@b.co").unwrap_err();
        assert!(wait.secs() >= 1 && wait.secs() <= 40);
        assert!(l.check_account("other@b.co").is_ok());
    }
}
