//! The JSON report (the contract's fields first, then extras) and the human summary table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::Percentiles;
use crate::timeline::{Drift, Sample};
use crate::verify::VerifyReport;

/// One step of `--find-max` / `--steps`. Its commands are those *sent* during it; their acks,
/// errors, timeouts and late acks count here whenever they arrived.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// 1-based.
    pub step: usize,
    pub offered_cmds_per_sec: f64,
    pub rate_per_session: f64,
    /// When it started, seconds after the load began, and how long it ran.
    pub start_secs: f64,
    pub secs: f64,
    /// Cut short when `--find-max` stopped (not judged).
    pub partial: bool,
    pub sent: u64,
    pub sent_per_sec: f64,
    pub acks: u64,
    pub acks_per_sec: f64,
    pub ack_ms: Percentiles,
    pub acked_within_bound: u64,
    pub errors: u64,
    /// Commands never answered within `--timeout` (`timeout:ack`, or `lost:ack` when the
    /// socket died first).
    pub timeouts: u64,
    /// Acks that came after their command had counted as a timeout.
    pub late_acks: u64,
    /// Commands refused with an `error` frame `unavailable` (the server shedding load).
    pub shed: u64,
    pub passed: bool,
    pub errors_by_kind: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_ack: Option<f64>,
    /// Server RSS and open descriptors at the end of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_rss_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_fds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cpu_secs: Option<f64>,
}

/// A stepped run: the knee and the step table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    /// `find_max` or `steps`.
    pub mode: String,
    pub p99_bound_ms: f64,
    pub step_secs: f64,
    /// Acks per second of the best passing step before the first failing one (null when the
    /// first step failed).
    pub knee_cmds_per_sec: Option<f64>,
    pub steps: Vec<StepReport>,
}

/// What one run against one target measured. The contract's fields are the first ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub sessions: u64,
    /// Sessions that received their `welcome`.
    pub connected: u64,
    /// Total errors of every kind; `errors_by_kind` breaks it down.
    pub errors: u64,
    /// Length of the steady-load phase actually run, in seconds.
    pub duration_secs: f64,
    pub messages_sent: u64,
    pub acks_received: u64,
    pub connect_ms: Percentiles,
    pub ack_ms: Percentiles,
    pub fanout_ms: Percentiles,
    pub chat_first_token_ms: Percentiles,
    /// Server RSS at the end of the steady phase (with `--server-pid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_rss_bytes: Option<u64>,

    /// `server` or `echo`.
    pub target: String,
    pub urls: Vec<String>,
    pub users: u64,
    pub rate_per_session: f64,
    /// Turns per second of each chatting session (`--chat-rate`, default `--rate`).
    pub chat_rate_per_session: f64,
    pub chat_fraction: f64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub messages_received: u64,
    /// `todo.*` frames received on all sockets (each change arrives once per open tab).
    pub events_received: u64,
    /// Changes sent while the other tab was open, so an event was expected there.
    pub fanout_expected: u64,
    pub fanout_received: u64,
    pub chat_done_ms: Percentiles,
    /// Chat send ticks skipped because the previous answer was still streaming.
    pub chat_busy_ticks: u64,
    /// Acks that came after their command was already counted as `timeout:ack`.
    pub late_acks: u64,
    /// Seconds spent registering / logging in the users over REST (0 for the echo run).
    pub prepare_secs: f64,
    /// Seconds from the first connect to the last welcome (or failure).
    pub ramp_secs: f64,
    /// Server RSS after users were prepared, before any socket was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_rss_before_connect_bytes: Option<u64>,
    /// Server RSS with every socket open, before the load started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_rss_connected_bytes: Option<u64>,
    /// (connected − before connect) / connected sockets: what one idle session costs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_rss_per_session_bytes: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_peak_rss_bytes: Option<u64>,
    /// Server CPU seconds (user + system) spent during the ramp, run and drain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_secs: Option<f64>,
    /// The load tester's own CPU seconds over the same span (it shares the machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cpu_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_rss_bytes: Option<u64>,
    /// The machine's 1-minute load average before the ramp and after the drain (other work
    /// on a shared machine shows up here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_avg_1m_before: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_avg_1m_after: Option<f64>,
    /// The load tester's own RSS before the first socket and with every socket open, and the
    /// difference per connected socket: what one socket costs the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_rss_before_connect_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_rss_connected_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_rss_per_session_bytes: Option<f64>,
    /// Loopback source addresses the sockets were spread over (127.0.0.1 … 127.0.0.N).
    pub source_addrs: u64,
    /// The load tester's `RLIMIT_NOFILE` after raising it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nofile_limit: Option<u64>,
    #[serde(flatten)]
    pub stepped: Option<StepRun>,
    pub logins_per_sec: f64,
    pub logins: u64,
    pub login_ms: Percentiles,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_every_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_lines: Option<u64>,
}

/// The whole report: the run against the server (or the echo run alone), with the echo
/// baseline of the same invocation beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    #[serde(flatten)]
    pub run: RunReport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_baseline: Option<RunReport>,
    /// ack p99 / echo ack p99 (the bound: ≤ 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_p99_vs_echo: Option<f64>,
    /// fan-out p99 / ack p99 (the bound: ≤ 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout_p99_vs_ack_p99: Option<f64>,
    /// Command line and start time, so a report says how it was made.
    pub command: String,
    pub started_at: String,
    /// `--verify`: what the check of the recorded changes found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerifyReport>,
}

impl Report {
    pub fn new(
        run: RunReport,
        echo: Option<RunReport>,
        command: String,
        started_at: String,
    ) -> Self {
        let ratio = |a: f64, b: f64, n: u64, m: u64| (n > 0 && m > 0 && b > 0.0).then(|| a / b);
        let ack_p99_vs_echo = echo.as_ref().and_then(|e| {
            (run.target != "echo")
                .then(|| {
                    ratio(
                        run.ack_ms.p99,
                        e.ack_ms.p99,
                        run.ack_ms.count,
                        e.ack_ms.count,
                    )
                })
                .flatten()
        });
        let fanout_p99_vs_ack_p99 = ratio(
            run.fanout_ms.p99,
            run.ack_ms.p99,
            run.fanout_ms.count,
            run.ack_ms.count,
        );
        Self {
            run,
            echo_baseline: echo,
            ack_p99_vs_echo,
            fanout_p99_vs_ack_p99,
            command,
            started_at,
            verification: None,
        }
    }

    /// How the load was offered: "1 cmd/s each", or the steps.
    pub fn load_label(&self) -> String {
        match &self.run.stepped {
            Some(st) => format!(
                "{}{} steps of {} s ({:.0}–{:.0} cmd/s)",
                if st.mode == "find_max" {
                    "find-max: "
                } else {
                    ""
                },
                st.steps.len(),
                st.step_secs,
                st.steps
                    .iter()
                    .map(|s| s.offered_cmds_per_sec)
                    .fold(f64::INFINITY, f64::min),
                st.steps
                    .iter()
                    .map(|s| s.offered_cmds_per_sec)
                    .fold(0.0, f64::max)
            ),
            None => format!("{} cmd/s each", self.run.rate_per_session),
        }
    }

    /// The human summary printed at the end.
    pub fn summary(&self) -> String {
        let r = &self.run;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n== loadtest against {} ({}) ==",
            if r.urls.is_empty() {
                "-".to_string()
            } else {
                r.urls.join(", ")
            },
            r.target
        );
        let _ = writeln!(
            out,
            "sessions {} ({} users × 2 tabs), connected {}, ramp {:.1} s, steady {:.1} s, {}, chat fraction {}",
            r.sessions,
            r.users,
            r.connected,
            r.ramp_secs,
            r.duration_secs,
            self.load_label(),
            r.chat_fraction
        );
        if r.prepare_secs > 0.0 {
            let _ = writeln!(
                out,
                "users prepared over REST in {:.1} s ({:.0} users/s)",
                r.prepare_secs,
                r.users as f64 / r.prepare_secs
            );
        }
        let _ = writeln!(
            out,
            "messages sent {}, received {} (acks {}, todo events {}), fan-out matched {}/{}",
            r.messages_sent,
            r.messages_received,
            r.acks_received,
            r.events_received,
            r.fanout_received,
            r.fanout_expected
        );
        let _ = writeln!(
            out,
            "\n{:<28}{:>9}{:>10}{:>10}{:>10}{:>10}",
            "latency (ms)", "count", "p50", "p95", "p99", "max"
        );
        let mut row = |name: &str, p: &Percentiles| {
            if p.count > 0 {
                let _ = writeln!(
                    out,
                    "{:<28}{:>9}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
                    name, p.count, p.p50, p.p95, p.p99, p.max
                );
            }
        };
        row("connect (upgrade→welcome)", &r.connect_ms);
        row("ack (send→ack)", &r.ack_ms);
        row("fan-out (tab A→tab B)", &r.fanout_ms);
        row("chat first token", &r.chat_first_token_ms);
        row("chat done", &r.chat_done_ms);
        row("REST login", &r.login_ms);
        if let Some(e) = &self.echo_baseline {
            row("echo floor: connect", &e.connect_ms);
            row("echo floor: ack", &e.ack_ms);
            row("echo floor: fan-out", &e.fanout_ms);
            row("echo floor: chat first token", &e.chat_first_token_ms);
        }
        let _ = writeln!(out);
        if let Some(x) = self.ack_p99_vs_echo {
            let _ = writeln!(
                out,
                "ack p99 = {x:.2} × the echo floor's ack p99 (bound: ≤ 5)"
            );
        }
        if let Some(x) = self.fanout_p99_vs_ack_p99 {
            let _ = writeln!(out, "fan-out p99 = {x:.2} × ack p99 (bound: ≤ 2)");
        }
        if let Some(rss) = r.server_rss_bytes {
            let _ = write!(out, "server RSS {:.1} MiB", rss as f64 / 1048576.0);
            if let Some(per) = r.server_rss_per_session_bytes {
                let _ = write!(out, ", {:.1} KiB per connected session", per / 1024.0);
            }
            if let Some(peak) = r.server_peak_rss_bytes {
                let _ = write!(out, ", peak {:.1} MiB", peak as f64 / 1048576.0);
            }
            let _ = writeln!(out);
        }
        if let Some(per) = r.client_rss_per_session_bytes {
            let _ = writeln!(
                out,
                "load tester RSS {:.1} MiB, {:.1} KiB per connected socket, over {} source address(es)",
                r.client_rss_connected_bytes.unwrap_or(0) as f64 / 1048576.0,
                per / 1024.0,
                r.source_addrs
            );
        }
        if r.logins_per_sec > 0.0 {
            let _ = writeln!(
                out,
                "REST logins: {} at {} /s asked",
                r.logins, r.logins_per_sec
            );
        }
        if let (Some(s), Some(c)) = (r.server_cpu_secs, r.client_cpu_secs) {
            let _ = writeln!(out, "CPU seconds: server {s:.1}, load tester {c:.1}");
        }
        if let (Some(a), Some(b)) = (r.load_avg_1m_before, r.load_avg_1m_after) {
            let _ = writeln!(
                out,
                "machine load average (1 min): {a:.2} before, {b:.2} after"
            );
        }
        if r.errors == 0 {
            let _ = writeln!(out, "errors: 0");
        } else {
            let _ = writeln!(out, "errors: {}", r.errors);
            for (kind, n) in &r.errors_by_kind {
                let _ = writeln!(out, "  {kind:<40}{n:>8}");
            }
        }
        if let Some(st) = &r.stepped {
            out.push_str(&step_table(st));
        }
        if !r.samples.is_empty() {
            out.push_str(&sample_table(&r.samples, r.drift.as_ref()));
        }
        if let Some(path) = &r.record_file {
            let _ = writeln!(
                out,
                "recorded {} lines to {path}",
                r.record_lines.unwrap_or(0)
            );
        }
        if let Some(v) = &self.verification {
            out.push_str(&v.summary());
        }
        if let Some(e) = &self.echo_baseline
            && e.errors > 0
        {
            let _ = writeln!(
                out,
                "echo baseline errors: {} {:?}",
                e.errors, e.errors_by_kind
            );
        }
        out
    }
}

fn mib(b: Option<u64>) -> String {
    b.map_or("-".to_string(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

/// The step table of the summary.
fn step_table(st: &StepRun) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nsteps ({}, ack p99 bound {} ms, {} s each; latencies by send step):",
        st.mode, st.p99_bound_ms, st.step_secs
    );
    let _ = writeln!(
        out,
        "{:>4} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>7} {:>7} {:>6} {:>5} {:>8} {:>8} {:>6}  verdict",
        "step",
        "offered/s",
        "sent/s",
        "acks/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "t/outs",
        "late",
        "shed",
        "cpu µs/c",
        "RSS MiB",
        "fds"
    );
    for s in &st.steps {
        let _ = writeln!(
            out,
            "{:>4} {:>9.0} {:>9.0} {:>9.0} {:>8.2} {:>8.2} {:>9.1} {:>7} {:>7} {:>6} {:>5} {:>8} {:>8} {:>6}  {}",
            s.step,
            s.offered_cmds_per_sec,
            s.sent_per_sec,
            s.acks_per_sec,
            s.ack_ms.p50,
            s.ack_ms.p99,
            s.ack_ms.max,
            s.errors,
            s.timeouts,
            s.late_acks,
            s.shed,
            s.server_cpu_us_per_ack
                .map_or("-".to_string(), |c| format!("{c:.0}")),
            mib(s.server_rss_bytes),
            s.server_fds.map_or("-".to_string(), |f| f.to_string()),
            if s.partial {
                "partial"
            } else if s.passed {
                "pass"
            } else {
                "FAIL"
            }
        );
    }
    match st.knee_cmds_per_sec {
        Some(k) => {
            let _ = writeln!(
                out,
                "knee: {k:.0} cmd/s acknowledged with ack p99 ≤ {} ms and no error",
                st.p99_bound_ms
            );
        }
        None => {
            let _ = writeln!(out, "knee: none (the first step already failed)");
        }
    }
    out
}

/// The time series of the summary (at most ~40 rows: evenly thinned).
fn sample_table(samples: &[Sample], drift: Option<&Drift>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\ntime series (ack latencies of the acks that arrived in each interval):"
    );
    let _ = writeln!(
        out,
        "{:>7} {:>6} {:>7} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8} {:>6} {:>6}",
        "t s",
        "phase",
        "open",
        "acks/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "logins",
        "RSS MiB",
        "fds",
        "cpu %"
    );
    let every = samples.len().div_ceil(40).max(1);
    for (i, s) in samples.iter().enumerate() {
        if i % every != 0 && i + 1 != samples.len() {
            continue;
        }
        let _ = writeln!(
            out,
            "{:>7.0} {:>6} {:>7} {:>8.0} {:>8.2} {:>8.2} {:>7} {:>7} {:>8} {:>6} {:>6}",
            s.t_secs,
            s.phase,
            s.open_sockets,
            s.acks_per_sec,
            s.ack_p50_ms,
            s.ack_p99_ms,
            s.errors,
            s.logins,
            mib(s.server_rss_bytes),
            s.server_fds.map_or("-".to_string(), |f| f.to_string()),
            s.server_cpu_pct
                .map_or("-".to_string(), |c| format!("{c:.0}")),
        );
    }
    if let Some(d) = drift {
        let _ = writeln!(
            out,
            "after the warm-up ({:.0} s): server RSS {} → {} MiB (drift {}, max {} MiB), fds {}–{}, interval ack p99 {:.2}–{:.2} ms",
            d.warmup_secs,
            mib(d.rss_at_warmup_bytes),
            mib(d.rss_last_bytes),
            d.rss_drift_pct
                .map_or("-".to_string(), |p| format!("{p:+.1} %")),
            mib(d.rss_max_after_warmup_bytes),
            d.fds_min.map_or("-".to_string(), |f| f.to_string()),
            d.fds_max.map_or("-".to_string(), |f| f.to_string()),
            d.ack_p99_min_ms,
            d.ack_p99_max_ms
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(p99: f64, count: u64) -> Percentiles {
        Percentiles {
            p50: p99 / 2.0,
            p95: p99,
            p99,
            max: p99,
            count,
        }
    }

    #[test]
    fn report_has_the_contract_fields_and_ratios() -> anyhow::Result<()> {
        let run = RunReport {
            sessions: 10,
            connected: 10,
            target: "server".into(),
            ack_ms: p(4.0, 100),
            fanout_ms: p(6.0, 100),
            server_rss_bytes: Some(1 << 20),
            ..Default::default()
        };
        let echo = RunReport {
            target: "echo".into(),
            ack_ms: p(1.0, 100),
            ..Default::default()
        };
        let report = Report::new(run, Some(echo), "loadtest".into(), "now".into());
        assert_eq!(report.ack_p99_vs_echo, Some(4.0));
        assert_eq!(report.fanout_p99_vs_ack_p99, Some(1.5));
        let json = serde_json::to_value(&report)?;
        for key in [
            "sessions",
            "connected",
            "errors",
            "duration_secs",
            "messages_sent",
            "acks_received",
            "connect_ms",
            "ack_ms",
            "fanout_ms",
            "chat_first_token_ms",
            "server_rss_bytes",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        for key in ["p50", "p95", "p99", "max"] {
            assert!(json["ack_ms"][key].is_f64(), "ack_ms.{key} not a float");
        }
        assert!(report.summary().contains("4.00 × the echo floor"));
        // A plain run has no step fields.
        assert!(json.get("knee_cmds_per_sec").is_none() && json.get("steps").is_none());
        Ok(())
    }

    #[test]
    fn a_stepped_run_reports_the_knee_and_the_table() -> anyhow::Result<()> {
        let step = |n: usize, offered: f64, passed: bool| StepReport {
            step: n,
            offered_cmds_per_sec: offered,
            acks_per_sec: offered * 0.99,
            passed,
            ..Default::default()
        };
        let run = RunReport {
            target: "server".into(),
            stepped: Some(StepRun {
                mode: "find_max".into(),
                p99_bound_ms: 50.0,
                step_secs: 10.0,
                knee_cmds_per_sec: Some(990.0),
                steps: vec![step(1, 1000.0, true), step(2, 1250.0, false)],
            }),
            ..Default::default()
        };
        let report = Report::new(run, None, "loadtest".into(), "now".into());
        let json = serde_json::to_value(&report)?;
        assert_eq!(json["knee_cmds_per_sec"], 990.0);
        assert_eq!(json["steps"][1]["offered_cmds_per_sec"], 1250.0);
        assert_eq!(json["steps"][1]["passed"], false);
        let text = report.summary();
        assert!(text.contains("knee: 990 cmd/s"), "{text}");
        assert!(text.contains("FAIL"), "{text}");
        Ok(())
    }
}
