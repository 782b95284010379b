//! The offered-load schedule of a run, and when a step of it "passes".
//!
//! A plain run is one step: `--rate` per session for `--duration`. `--steps` is an explicit list
//! of offered rates (commands per second over all todo sessions), every step run whatever its
//! outcome, so a run can overshoot the knee and come back. `--find-max` walks the R10 series of
//! preferred numbers (1, 1.25, 1.6, 2, 2.5, 3.15, 4, 5, 6.3, 8 × 10ᵏ: ten steps a decade, ×1.26
//! each, and round figures like 1,000 / 8,000 / 10,000 fall on it) from `--start-rate` to
//! `--max-rate` and stops after the first step that fails. The sockets stay open across steps:
//! only each todo session's send interval changes.
//!
//! A step passes when it had no error and at most 1 % of the commands sent during it took
//! longer than `--p99-bound-ms` to be acknowledged, counting a command never answered as slower
//! (so a server that goes silent cannot pass by producing no slow acks). Latencies belong to
//! the step in which their command was *sent*.

/// R10 mantissas × 100.
const R10: [u64; 10] = [100, 125, 160, 200, 250, 315, 400, 500, 630, 800];

/// How the schedule was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--rate` for `--duration`.
    Plain,
    /// `--steps`: every step runs.
    Explicit,
    /// `--find-max`: stop after the first failing step.
    FindMax,
}

/// One step: the offered rate over all todo sessions and what that is per session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub offered: f64,
    /// Commands per second of each todo session.
    pub rate: f64,
    pub secs: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub mode: Mode,
    pub steps: Vec<Step>,
}

impl Schedule {
    /// The schedule the arguments ask for, with `todo_sessions` sessions sending todo commands.
    pub fn from_args(args: &crate::Args, todo_sessions: usize) -> anyhow::Result<Self> {
        let n = todo_sessions.max(1) as f64;
        let stepped = |mode, rates: Vec<f64>| -> anyhow::Result<Self> {
            let steps = rates
                .into_iter()
                .map(|offered| Step {
                    offered,
                    rate: offered / n,
                    secs: args.step_secs,
                })
                .collect::<Vec<_>>();
            if let Some(s) = steps.iter().find(|s| s.rate > 1_000.0) {
                anyhow::bail!(
                    "{} cmd/s over {todo_sessions} todo sessions is {:.0}/s per session (at most 1000): use more --sessions",
                    s.offered,
                    s.rate
                );
            }
            Ok(Self { mode, steps })
        };
        if args.find_max {
            stepped(Mode::FindMax, r10_series(args.start_rate, args.max_rate))
        } else if !args.steps.is_empty() {
            stepped(Mode::Explicit, args.steps.clone())
        } else {
            Ok(Self {
                mode: Mode::Plain,
                steps: vec![Step {
                    offered: args.rate * todo_sessions as f64,
                    rate: args.rate,
                    secs: args.duration,
                }],
            })
        }
    }

    /// The per-session rate of each step, for the sessions.
    pub fn rates(&self) -> Vec<f64> {
        self.steps.iter().map(|s| s.rate).collect()
    }
}

/// The R10 values from `start` (rounded down onto the series) up to `max`, with `max` itself
/// last when it is not on the series.
pub fn r10_series(start: f64, max: f64) -> Vec<f64> {
    let mut out = Vec::new();
    if !(start > 0.0 && max >= start) {
        return out;
    }
    let mut decade = start.log10().floor() as i32 - 1;
    // Bounded: at most 10 values per decade, and rates are at most 1e7 (checked in cli).
    'outer: for _ in 0..12 {
        for m in R10 {
            let v = value(m, decade);
            if v > max * (1.0 + 1e-9) {
                break 'outer;
            }
            let next_on_series = R10
                .iter()
                .map(|&n| value(n, decade))
                .chain(std::iter::once(value(100, decade + 1)))
                .find(|&n| n > v)
                .unwrap_or(f64::INFINITY);
            // The first value is the largest one not above `start`.
            if out.is_empty() && next_on_series <= start * (1.0 + 1e-9) {
                continue;
            }
            out.push(v);
        }
        decade += 1;
    }
    if out.last().is_none_or(|&l| l < max * (1.0 - 1e-9)) {
        out.push(max);
    }
    out
}

/// `m / 100 × 10^decade`, as the nearest float to the decimal (12.5, not 12.500000001).
fn value(m: u64, decade: i32) -> f64 {
    if decade >= 2 {
        m as f64 * 10f64.powi(decade - 2)
    } else {
        m as f64 / 10f64.powi(2 - decade)
    }
}

/// What a step produced, as far as its verdict needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Commands sent during the step.
    pub sent: u64,
    /// Of those, acknowledged within the bound.
    pub acked_within_bound: u64,
    /// Errors of any kind charged to the step.
    pub errors: u64,
}

impl Outcome {
    /// No error, and at most 1 % of the commands slower than the bound or never answered.
    pub fn passes(&self) -> bool {
        let slow = self.sent.saturating_sub(self.acked_within_bound);
        self.errors == 0 && self.sent > 0 && slow * 100 <= self.sent
    }
}

/// The knee: the highest achieved rate among the passing steps before the first failing one
/// (`None` when the first step already failed; an explicit schedule may come back down).
/// `steps` is `(passed, achieved acks/s)` in run order.
pub fn knee(steps: &[(bool, f64)]) -> Option<f64> {
    steps
        .iter()
        .take_while(|(passed, _)| *passed)
        .map(|(_, achieved)| *achieved)
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r10_steps_are_round_and_close() {
        assert_eq!(
            r10_series(500.0, 20_000.0),
            vec![
                500.0, 630.0, 800.0, 1000.0, 1250.0, 1600.0, 2000.0, 2500.0, 3150.0, 4000.0,
                5000.0, 6300.0, 8000.0, 10000.0, 12500.0, 16000.0, 20000.0
            ]
        );
        // The start is rounded down onto the series; a max off the series ends it.
        assert_eq!(
            r10_series(700.0, 1100.0),
            vec![630.0, 800.0, 1000.0, 1100.0]
        );
        assert_eq!(r10_series(20.0, 25.0), vec![20.0, 25.0]);
        assert_eq!(r10_series(2.0, 2.0), vec![2.0]);
        assert_eq!(r10_series(1.0, 1.6), vec![1.0, 1.25, 1.6]);
        assert!(r10_series(10.0, 5.0).is_empty());
    }

    #[test]
    fn a_step_passes_only_without_errors_and_with_99_percent_in_bound() {
        let o = |sent, ok, errors| Outcome {
            sent,
            acked_within_bound: ok,
            errors,
        };
        assert!(o(1000, 1000, 0).passes());
        assert!(o(1000, 990, 0).passes());
        assert!(!o(1000, 989, 0).passes());
        assert!(!o(1000, 1000, 1).passes());
        assert!(
            !o(0, 0, 0).passes(),
            "a step that sent nothing proves nothing"
        );
    }

    #[test]
    fn the_knee_is_the_best_pass_before_the_first_failure() {
        assert_eq!(
            knee(&[
                (true, 990.0),
                (true, 1980.0),
                (false, 2500.0),
                (true, 995.0)
            ]),
            Some(1980.0)
        );
        assert_eq!(
            knee(&[(true, 40.0), (true, 80.0), (true, 40.0)]),
            Some(80.0)
        );
        assert_eq!(knee(&[(false, 10.0), (true, 20.0)]), None);
        assert_eq!(knee(&[]), None);
    }
}
