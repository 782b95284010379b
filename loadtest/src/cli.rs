//! Command-line settings, parsed once by clap and then read-only for the whole run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Drive many authenticated WebSocket sessions against the todo server and report latency.
///
/// Sessions come in pairs: two sockets ("tabs") per user, so that every todo change sent on one
/// tab can be timed until it arrives on the other (fan-out). Only the URLs given are contacted,
/// and by default only loopback addresses are accepted.
#[derive(Debug, Clone, Parser)]
#[command(name = "loadtest", version, about, long_about = None)]
pub struct Args {
    /// Server base URL(s), e.g. http://127.0.0.1:8080. Repeat the flag or give a comma list;
    /// sessions are spread round-robin, so the two tabs of a user land on different instances
    /// when there are two or more.
    #[arg(long = "url", value_delimiter = ',')]
    pub urls: Vec<String>,

    /// Number of sockets (sessions) to open; users = ceil(sessions / 2).
    #[arg(long, default_value_t = 100)]
    pub sessions: usize,

    /// Seconds of steady load after the connect ramp.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,

    /// Commands per second per session (0 = idle sockets that only hold the connection).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,

    /// Fraction of users (both of their tabs) that chat with the assistant instead of sending
    /// todo commands.
    #[arg(long, default_value_t = 0.0)]
    pub chat_fraction: f64,

    /// Turns per second of each chatting session (one turn at a time); default `--rate`. Keep
    /// 2 × 60 × this under the server's `CHAT_RATE_PER_MIN` (30): a user has two tabs.
    #[arg(long)]
    pub chat_rate: Option<f64>,

    /// What chatting sessions say to the assistant.
    #[arg(long, default_value = "add a task to buy milk")]
    pub chat_text: String,

    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,

    /// Draw the latency distribution as an SVG here.
    #[arg(long)]
    pub plot: Option<PathBuf>,

    /// Also run the same clients against an in-process echo server first, to measure the floor
    /// (client + loopback + JSON cost) in the same run. Alone (no --url) it runs only that.
    #[arg(long)]
    pub echo_baseline: bool,

    /// PID of the server process (same machine): its RSS and CPU time go into the report.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// New connections per second during the ramp.
    #[arg(long, default_value_t = 500.0)]
    pub ramp_rate: f64,

    /// Upper bound, in seconds, on waiting for outstanding acks, fan-outs and chats after the
    /// duration before sockets are closed.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,

    /// A connect (upgrade → welcome), an ack, a fan-out or a chat turn slower than this many
    /// seconds counts as a timeout error.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,

    /// Concurrent register/login requests while preparing users.
    #[arg(long, default_value_t = 16)]
    pub prep_concurrency: usize,

    /// Users are `<prefix>-<n>@example.com`; reruns with the same prefix log the users in again.
    #[arg(long, default_value = "loadtest")]
    pub user_prefix: String,

    /// Password of every load-test user.
    #[arg(long, default_value = "loadtest-password")]
    pub password: String,

    /// Accept URLs whose host is not a loopback address. Off by default so that a typo cannot
    /// turn the tool against somebody else's machine.
    #[arg(long)]
    pub allow_non_loopback: bool,

    /// No live progress line (periodic plain lines are still printed when stderr is not a TTY).
    #[arg(long)]
    pub quiet: bool,

    /// Find the knee: step the offered rate (todo commands per second over all sessions) up
    /// the R10 series (500, 630, 800, 1000, 1250, 1600, 2000, …: ×1.26 a step) from
    /// `--start-rate` to `--max-rate`, `--step-secs` each, on the same open sockets, and stop
    /// after the first step whose ack p99 passes `--p99-bound-ms` or that has any error.
    /// `--duration` and `--rate` are not used for todo sessions then.
    #[arg(long, conflicts_with = "steps")]
    pub find_max: bool,

    /// An explicit schedule of offered rates in commands/s over all sessions, e.g.
    /// `2000,6000,12000,2000` (overshoot the knee and come back); every step runs, pass or
    /// fail, on the same open sockets.
    #[arg(long, value_delimiter = ',')]
    pub steps: Vec<f64>,

    /// Seconds per step of `--find-max` / `--steps`.
    #[arg(long, default_value_t = 10.0)]
    pub step_secs: f64,

    /// First offered rate of `--find-max`, commands/s over all sessions (rounded down to the
    /// R10 series).
    #[arg(long, default_value_t = 500.0)]
    pub start_rate: f64,

    /// Last offered rate `--find-max` tries, commands/s over all sessions.
    #[arg(long, default_value_t = 20_000.0)]
    pub max_rate: f64,

    /// A step passes when at most 1 % of its commands took longer than this (ack p99 ≤ bound,
    /// counting unanswered commands as slower) and it had no error.
    #[arg(long, default_value_t = 50.0)]
    pub p99_bound_ms: f64,

    /// Spread the sockets over the loopback source addresses 127.0.0.1 … 127.0.0.N (one
    /// address has only ~28k ephemeral ports). Default: enough addresses to keep each under
    /// 25,000 sockets. Needs an IPv4 loopback `--url` when above 1.
    #[arg(long)]
    pub source_addrs: Option<u8>,

    /// Record every acknowledged todo change (user, todo id, title, the seq of its event),
    /// every change whose answer never came ("unknown") or was an error, and the highest seq
    /// each socket saw, as JSON lines in this file (for `--verify-from` later).
    #[arg(long)]
    pub record: Option<PathBuf>,

    /// After the run, check through the public API that every acknowledged todo exists
    /// exactly once (and every acknowledged delete is gone), and that each user's
    /// `hello {last_seq: 0}` replays a gap-free log. Exit status 3 on any finding.
    #[arg(long)]
    pub verify: bool,

    /// Verify a file written by `--record` against `--url` (e.g. after the server was killed
    /// and restarted) without running any load. Exit status 3 on any finding.
    #[arg(long, conflicts_with_all = ["verify", "record", "echo_baseline", "find_max", "steps"])]
    pub verify_from: Option<PathBuf>,

    /// Sample server RSS, open fds, ack p50/p99 of the interval, errors, connections and
    /// logins every this many seconds into the report's time series (and the plot).
    #[arg(long)]
    pub sample_every: Option<f64>,

    /// REST logins (each followed by a logout) per second during the load, by separately
    /// prepared users (`<prefix>-login-<n>@example.com`); counted and timed (`login_ms`).
    #[arg(long, default_value_t = 0.0)]
    pub logins_per_sec: f64,
}

/// Sockets per loopback source address that `--source-addrs` aims to stay under.
pub const SOCKETS_PER_SOURCE_ADDR: usize = 25_000;

impl Args {
    /// Check the numbers once so the rest of the code can rely on them.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.urls.is_empty() && !self.echo_baseline {
            anyhow::bail!("give at least one --url, or --echo-baseline");
        }
        if self.sessions == 0 || self.sessions > 100_000 {
            anyhow::bail!("--sessions must be in 1..=100000");
        }
        for (name, v, max) in [
            ("--duration", self.duration, 86_400.0),
            ("--rate", self.rate, 1_000.0),
            ("--drain", self.drain, 600.0),
            ("--chat-rate", self.chat_rate.unwrap_or(0.0), 1_000.0),
        ] {
            if !v.is_finite() || !(0.0..=max).contains(&v) {
                anyhow::bail!("{name} must be a number in 0..={max}");
            }
        }
        if !self.chat_fraction.is_finite() || !(0.0..=1.0).contains(&self.chat_fraction) {
            anyhow::bail!("--chat-fraction must be in 0..=1");
        }
        if !self.ramp_rate.is_finite() || self.ramp_rate <= 0.0 {
            anyhow::bail!("--ramp-rate must be above 0");
        }
        if !self.timeout.is_finite() || self.timeout <= 0.0 || self.timeout > 600.0 {
            anyhow::bail!("--timeout must be in (0, 600]");
        }
        if self.prep_concurrency == 0 || self.prep_concurrency > 1024 {
            anyhow::bail!("--prep-concurrency must be in 1..=1024");
        }
        for (name, v, max) in [
            ("--step-secs", self.step_secs, 3_600.0),
            ("--start-rate", self.start_rate, 1e7),
            ("--max-rate", self.max_rate, 1e7),
            ("--p99-bound-ms", self.p99_bound_ms, 600_000.0),
        ] {
            if !v.is_finite() || v <= 0.0 || v > max {
                anyhow::bail!("{name} must be a number in (0, {max}]");
            }
        }
        if self.find_max && self.max_rate < self.start_rate {
            anyhow::bail!("--max-rate must be at least --start-rate");
        }
        if self.steps.len() > 1_000 || self.steps.iter().any(|r| !r.is_finite() || *r <= 0.0) {
            anyhow::bail!("--steps must be at most 1000 rates, each above 0");
        }
        if self.source_addrs == Some(0) || self.source_addrs.is_some_and(|n| n > 254) {
            anyhow::bail!("--source-addrs must be in 1..=254");
        }
        if let Some(s) = self.sample_every
            && (!s.is_finite() || !(0.1..=3_600.0).contains(&s))
        {
            anyhow::bail!("--sample-every must be in 0.1..=3600 seconds");
        }
        if !self.logins_per_sec.is_finite() || !(0.0..=1_000.0).contains(&self.logins_per_sec) {
            anyhow::bail!("--logins-per-sec must be in 0..=1000");
        }
        if self.verify_from.is_some() && self.urls.is_empty() {
            anyhow::bail!("--verify-from needs the --url of the server to check");
        }
        if self.verify && self.urls.is_empty() {
            anyhow::bail!("--verify needs a --url (the echo server keeps nothing)");
        }
        Ok(())
    }

    /// Whether todo sessions follow a schedule of steps instead of `--rate` for `--duration`.
    pub fn stepped(&self) -> bool {
        self.find_max || !self.steps.is_empty()
    }

    /// How many loopback source addresses the sockets are spread over.
    pub fn source_addr_count(&self) -> usize {
        match self.source_addrs {
            Some(n) => usize::from(n),
            None => self.sessions.div_ceil(SOCKETS_PER_SOURCE_ADDR).max(1),
        }
    }

    pub fn users(&self) -> usize {
        self.sessions.div_ceil(2)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}
