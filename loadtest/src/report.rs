//! The JSON report (the contract's fields first, then extras) and the human summary table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::Percentiles;

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
            "sessions {} ({} users × 2 tabs), connected {}, ramp {:.1} s, steady {:.1} s at {} cmd/s/session, chat fraction {}",
            r.sessions,
            r.users,
            r.connected,
            r.ramp_secs,
            r.duration_secs,
            r.rate_per_session,
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
        Ok(())
    }
}
