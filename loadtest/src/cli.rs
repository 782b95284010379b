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
}

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
        Ok(())
    }

    pub fn users(&self) -> usize {
        self.sessions.div_ceil(2)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}
