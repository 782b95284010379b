//! The load tester: many authenticated WebSocket sessions against the todo server, two per
//! user so that fan-out is measured, with HDR percentiles, a JSON report (the contract's "load
//! tester's report"), a summary table and an SVG plot.
//!
//! A run goes: check the URLs (loopback only unless told) → prepare users over REST → open the
//! sockets at `--ramp-rate` → steady load for `--duration`, or the steps of `--steps` /
//! `--find-max` on the same sockets → drain for at most `--drain` → close → with `--verify`,
//! check the recorded changes through the API. With `--echo-baseline` the same run first goes
//! against an in-process echo server, so the report can state the server's latency as a
//! multiple of the floor measured minutes ago on the same machine with the same client.
//!
//! Every loop here is bounded: by the session count, by the phase deadlines, or by a timeout.

pub mod cli;
pub mod echo;
pub mod logins;
pub mod plot;
pub mod prep;
pub mod record;
pub mod report;
pub mod schedule;
pub mod session;
pub mod stats;
pub mod sys;
pub mod timeline;
pub mod verify;

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tokio::time::Instant;

pub use cli::Args;
use prep::{Target, UserCred};
use report::{Report, RunReport, StepReport, StepRun};
use schedule::Schedule;
use session::{Phase, Role, RunShared, SessionSpec, UserShared};
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

/// Exit statuses (see main.rs).
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERRORS: u8 = 2;
pub const EXIT_FINDINGS: u8 = 3;

/// Run everything the arguments ask for, write the report and the plot, print the summary;
/// the exit status.
pub async fn run(args: Args) -> anyhow::Result<u8> {
    args.validate()?;
    let started_at = chrono::Utc::now().to_rfc3339();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
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
    if let Some(path) = &args.verify_from {
        return verify_only(&args, &targets, path).await;
    }
    // One descriptor per socket, both ends of it for the echo baseline, plus the REST clients.
    let wanted = (args.sessions * if args.echo_baseline { 2 } else { 1 } + 512) as u64;
    let nofile = match sys::raise_nofile_limit(wanted) {
        Ok((soft, _)) => {
            if soft < wanted {
                eprintln!(
                    "warning: file-descriptor limit {soft} is below the {wanted} this run needs; connects will fail (raising the hard limit needs CAP_SYS_RESOURCE)"
                );
            }
            Some(soft)
        }
        Err(e) => {
            eprintln!("warning: could not raise the file-descriptor limit: {e}");
            None
        }
    };
    let progress = Progress::new(args.quiet);
    let tag = run_tag();

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
        progress.line(&format!(
            "echo baseline: {} sessions against the in-process echo server {}",
            args.sessions,
            server.url()
        ));
        // The echo server lives in this process: its RSS/CPU are not the server's.
        let out = Scenario {
            args: &args,
            kind: "echo",
            targets: &echo_targets,
            creds,
            server_pid: None,
            recorder: None,
            login_emails: Vec::new(),
            prep_errors: Default::default(),
            tag: tag.clone(),
            progress: &progress,
        }
        .run()
        .await?;
        drop(server);
        Some(out)
    } else {
        None
    };

    let mut record_out = None;
    let server_out = if targets.is_empty() {
        None
    } else {
        let stats = Arc::new(Stats::new(1)?);
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
        let mut login_emails = Vec::new();
        if args.logins_per_sec > 0.0 {
            let n = logins::users_for(args.logins_per_sec);
            let prefix = format!("{}-login", args.user_prefix);
            let login_creds = prep::prepare_users(
                &targets,
                n,
                args.prep_concurrency,
                &prefix,
                &args.password,
                &stats,
                |done| progress.set(format!("preparing login users {done}/{n}")),
            )
            .await?;
            login_emails = login_creds
                .iter()
                .flatten()
                .map(|c| prep::email(&prefix, c.index))
                .collect();
        }
        let prepare_secs = prep_started.elapsed().as_secs_f64();
        progress.line(&format!(
            "prepared {ready}/{users} users in {prepare_secs:.1} s"
        ));
        let recorder = match record_path(&args) {
            Some(path) => {
                let r = Arc::new(record::Recorder::create(&path)?);
                r.write(&record::Record::Run {
                    tag: tag.clone(),
                    prefix: args.user_prefix.clone(),
                    users: users as u64,
                    urls: args.urls.clone(),
                    started_at: started_at.clone(),
                });
                for c in creds.iter().flatten() {
                    r.write(&record::Record::User {
                        user: c.index,
                        email: prep::email(&args.user_prefix, c.index),
                    });
                }
                Some((path, r))
            }
            None => None,
        };
        let mut out = Scenario {
            args: &args,
            kind: "server",
            targets: &targets,
            creds,
            server_pid: args.server_pid,
            recorder: recorder.as_ref().map(|(_, r)| r.clone()),
            login_emails,
            prep_errors: stats.errors_by_kind(),
            tag: tag.clone(),
            progress: &progress,
        }
        .run()
        .await?;
        out.report.prepare_secs = prepare_secs;
        if let Some((path, r)) = recorder {
            let lines = r.finish()?;
            out.report.record_file = Some(path.display().to_string());
            out.report.record_lines = Some(lines);
            record_out = Some(path);
        }
        Some(out)
    };
    progress.finish();

    let (main, echo) = match (server_out, echo_out) {
        (Some(s), e) => (s, e),
        (None, Some(e)) => (e, None),
        (None, None) => anyhow::bail!("nothing to run"),
    };
    let mut report = Report::new(
        main.report.clone(),
        echo.as_ref().map(|e| e.report.clone()),
        command,
        started_at,
    );
    report.run.nofile_limit = nofile;
    if args.verify
        && let (Some(path), Some(target)) = (&record_out, targets.first())
    {
        report.verification = Some(verify_record(&args, target, path).await?);
    }
    println!("{}", report.summary());
    if let Some(path) = &args.report {
        write_json(path, &report)?;
    }
    if let Some(path) = &args.plot {
        plot::draw(path, &report, &main.hist, echo.as_ref().map(|e| &e.hist))?;
        println!("plot: {}", path.display());
    }
    let echo_errors = report.echo_baseline.as_ref().map_or(0, |e| e.errors);
    // `--find-max` runs until something goes wrong: errors in the step that ended the search
    // are its result, not a failure of the run. It fails only when no step passed.
    let errors = match &report.run.stepped {
        Some(st) if args.find_max => st.knee_cmds_per_sec.is_none(),
        _ => report.run.errors > 0 || echo_errors > 0,
    };
    Ok(
        if report.verification.as_ref().is_some_and(|v| v.findings > 0) {
            EXIT_FINDINGS
        } else if errors {
            EXIT_ERRORS
        } else {
            EXIT_OK
        },
    )
}

/// Check the record at `path` against `target` with the users' password.
async fn verify_record(
    args: &Args,
    target: &Target,
    path: &std::path::Path,
) -> anyhow::Result<verify::VerifyReport> {
    eprintln!("verifying {} against {}", path.display(), target.base);
    verify::verify(
        path,
        target,
        &args.password,
        args.prep_concurrency,
        args.timeout(),
    )
    .await
}

/// `--verify-from`: no load, only the check.
async fn verify_only(
    args: &Args,
    targets: &[Target],
    path: &std::path::Path,
) -> anyhow::Result<u8> {
    let target = targets.first().context("--verify-from needs a --url")?;
    let v = verify_record(args, target, path).await?;
    println!("{}", v.summary());
    if let Some(out) = &args.report {
        write_json(out, &v)?;
    }
    Ok(if v.findings > 0 {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// Write a report as pretty JSON and say where.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(value)?;
    std::fs::write(path, json + "\n")
        .with_context(|| format!("writing the report {}", path.display()))?;
    println!("report: {}", path.display());
    Ok(())
}

/// Where the record goes: `--record`, or for `--verify` alone a file in the temp directory.
fn record_path(args: &Args) -> Option<PathBuf> {
    match (&args.record, args.verify) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(std::env::temp_dir().join(format!(
            "loadtest-record-{}-{}.jsonl",
            std::process::id(),
            run_tag()
        ))),
        (None, false) => None,
    }
}

/// A short tag naming this run (base-36 milliseconds since 1970), appended to its todo titles.
fn run_tag() -> String {
    let mut n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut out = Vec::new();
    while n > 0 {
        out.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Whether user `u` chats: spreads `fraction` of the users evenly over the index range.
fn user_chats(u: usize, fraction: f64) -> bool {
    ((u + 1) as f64 * fraction).floor() > (u as f64 * fraction).floor()
}

/// CPU seconds of the server and of this process at one moment, to difference per step.
#[derive(Clone, Copy)]
struct Mark {
    at: Instant,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
}

impl Mark {
    fn take(server_pid: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            server_cpu: server_pid.and_then(|p| sys::cpu_secs(Some(p))),
            client_cpu: sys::cpu_secs(None),
        }
    }
}

/// When a step ran and what the processes spent in it.
struct StepTiming {
    start_secs: f64,
    secs: f64,
    server_cpu_secs: Option<f64>,
    client_cpu_secs: Option<f64>,
    server_rss_bytes: Option<u64>,
    server_fds: Option<u64>,
    /// Cut short: `--find-max` stopped during its settle.
    partial: bool,
}

impl StepTiming {
    fn between(
        run_started: Instant,
        a: &Mark,
        b: &Mark,
        server_pid: Option<u32>,
        partial: bool,
    ) -> Self {
        let diff = |x: Option<f64>, y: Option<f64>| x.zip(y).map(|(x, y)| y - x);
        Self {
            start_secs: a.at.duration_since(run_started).as_secs_f64(),
            secs: b.at.duration_since(a.at).as_secs_f64(),
            server_cpu_secs: diff(a.server_cpu, b.server_cpu),
            client_cpu_secs: diff(a.client_cpu, b.client_cpu),
            server_rss_bytes: server_pid.and_then(sys::rss_bytes),
            server_fds: server_pid.and_then(sys::open_fds),
            partial,
        }
    }
}

/// One full run against one set of targets.
struct Scenario<'a> {
    args: &'a Args,
    kind: &'a str,
    targets: &'a [Target],
    creds: Vec<Option<UserCred>>,
    server_pid: Option<u32>,
    recorder: Option<Arc<record::Recorder>>,
    /// Users for `--logins-per-sec` (server runs only).
    login_emails: Vec<String>,
    /// Users that could not be prepared, by kind: they count as errors of the run.
    prep_errors: std::collections::BTreeMap<String, u64>,
    tag: String,
    progress: &'a Progress,
}

impl Scenario<'_> {
    /// Where each session connects: round-robin over the targets and over the source addresses.
    async fn endpoints(&self) -> anyhow::Result<(Vec<session::Endpoint>, usize)> {
        let n_src = self.args.source_addr_count();
        let mut bases = Vec::new();
        for t in self.targets {
            let addr = t.socket_addr().await?;
            if n_src > 1 && !(addr.is_ipv4() && addr.ip().is_loopback()) {
                anyhow::bail!(
                    "--source-addrs {n_src} needs an IPv4 loopback --url; {} is {addr}",
                    t.base
                );
            }
            bases.push((t.ws_uri()?, addr));
        }
        let sources: Vec<Option<IpAddr>> = if n_src > 1 {
            (1..=n_src)
                .map(|k| Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, k as u8))))
                .collect()
        } else {
            vec![None]
        };
        let endpoints = (0..self.args.sessions)
            .map(|i| {
                let (ws_url, addr) = bases[i % bases.len()].clone();
                session::Endpoint {
                    ws_url,
                    addr,
                    source: sources[i % sources.len()],
                }
            })
            .collect();
        Ok((endpoints, n_src))
    }

    async fn run(self) -> anyhow::Result<RunOutput> {
        let args = self.args;
        let (kind, progress, server_pid) = (self.kind, self.progress, self.server_pid);
        let sessions = args.sessions;
        let todo_sessions = (0..sessions)
            .filter(|i| !user_chats(i / 2, args.chat_fraction))
            .count();
        let schedule = Schedule::from_args(args, todo_sessions)?;
        if let Some(top) = schedule.steps.iter().map(|s| s.rate).reduce(f64::max)
            && schedule.mode != schedule::Mode::Plain
            && top * 2.0 > 50.0
        {
            progress.line(&format!(
                "note: the top step sends {:.0} msgs/s per user (two tabs); the server's default WS_RATE_PER_SEC is 50",
                top * 2.0
            ));
        }
        let stats = Arc::new(Stats::new(schedule.steps.len())?);
        for (kind, n) in &self.prep_errors {
            for _ in 0..*n {
                stats.error(kind.clone());
            }
        }
        let (endpoints, n_src) = self.endpoints().await?;
        let users: Vec<Arc<UserShared>> = (0..self.creds.len()).map(|_| Arc::default()).collect();
        let (phase_tx, phase_rx) = watch::channel(Phase::Ramp);
        let shared = Arc::new(RunShared {
            timeout: args.timeout(),
            chat_text: Arc::from(args.chat_text.as_str()),
            chat_rate: args.chat_rate.unwrap_or(args.rate),
            todo_rates: schedule.rates(),
            tag: self.tag.clone(),
            stats: stats.clone(),
            recorder: self.recorder.clone(),
            drained: AtomicU64::new(0),
        });

        let rss_before = server_pid.and_then(sys::rss_bytes);
        let client_rss_before = sys::own_rss_bytes();
        let server_cpu0 = server_pid.and_then(|p| sys::cpu_secs(Some(p)));
        let client_cpu0 = sys::cpu_secs(None);
        let load_before = sys::load_avg_1m();

        let monitor = spawn_monitor(
            kind.to_string(),
            sessions,
            schedule.steps.iter().map(|s| (s.offered, s.secs)).collect(),
            stats.clone(),
            phase_rx.clone(),
            progress.bar.clone(),
            progress.plain,
        );

        // The ramp: one new connection every 1/ramp_rate seconds.
        let ramp_started = Instant::now();
        let mut handles = Vec::with_capacity(sessions);
        let tokens: Vec<Option<Arc<str>>> = self
            .creds
            .iter()
            .map(|c| c.as_ref().map(|c| Arc::from(c.token.as_str())))
            .collect();
        for (index, endpoint) in endpoints.into_iter().enumerate() {
            let (user, tab) = (index / 2, index % 2);
            let Some(token) = tokens.get(user).and_then(|t| t.clone()) else {
                // The user could not be prepared (already counted): its sockets never open.
                Stats::add(&stats.connect_done, 1);
                continue;
            };
            tokio::time::sleep_until(
                ramp_started + Duration::from_secs_f64(index as f64 / args.ramp_rate),
            )
            .await;
            let spec = SessionSpec {
                user,
                tab,
                index,
                endpoint,
                token,
                role: if user_chats(user, args.chat_fraction) {
                    Role::Chat
                } else {
                    Role::Todos
                },
                shared: users[user].clone(),
                run: shared.clone(),
                phase: phase_rx.clone(),
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
            "[{kind}] ramp done in {ramp_secs:.1} s: {}/{sessions} connected over {n_src} source address(es), {} errors",
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
        let client_rss_connected = sys::own_rss_bytes();

        let run_started = Instant::now();
        let sampler = args.sample_every.map(|every| {
            timeline::spawn(
                Duration::from_secs_f64(every),
                run_started,
                stats.clone(),
                server_pid,
                phase_rx.clone(),
            )
        });
        let login_driver =
            (args.logins_per_sec > 0.0 && !self.login_emails.is_empty()).then(|| {
                logins::spawn(
                    args.logins_per_sec,
                    self.targets.to_vec(),
                    self.login_emails.clone(),
                    args.password.clone(),
                    stats.clone(),
                    phase_rx.clone(),
                    args.timeout(),
                )
            });
        let timings = self.steps(&schedule, &stats, &phase_tx, run_started).await;
        let duration_secs = run_started.elapsed().as_secs_f64();
        let rss_end = server_pid.and_then(sys::rss_bytes);

        let _ = phase_tx.send(Phase::Drain);
        let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain);
        loop {
            let all_drained = Stats::get(&shared.drained) >= Stats::get(&stats.connected);
            let no_fanout = users.iter().all(|u| u.pending().is_empty());
            if (all_drained && no_fanout) || Instant::now() >= drain_deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(driver) = login_driver {
            // It stopped at the drain; its logins in flight end within --timeout.
            let _ = tokio::time::timeout(args.timeout() + Duration::from_secs(1), driver).await;
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
        let samples = match sampler {
            Some((task, samples)) => {
                task.abort();
                samples.lock().unwrap_or_else(|e| e.into_inner()).clone()
            }
            None => Vec::new(),
        };
        // Fan-outs still expected after the drain never arrived.
        for u in &users {
            for (_, (_, step)) in u.pending().drain() {
                stats.command_error(step, "timeout:fanout");
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
        let per_session = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if connected > 0 => Some((b as f64 - a as f64) / connected as f64),
            _ => None,
        };
        let stepped = (schedule.mode != schedule::Mode::Plain)
            .then(|| step_run(args, &schedule, &timings, &stats));
        let drift = timeline::Drift::of(&samples);
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
            urls: self.targets.iter().map(|t| t.base.to_string()).collect(),
            users: self.creds.len() as u64,
            rate_per_session: args.rate,
            chat_rate_per_session: args.chat_rate.unwrap_or(args.rate),
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
            server_rss_per_session_bytes: per_session(rss_before, rss_connected),
            server_peak_rss_bytes: server_pid.and_then(sys::peak_rss_bytes),
            server_cpu_secs: server_cpu,
            client_cpu_secs: client_cpu,
            client_rss_bytes: sys::own_rss_bytes(),
            client_rss_before_connect_bytes: client_rss_before,
            client_rss_connected_bytes: client_rss_connected,
            client_rss_per_session_bytes: per_session(client_rss_before, client_rss_connected),
            source_addrs: n_src as u64,
            nofile_limit: None,
            load_avg_1m_before: load_before,
            load_avg_1m_after: sys::load_avg_1m(),
            stepped,
            logins_per_sec: args.logins_per_sec,
            logins: Stats::get(&stats.logins),
            login_ms: stats.percentiles(Metric::Login),
            sample_every_secs: args.sample_every,
            samples,
            drift,
            record_file: None,
            record_lines: None,
        };
        Ok(RunOutput {
            report,
            hist: stats.histograms(),
        })
    }

    /// Run the schedule's steps on the open sockets. `--find-max` judges each step once its
    /// last commands had the bound to be answered (the next step already running meanwhile, so
    /// the load never pauses) and stops after the first failure.
    async fn steps(
        &self,
        schedule: &Schedule,
        stats: &Stats,
        phase_tx: &watch::Sender<Phase>,
        run_started: Instant,
    ) -> Vec<StepTiming> {
        let bound = Duration::from_secs_f64(self.args.p99_bound_ms / 1000.0);
        let settle = (bound * 2).max(Duration::from_millis(200));
        let n = schedule.steps.len();
        let mut timings = Vec::with_capacity(n);
        let mut start = Mark::take(self.server_pid);
        stats.set_step(0);
        let _ = phase_tx.send(Phase::Run(0));
        for (k, step) in schedule.steps.iter().enumerate() {
            tokio::time::sleep_until(start.at + Duration::from_secs_f64(step.secs)).await;
            let end = Mark::take(self.server_pid);
            timings.push(StepTiming::between(
                run_started,
                &start,
                &end,
                self.server_pid,
                false,
            ));
            let last = k + 1 == n;
            if !last {
                stats.set_step(k + 1);
                let _ = phase_tx.send(Phase::Run(k + 1));
                start = end;
            }
            if schedule.mode == schedule::Mode::Plain {
                continue;
            }
            if !last && schedule.mode == schedule::Mode::FindMax {
                tokio::time::sleep(settle).await;
            }
            let v = stats.step_view(k, bound);
            let passed = step_outcome(&v).passes();
            self.progress.line(&format!(
                "[{}] step {}/{n}: offered {:.0} cmd/s, sent {}, acked {} ({:.0}/s), ack p99 {:.2} ms so far, errors {} → {}",
                self.kind,
                k + 1,
                step.offered,
                v.sent,
                v.acks,
                v.acks as f64 / step.secs.max(1e-3),
                v.ack.p99,
                v.errors,
                if passed { "pass" } else { "fail" }
            ));
            if !passed && schedule.mode == schedule::Mode::FindMax {
                if !last {
                    let now = Mark::take(self.server_pid);
                    timings.push(StepTiming::between(
                        run_started,
                        &start,
                        &now,
                        self.server_pid,
                        true,
                    ));
                }
                break;
            }
        }
        timings
    }
}

fn step_outcome(v: &stats::StepView) -> schedule::Outcome {
    schedule::Outcome {
        sent: v.sent,
        acked_within_bound: v.acked_within_bound,
        errors: v.errors,
    }
}

/// The step table, judged with everything that arrived by the end of the drain.
fn step_run(args: &Args, schedule: &Schedule, timings: &[StepTiming], stats: &Stats) -> StepRun {
    let bound = Duration::from_secs_f64(args.p99_bound_ms / 1000.0);
    let steps: Vec<StepReport> = timings
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let plan = schedule.steps[k];
            let v = stats.step_view(k, bound);
            let kind = |names: &[&str]| -> u64 {
                names.iter().filter_map(|n| v.errors_by_kind.get(*n)).sum()
            };
            let secs = t.secs.max(1e-3);
            StepReport {
                step: k + 1,
                offered_cmds_per_sec: plan.offered,
                rate_per_session: plan.rate,
                start_secs: t.start_secs,
                secs: t.secs,
                partial: t.partial,
                sent: v.sent,
                sent_per_sec: v.sent as f64 / secs,
                acks: v.acks,
                acks_per_sec: v.acks as f64 / secs,
                ack_ms: v.ack,
                acked_within_bound: v.acked_within_bound,
                errors: v.errors,
                timeouts: kind(&["timeout:ack", "lost:ack"]),
                late_acks: v.late_acks,
                shed: kind(&["error_frame:unavailable"]),
                passed: !t.partial && step_outcome(&v).passes(),
                errors_by_kind: v.errors_by_kind,
                server_cpu_secs: t.server_cpu_secs,
                server_cpu_us_per_ack: t
                    .server_cpu_secs
                    .filter(|_| v.acks > 0)
                    .map(|c| c / v.acks as f64 * 1e6),
                server_rss_bytes: t.server_rss_bytes,
                server_fds: t.server_fds,
                client_cpu_secs: t.client_cpu_secs,
            }
        })
        .collect();
    let judged: Vec<(bool, f64)> = steps
        .iter()
        .filter(|s| !s.partial)
        .map(|s| (s.passed, s.acks_per_sec))
        .collect();
    StepRun {
        mode: match schedule.mode {
            schedule::Mode::FindMax => "find_max",
            _ => "steps",
        }
        .to_string(),
        p99_bound_ms: args.p99_bound_ms,
        step_secs: args.step_secs,
        knee_cmds_per_sec: schedule::knee(&judged),
        steps,
    }
}

/// Refresh the progress line four times a second; in plain mode print a line every 5 s.
fn spawn_monitor(
    kind: String,
    sessions: usize,
    steps: Vec<(f64, f64)>,
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
                Phase::Run(k) => {
                    let (offered, secs) = steps.get(k).copied().unwrap_or_default();
                    let elapsed = phase_started.elapsed().as_secs_f64();
                    if steps.len() > 1 {
                        format!(
                            "step {}/{} at {offered:.0} cmd/s {elapsed:.0}/{secs:.0} s",
                            k + 1,
                            steps.len()
                        )
                    } else {
                        format!("run {elapsed:.0}/{secs:.0} s")
                    }
                }
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
    fn run_tags_are_short_and_distinct_in_time() {
        let a = run_tag();
        assert!(a.len() >= 6 && a.len() <= 10, "{a}");
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        std::thread::sleep(Duration::from_millis(2));
        assert_ne!(a, run_tag());
    }

    #[test]
    fn chat_fraction_picks_that_share_of_users() {
        let count = |f: f64| (0..100).filter(|&u| user_chats(u, f)).count();
        assert_eq!(count(0.0), 0);
        assert_eq!(count(0.1), 10);
        assert_eq!(count(0.5), 50);
        assert_eq!(count(1.0), 100);
    }
}
