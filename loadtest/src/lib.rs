//! The load tester: many authenticated WebSocket sessions against the todo server, two per
//! user so that fan-out is measured, with HDR percentiles, a JSON report (the contract's "load
//! tester's report"), a summary table and an SVG plot.
//!
//! A run goes: check the URLs (loopback only unless told) → prepare users over REST → open the
//! sockets at `--ramp-rate` → steady load for `--duration` → drain for at most `--drain` →
//! close. With `--echo-baseline` the same run first goes against an in-process echo server, so
//! the report can state the server's latency as a multiple of the floor measured minutes ago
//! on the same machine with the same client.
//!
//! Every loop here is bounded: by the session count, by the phase deadlines, or by a timeout.

pub mod cli;
pub mod echo;
pub mod plot;
pub mod prep;
pub mod report;
pub mod session;
pub mod stats;
pub mod sys;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tokio::time::Instant;

pub use cli::Args;
use prep::{Target, UserCred};
use report::{Report, RunReport};
use session::{Phase, Role, SessionSpec, UserShared};
use stats::{Histograms, Metric, Stats};

/// Live progress: an indicatif line on a terminal, plain lines every few seconds otherwise
/// (so logs of long runs show how they went), nothing with `--quiet`.
struct Progress {
    bar: ProgressBar,
    plain: bool,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = if quiet || !tty {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        };
        Self {
            bar,
            plain: !quiet && !tty,
        }
    }

    fn set(&self, msg: String) {
        self.bar.set_message(msg);
    }

    fn line(&self, msg: &str) {
        if self.bar.is_hidden() {
            if self.plain {
                eprintln!("{msg}");
            }
        } else {
            self.bar.println(msg);
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// What one scenario produced.
struct RunOutput {
    report: RunReport,
    hist: Histograms,
}

/// Run everything the arguments ask for, write the report and the plot, print the summary.
pub async fn run(args: Args) -> anyhow::Result<Report> {
    args.validate()?;
    let started_at = chrono::Utc::now().to_rfc3339();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    match sys::raise_nofile_limit() {
        Ok((soft, _)) if (soft as usize) < args.sessions + 64 => eprintln!(
            "warning: file-descriptor limit {soft} is below --sessions {}; connects will fail",
            args.sessions
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: could not raise the file-descriptor limit: {e}"),
    }
    let targets = args
        .urls
        .iter()
        .map(|u| Target::parse(u))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !args.allow_non_loopback {
        for t in &targets {
            t.ensure_loopback().await?;
        }
    }
    let progress = Progress::new(args.quiet);

    let echo_out = if args.echo_baseline {
        let server = echo::EchoServer::start()
            .await
            .context("starting the echo server")?;
        let echo_targets = vec![Target::parse(&server.url())?];
        let creds = (0..args.users())
            .map(|i| {
                Some(UserCred {
                    index: i,
                    token: format!("{}{i}", echo::TOKEN_PREFIX),
                })
            })
            .collect();
        let stats = Arc::new(Stats::new()?);
        progress.line(&format!(
            "echo baseline: {} sessions against the in-process echo server {}",
            args.sessions,
            server.url()
        ));
        // The echo server lives in this process: its RSS/CPU are not the server's.
        let out = scenario(&args, "echo", &echo_targets, creds, stats, &progress, None).await?;
        drop(server);
        Some(out)
    } else {
        None
    };

    let server_out = if targets.is_empty() {
        None
    } else {
        let stats = Arc::new(Stats::new()?);
        let users = args.users();
        progress.line(&format!(
            "preparing {users} users on {} (register, or log in if the email is taken)",
            args.urls.join(", ")
        ));
        let prep_started = Instant::now();
        let creds = prep::prepare_users(
            &targets,
            users,
            args.prep_concurrency,
            &args.user_prefix,
            &args.password,
            &stats,
            |done| progress.set(format!("preparing users {done}/{users}")),
        )
        .await?;
        let ready = creds.iter().filter(|c| c.is_some()).count();
        progress.line(&format!(
            "prepared {ready}/{users} users in {:.1} s",
            prep_started.elapsed().as_secs_f64()
        ));
        let prepare_secs = prep_started.elapsed().as_secs_f64();
        let mut out = scenario(
            &args,
            "server",
            &targets,
            creds,
            stats,
            &progress,
            args.server_pid,
        )
        .await?;
        out.report.prepare_secs = prepare_secs;
        Some(out)
    };
    progress.finish();

    let (main, echo) = match (server_out, echo_out) {
        (Some(s), e) => (s, e),
        (None, Some(e)) => (e, None),
        (None, None) => anyhow::bail!("nothing to run"),
    };
    let report = Report::new(
        main.report.clone(),
        echo.as_ref().map(|e| e.report.clone()),
        command,
        started_at,
    );
    println!("{}", report.summary());
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing the report {}", path.display()))?;
        println!("report: {}", path.display());
    }
    if let Some(path) = &args.plot {
        plot::draw(path, &report, &main.hist, echo.as_ref().map(|e| &e.hist))?;
        println!("plot: {}", path.display());
    }
    Ok(report)
}

/// Whether user `u` chats: spreads `fraction` of the users evenly over the index range.
fn user_chats(u: usize, fraction: f64) -> bool {
    ((u + 1) as f64 * fraction).floor() > (u as f64 * fraction).floor()
}

/// One full run against one set of targets.
async fn scenario(
    args: &Args,
    kind: &str,
    targets: &[Target],
    creds: Vec<Option<UserCred>>,
    stats: Arc<Stats>,
    progress: &Progress,
    server_pid: Option<u32>,
) -> anyhow::Result<RunOutput> {
    let sessions = args.sessions;
    let ws_uris = targets
        .iter()
        .map(|t| {
            t.ws.as_str()
                .parse::<tokio_tungstenite::tungstenite::http::Uri>()
                .with_context(|| format!("bad socket URL {}", t.ws))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let users: Vec<Arc<UserShared>> = (0..creds.len()).map(|_| Arc::default()).collect();
    let (phase_tx, phase_rx) = watch::channel(Phase::Ramp);
    let drained = Arc::new(AtomicU64::new(0));
    let chat_text: Arc<str> = Arc::from(args.chat_text.as_str());

    let rss_before = server_pid.and_then(sys::rss_bytes);
    let server_cpu0 = server_pid.and_then(|p| sys::cpu_secs(Some(p)));
    let client_cpu0 = sys::cpu_secs(None);
    let load_before = sys::load_avg_1m();

    let monitor = spawn_monitor(
        kind.to_string(),
        sessions,
        args.duration,
        stats.clone(),
        phase_rx.clone(),
        progress.bar.clone(),
        progress.plain,
    );

    // The ramp: one new connection every 1/ramp_rate seconds.
    let ramp_started = Instant::now();
    let mut handles = Vec::with_capacity(sessions);
    for index in 0..sessions {
        let (user, tab) = (index / 2, index % 2);
        let Some(cred) = creds.get(user).and_then(|c| c.as_ref()) else {
            // The user could not be prepared (already counted): its sockets never open.
            Stats::add(&stats.connect_done, 1);
            continue;
        };
        tokio::time::sleep_until(
            ramp_started + Duration::from_secs_f64(index as f64 / args.ramp_rate),
        )
        .await;
        let spec = SessionSpec {
            user: cred.index,
            tab,
            index,
            ws_url: ws_uris[index % ws_uris.len()].clone(),
            token: cred.token.clone(),
            role: if user_chats(user, args.chat_fraction) {
                Role::Chat
            } else {
                Role::Todos
            },
            rate: args.rate,
            timeout: args.timeout(),
            chat_text: chat_text.clone(),
            shared: users[user].clone(),
            stats: stats.clone(),
            phase: phase_rx.clone(),
            drained: drained.clone(),
        };
        handles.push(tokio::spawn(session::run(spec)));
    }
    // Every connect attempt ends within --timeout of its start.
    let ramp_deadline = Instant::now() + args.timeout() + Duration::from_secs(2);
    while Stats::get(&stats.connect_done) < sessions as u64 && Instant::now() < ramp_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ramp_secs = ramp_started.elapsed().as_secs_f64();
    progress.line(&format!(
        "[{kind}] ramp done in {ramp_secs:.1} s: {}/{sessions} connected, {} errors",
        Stats::get(&stats.connected),
        Stats::get(&stats.errors)
    ));

    // Let the server settle (allocator, lazily-created per-socket state) before the idle
    // memory sample.
    let rss_connected = match server_pid {
        Some(pid) => {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            sys::rss_bytes(pid)
        }
        None => None,
    };

    let _ = phase_tx.send(Phase::Run);
    let run_started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    let duration_secs = run_started.elapsed().as_secs_f64();
    let rss_end = server_pid.and_then(sys::rss_bytes);

    let _ = phase_tx.send(Phase::Drain);
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain);
    loop {
        let all_drained = Stats::get(&drained) >= Stats::get(&stats.connected);
        let no_fanout = users.iter().all(|u| u.pending().is_empty());
        if (all_drained && no_fanout) || Instant::now() >= drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let _ = phase_tx.send(Phase::Stop);
    // Sessions close within 2 s (bounded in `session::close`); whatever is left is aborted.
    let close_deadline = Instant::now() + Duration::from_secs(5);
    for h in handles {
        let left = close_deadline.saturating_duration_since(Instant::now());
        let abort = h.abort_handle();
        if tokio::time::timeout(left, h).await.is_err() {
            abort.abort();
            stats.error("client:session_did_not_stop");
        }
    }
    monitor.abort();
    // Fan-outs still expected after the drain never arrived.
    for u in &users {
        for _ in u.pending().drain() {
            stats.error("timeout:fanout");
        }
    }

    let server_cpu = match (server_cpu0, server_pid.and_then(|p| sys::cpu_secs(Some(p)))) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let client_cpu = match (client_cpu0, sys::cpu_secs(None)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let connected = Stats::get(&stats.connected);
    let per_session = match (rss_before, rss_connected) {
        (Some(a), Some(b)) if connected > 0 => Some((b as f64 - a as f64) / connected as f64),
        _ => None,
    };
    let report = RunReport {
        sessions: sessions as u64,
        connected,
        errors: Stats::get(&stats.errors),
        duration_secs,
        messages_sent: Stats::get(&stats.sent),
        acks_received: Stats::get(&stats.acks),
        connect_ms: stats.percentiles(Metric::Connect),
        ack_ms: stats.percentiles(Metric::Ack),
        fanout_ms: stats.percentiles(Metric::Fanout),
        chat_first_token_ms: stats.percentiles(Metric::ChatFirstToken),
        server_rss_bytes: rss_end,
        target: kind.to_string(),
        urls: targets.iter().map(|t| t.base.to_string()).collect(),
        users: creds.len() as u64,
        rate_per_session: args.rate,
        chat_fraction: args.chat_fraction,
        errors_by_kind: stats.errors_by_kind(),
        messages_received: Stats::get(&stats.received),
        events_received: Stats::get(&stats.events),
        fanout_expected: Stats::get(&stats.fanout_expected),
        fanout_received: Stats::get(&stats.fanout_received),
        chat_done_ms: stats.percentiles(Metric::ChatDone),
        chat_busy_ticks: Stats::get(&stats.chat_busy_ticks),
        late_acks: Stats::get(&stats.late_acks),
        prepare_secs: 0.0,
        ramp_secs,
        server_rss_before_connect_bytes: rss_before,
        server_rss_connected_bytes: rss_connected,
        server_rss_per_session_bytes: per_session,
        server_peak_rss_bytes: server_pid.and_then(sys::peak_rss_bytes),
        server_cpu_secs: server_cpu,
        client_cpu_secs: client_cpu,
        client_rss_bytes: sys::own_rss_bytes(),
        load_avg_1m_before: load_before,
        load_avg_1m_after: sys::load_avg_1m(),
    };
    Ok(RunOutput {
        report,
        hist: stats.histograms(),
    })
}

/// Refresh the progress line four times a second; in plain mode print a line every 5 s.
fn spawn_monitor(
    kind: String,
    sessions: usize,
    duration: f64,
    stats: Arc<Stats>,
    mut phase: watch::Receiver<Phase>,
    bar: ProgressBar,
    plain: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(Duration::from_millis(250));
        let mut last = (Instant::now(), 0u64, 0u64);
        let mut phase_started = Instant::now();
        let mut current = *phase.borrow_and_update();
        let mut ticks = 0u64;
        // Ends when aborted by the scenario (or when the phase sender is gone).
        loop {
            iv.tick().await;
            if phase.has_changed().is_err() {
                return;
            }
            let now_phase = *phase.borrow_and_update();
            if now_phase != current {
                current = now_phase;
                phase_started = Instant::now();
            }
            let (sent, recv) = (Stats::get(&stats.sent), Stats::get(&stats.received));
            let dt = last.0.elapsed().as_secs_f64().max(0.001);
            let (sps, rps) = ((sent - last.1) as f64 / dt, (recv - last.2) as f64 / dt);
            last = (Instant::now(), sent, recv);
            let phase_txt = match current {
                Phase::Ramp => format!("ramp {}/{sessions}", Stats::get(&stats.connect_done)),
                Phase::Run => format!(
                    "run {:.0}/{duration:.0} s",
                    phase_started.elapsed().as_secs_f64()
                ),
                Phase::Drain => "drain".to_string(),
                Phase::Stop => "closing".to_string(),
            };
            let msg = format!(
                "[{kind}] {phase_txt} | open {}/{sessions} | sent {sps:.0}/s recv {rps:.0}/s | acks {} | ack p99 {:.2} ms | errors {}",
                Stats::get(&stats.open),
                Stats::get(&stats.acks),
                stats.percentiles(Metric::Ack).p99,
                Stats::get(&stats.errors),
            );
            ticks += 1;
            if plain && ticks.is_multiple_of(20) {
                eprintln!("{msg}");
            }
            bar.set_message(msg);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_fraction_picks_that_share_of_users() {
        let count = |f: f64| (0..100).filter(|&u| user_chats(u, f)).count();
        assert_eq!(count(0.0), 0);
        assert_eq!(count(0.1), 10);
        assert_eq!(count(0.5), 50);
        assert_eq!(count(1.0), 100);
    }
}
