//! Reconnect delays: exponential with jitter, so a server restart is not met by every tab
//! reconnecting in the same instant.

/// First delay before jitter, in milliseconds.
const BASE_MS: f64 = 500.0;
/// Longest delay, in milliseconds: an offline tab still retries every few seconds.
const CAP_MS: f64 = 15_000.0;

/// Delay before reconnect attempt number `attempt` (0 for the first retry). `jitter` is a
/// random number in `[0, 1)`; the delay lies between half and all of the exponential step
/// ("equal jitter": never immediate, never synchronized).
pub fn delay_ms(attempt: u32, jitter: f64) -> u32 {
    let step = (BASE_MS * 2f64.powi(attempt.min(16) as i32)).min(CAP_MS);
    let jitter = jitter.clamp(0.0, 1.0);
    (step / 2.0 + jitter * step / 2.0).round() as u32
}

#[cfg(test)]
mod tests {
    use super::delay_ms;

    #[test]
    fn grows_then_caps_and_stays_within_the_jitter_band() {
        assert_eq!(delay_ms(0, 0.0), 250);
        assert_eq!(delay_ms(0, 1.0), 500);
        assert_eq!(delay_ms(3, 0.0), 2_000);
        assert_eq!(delay_ms(3, 1.0), 4_000);
        assert_eq!(delay_ms(10, 0.0), 7_500);
        assert_eq!(delay_ms(10, 1.0), 15_000);
        assert_eq!(delay_ms(u32::MAX, 0.5), 11_250);
        for a in 0..20 {
            let lo = delay_ms(a, 0.0);
            let hi = delay_ms(a, 0.999);
            assert!(lo <= hi && hi <= 15_000);
        }
    }
}
