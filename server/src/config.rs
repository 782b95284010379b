//! Every setting, read once at start from the command line or the environment (`clap` with
//! `env`): `server --help` lists each with its variable and its default.
//!
//! One rule for bad values: a value that is not a number, is zero where zero means nothing, or
//! is out of range stops the server with one line naming the variable ([`ConfigError`]) — never
//! silently clamped. Where zero is meaningful it says so (`AUTH_RATE_PER_MIN=0` turns the limit
//! off). Secrets (`JWT_SECRET`, `OPENAI_API_KEY`, `METRICS_TOKEN`, the database URL) are
//! [`SecretString`]s: they never print, in `Debug` or in `--help`.
//!
//! Tests build a `Config` with [`Config::for_tests`] (defaults, never the process environment)
//! and change the public fields they care about.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

/// A setting that could not be used, with the variable's name first.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {why}")]
pub struct ConfigError {
    pub var: String,
    pub why: String,
}

fn bad(var: &str, why: impl Into<String>) -> ConfigError {
    ConfigError {
        var: var.to_owned(),
        why: why.into(),
    }
}

/// What `load` found on the command line besides settings.
pub enum Loaded {
    Run(Box<Config>),
    /// `--help` or `--version`: print this and exit 0.
    Print(String),
}

/// Which assistant answers `chat.send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentKind {
    /// OpenAI-compatible when a key is set, else offline.
    Auto,
    #[value(name = "openai")]
    OpenAi,
    Offline,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Argon2id cost. The defaults are OWASP's (19 MiB, t=2, p=1); a load test may lower them to seed
/// thousands of users quickly. Each hash records its own parameters, so changing them never
/// locks anybody out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Cost {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// `N` seconds, `N` ≥ 1.
fn seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be 1 or more seconds".into()),
        Ok(n) => Ok(Duration::from_secs(n)),
        Err(_) => Err(format!("'{s}' is not a whole number of seconds")),
    }
}

/// A number in `lo..=hi`.
fn in_range<T>(s: &str, lo: T, hi: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match s.trim().parse::<T>() {
        Ok(n) if n < lo || n > hi => Err(format!("must be between {lo} and {hi}")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

fn at_least_one(s: &str) -> Result<u32, String> {
    in_range(s, 1, u32::MAX)
}

fn any_u32(s: &str) -> Result<u32, String> {
    in_range(s, 0, u32::MAX)
}

fn bytes_1k_up(s: &str) -> Result<usize, String> {
    in_range(s, 1024, 1 << 30)
}

fn secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s.to_owned()))
}

fn jwt_secret(s: &str) -> Result<SecretString, String> {
    if s.len() < 32 {
        return Err("must be at least 32 bytes".into());
    }
    secret(s)
}

fn database_url(s: &str) -> Result<SecretString, String> {
    if s.starts_with("sqlite:") || s.starts_with("postgres://") || s.starts_with("postgresql://") {
        return secret(s);
    }
    Err(format!(
        "'{}' must start with sqlite: or postgres://",
        redact_url(s)
    ))
}

fn origin(s: &str) -> Result<String, String> {
    origin_of(s).ok_or_else(|| format!("'{s}' is not an http(s)://host[:port] origin"))
}

fn http_url(s: &str) -> Result<String, String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(s.trim_end_matches('/').to_owned())
    } else {
        Err(format!("'{s}' is not an http(s) URL"))
    }
}

fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("'{s}' is not true or false")),
    }
}

/// An IP network: an address and how many leading bits of it matter (`10.0.0.0/8`,
/// `2001:db8::/32`; a bare address is a network of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    /// `ADDR` or `ADDR/BITS`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let bad = || format!("'{s}' is not an IP address or CIDR (e.g. 10.0.0.0/8, ::1)");
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let addr = addr.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { addr, bits })
    }

    /// Whether `ip` is in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix(net.to_bits().into(), self.bits, 32)
                    == prefix(ip.to_bits().into(), self.bits, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix(net.to_bits(), self.bits, 128) == prefix(ip.to_bits(), self.bits, 128)
            }
            _ => false,
        }
    }
}

/// The first `bits` of a `width`-bit number.
fn prefix(n: u128, bits: u8, width: u8) -> u128 {
    if bits == 0 { 0 } else { n >> (width - bits) }
}

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";

/// The realtime todo server: REST auth and todos, the WebSocket, the assistant, the web client.
///
/// Every setting is a flag or, more usually, an environment variable (named in brackets).
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version, max_term_width = 100)]
pub struct Config {
    // --- where it listens and what it serves -----------------------------------------------
    /// Listen address; port 0 picks a free port (logged as `listening on http://HOST:PORT`)
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// `sqlite:…` or `postgres://…`; migrations run at start [default: a SQLite file in DATA_DIR]
    #[arg(long = "database-url", env = "DATABASE_URL", value_name = "URL", value_parser = database_url, hide_env_values = true)]
    database_url_arg: Option<SecretString>,
    /// The database URL in use (the default is filled in from `DATA_DIR`).
    #[arg(skip = SecretString::from(String::new()))]
    pub database_url: SecretString,

    /// Where the default SQLite file and the generated JWT secret live
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The public origin (`https://todo.example.com`); its origin is always allowed
    /// [default: http://localhost:PORT and http://127.0.0.1:PORT]
    #[arg(long, env = "PUBLIC_URL", value_parser = origin)]
    pub public_url: Option<String>,

    /// Extra allowed origins, comma-separated
    #[arg(long, env = "ALLOWED_ORIGINS", value_parser = origin, value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// The built web client
    #[arg(long, env = "STATIC_DIR", default_value = "client/dist")]
    pub static_dir: PathBuf,

    // --- sessions ---------------------------------------------------------------------------
    /// HS256 key, at least 32 bytes [default: generated once, kept in DATA_DIR/jwt_secret]
    #[arg(long, env = "JWT_SECRET", value_parser = jwt_secret, hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,

    /// Access-token lifetime, seconds
    #[arg(long = "access-token-ttl-secs", env = "ACCESS_TOKEN_TTL_SECS", value_name = "SECS", default_value = "900", value_parser = seconds)]
    pub access_ttl: Duration,

    /// Refresh-token (session) lifetime, seconds
    #[arg(long = "refresh-token-ttl-secs", env = "REFRESH_TOKEN_TTL_SECS", value_name = "SECS", default_value = "2592000", value_parser = seconds)]
    pub refresh_ttl: Duration,

    /// The `Secure` cookie attribute [default: on when PUBLIC_URL is https]
    #[arg(long = "cookie-secure", env = "COOKIE_SECURE", value_name = "BOOL", value_parser = boolean)]
    cookie_secure_arg: Option<bool>,
    /// Whether cookies carry `Secure` (filled in from `PUBLIC_URL` when not set).
    #[arg(skip)]
    pub cookie_secure: bool,

    // --- limits -----------------------------------------------------------------------------
    /// Login/register/refresh attempts per client IP per minute; 0 turns the limit off
    #[arg(long, env = "AUTH_RATE_PER_MIN", default_value = "20", value_parser = any_u32)]
    pub auth_rate_per_min: u32,

    /// Socket messages per user per second (burst twice that)
    #[arg(long, env = "WS_RATE_PER_SEC", default_value = "50", value_parser = at_least_one)]
    pub ws_rate_per_sec: u32,

    /// Largest socket frame in bytes (larger: close 1009)
    #[arg(long, env = "WS_MAX_MESSAGE_BYTES", default_value = "65536", value_parser = bytes_1k_up)]
    pub ws_max_message_bytes: usize,

    /// Frames queued for one socket before it is closed as too slow (8 or more)
    #[arg(long, env = "WS_SEND_QUEUE", default_value = "256", value_parser = |s: &str| in_range(s, 8usize, 1 << 20))]
    pub ws_send_queue: usize,

    /// How often the server pings a socket, seconds
    #[arg(long = "ws-ping-interval-secs", env = "WS_PING_INTERVAL_SECS", value_name = "SECS", default_value = "25", value_parser = seconds)]
    pub ws_ping_interval: Duration,

    /// A peer silent this long is dropped, seconds
    #[arg(long = "ws-idle-timeout-secs", env = "WS_IDLE_TIMEOUT_SECS", value_name = "SECS", default_value = "60", value_parser = seconds)]
    pub ws_idle_timeout: Duration,

    /// Todo events kept per user for resume (older: a snapshot)
    #[arg(long, env = "EVENT_RETENTION", default_value = "1000", value_parser = |s: &str| in_range(s, 1i64, i64::MAX))]
    pub event_retention: i64,

    /// Chat messages per user per minute
    #[arg(long, env = "CHAT_RATE_PER_MIN", default_value = "30", value_parser = at_least_one)]
    pub chat_rate_per_min: u32,

    /// Largest REST body in bytes (413 above)
    #[arg(long, env = "MAX_BODY_BYTES", default_value = "1048576", value_parser = bytes_1k_up)]
    pub max_body_bytes: usize,

    /// Request headers must be complete this many seconds after their first byte (else 408), and a new connection must start a request within it
    #[arg(long = "header-read-timeout-secs", env = "HEADER_READ_TIMEOUT_SECS", value_name = "SECS", default_value = "10", value_parser = seconds)]
    pub header_read_timeout: Duration,

    /// A request body must arrive within this many seconds of its headers (else 408); a response the client does not read for this long is abandoned
    #[arg(long = "body-read-timeout-secs", env = "BODY_READ_TIMEOUT_SECS", value_name = "SECS", default_value = "30", value_parser = seconds)]
    pub body_read_timeout: Duration,

    /// An idle keep-alive connection is closed after this many seconds
    #[arg(long = "keepalive-idle-secs", env = "KEEPALIVE_IDLE_SECS", value_name = "SECS", default_value = "75", value_parser = seconds)]
    pub keepalive_idle: Duration,

    /// Open connections at most (503 + Retry-After above) [default: from the file-descriptor limit]
    #[arg(long, env = "MAX_CONNECTIONS", value_parser = |s: &str| in_range(s, 1usize, 10_000_000))]
    pub max_connections: Option<usize>,

    /// Open connections per client IP (IPv6: per /64)
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value = "256", value_parser = |s: &str| in_range(s, 1usize, 10_000_000))]
    pub max_connections_per_ip: usize,

    /// Open sockets per user (409 quota_exceeded on the upgrade above)
    #[arg(long, env = "MAX_SOCKETS_PER_USER", default_value = "32", value_parser = |s: &str| in_range(s, 1usize, 1_000_000))]
    pub max_sockets_per_user: usize,

    /// Todos per user (409 quota_exceeded above)
    #[arg(long, env = "MAX_TODOS_PER_USER", default_value = "10000", value_parser = |s: &str| in_range(s, 1i64, i64::MAX))]
    pub max_todos_per_user: i64,

    /// Conversations per user (409 quota_exceeded above)
    #[arg(long, env = "MAX_CONVERSATIONS_PER_USER", default_value = "1000", value_parser = |s: &str| in_range(s, 1i64, i64::MAX))]
    pub max_conversations_per_user: i64,

    /// Reverse proxies whose `X-Forwarded-For` is believed: IPs or CIDRs, comma-separated
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = Cidr::parse)]
    pub trusted_proxies: Vec<Cidr>,

    // --- the assistant ----------------------------------------------------------------------
    /// `openai`, `offline`, or `auto` (openai when a key is set, else offline)
    #[arg(long, env = "AGENT", value_enum, default_value = "auto")]
    pub agent: AgentKind,

    /// Key for the OpenAI-compatible server
    #[arg(long, env = "OPENAI_API_KEY", value_parser = secret, hide_env_values = true)]
    pub openai_api_key: Option<SecretString>,

    /// Any OpenAI-compatible chat-completions server (Ollama, vLLM, llama.cpp, LM Studio)
    #[arg(long, env = "OPENAI_BASE_URL", default_value = DEFAULT_OPENAI_BASE_URL, value_parser = http_url)]
    pub openai_base_url: String,

    /// The model to ask
    #[arg(long, env = "OPENAI_MODEL", default_value = DEFAULT_OPENAI_MODEL)]
    pub openai_model: String,

    /// Longest wait for the model server to accept the connection, seconds
    #[arg(long = "openai-connect-timeout-secs", env = "OPENAI_CONNECT_TIMEOUT_SECS", value_name = "SECS", default_value = "10", value_parser = seconds)]
    pub openai_connect_timeout: Duration,

    /// Longest wait for the response to start and between two streamed chunks, seconds
    #[arg(long = "openai-timeout-secs", env = "OPENAI_TIMEOUT_SECS", value_name = "SECS", default_value = "60", value_parser = seconds)]
    pub openai_chunk_timeout: Duration,

    // --- resources --------------------------------------------------------------------------
    /// Argon2id memory per password hash, KiB (OWASP: 19456)
    #[arg(long = "argon2-memory-kib", env = "ARGON2_MEMORY_KIB", default_value = "19456", value_parser = at_least_one)]
    argon2_memory_kib: u32,

    /// Argon2id iterations
    #[arg(long = "argon2-iterations", env = "ARGON2_ITERATIONS", value_name = "N", default_value = "2", value_parser = at_least_one)]
    argon2_iterations: u32,

    /// Argon2id lanes
    #[arg(long = "argon2-parallelism", env = "ARGON2_PARALLELISM", value_name = "N", default_value = "1", value_parser = at_least_one)]
    argon2_parallelism: u32,
    /// The password-hashing cost, from the three settings above (each hash keeps its own).
    #[arg(skip)]
    pub argon2: Argon2Cost,

    /// Password hashes running at once (each holds ARGON2_MEMORY_KIB) [default: the CPU count, and never more than a quarter of the memory]
    #[arg(long = "hash-concurrency", env = "HASH_CONCURRENCY", value_name = "N", value_parser = |s: &str| in_range(s, 1usize, 1024))]
    hash_concurrency_arg: Option<usize>,
    /// Password hashes running at once (filled in from the CPU count when not set).
    #[arg(skip)]
    pub hash_concurrency: usize,

    /// Largest database pool
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value = "16", value_parser = |s: &str| in_range(s, 1u32, 10_000))]
    pub db_max_connections: u32,

    // --- operations -------------------------------------------------------------------------
    /// When set, `/metrics` requires `Authorization: Bearer <this>` [default: open]
    #[arg(long, env = "METRICS_TOKEN", value_parser = secret, hide_env_values = true)]
    pub metrics_token: Option<SecretString>,

    /// Log filter (`tracing` syntax)
    #[arg(long, env = "RUST_LOG", default_value = "info,sqlx=warn")]
    pub log_filter: String,

    /// `text` or `json` (one JSON object per line)
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    /// Reads the command line and the environment. `--help`/`--version` come back as text to
    /// print; a bad value is one line naming the variable.
    pub fn load() -> Result<Loaded, ConfigError> {
        Self::parse_with(Self::command(), std::env::args_os())
    }

    /// Defaults plus these settings (`("VAR", "value")`), ignoring the process environment:
    /// for tests, and for anything that must not depend on who runs it.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let command = Self::command().mut_args(|a| a.env(None::<&str>));
        let vars = Self::command();
        let mut args: Vec<OsString> = vec!["server".into()];
        for (var, value) in pairs {
            let arg = vars
                .get_arguments()
                .find(|a| a.get_env().is_some_and(|e| e == *var))
                .ok_or_else(|| bad(var, "is not a setting"))?;
            let flag = arg.get_long().ok_or_else(|| bad(var, "has no flag"))?;
            args.push(format!("--{flag}={value}").into());
        }
        match Self::parse_with(command, args)? {
            Loaded::Run(config) => Ok(*config),
            Loaded::Print(_) => Err(bad("--help", "not a setting")),
        }
    }

    fn parse_with(
        command: clap::Command,
        args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    ) -> Result<Loaded, ConfigError> {
        let matches = match command.clone().try_get_matches_from(args) {
            Ok(m) => m,
            Err(e) => return one_line(e),
        };
        let mut config =
            Self::from_arg_matches(&matches).map_err(|e| bad("arguments", e.to_string()))?;
        config.resolve()?;
        Ok(Loaded::Run(Box::new(config)))
    }

    /// Fills in the defaults that depend on other settings, and checks what one value alone
    /// cannot say.
    fn resolve(&mut self) -> Result<(), ConfigError> {
        self.database_url = match self.database_url_arg.take() {
            Some(url) => url,
            None => SecretString::from(format!(
                "sqlite://{}/todo.db?mode=rwc",
                self.data_dir.display()
            )),
        };
        let https = self
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        self.cookie_secure = self.cookie_secure_arg.unwrap_or(https);

        if self.agent == AgentKind::OpenAi
            && self.openai_api_key.is_none()
            && self.openai_base_url == DEFAULT_OPENAI_BASE_URL
        {
            return Err(bad(
                "AGENT",
                "openai needs OPENAI_API_KEY or OPENAI_BASE_URL",
            ));
        }
        self.argon2 = Argon2Cost {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        };
        let a = self.argon2;
        if argon2::Params::new(a.memory_kib, a.iterations, a.parallelism, None).is_err() {
            return Err(bad(
                "ARGON2_MEMORY_KIB",
                "argon2 parameters out of range (memory ≥ 8×parallelism KiB)",
            ));
        }
        // Each running hash holds ARGON2_MEMORY_KIB: as many at once as there are CPUs, and
        // never more than a quarter of the memory this process may use.
        let per_hash = u64::from(a.memory_kib) * 1024;
        let by_memory = (memory_limit_bytes() / 4 / per_hash).max(1) as usize;
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        self.hash_concurrency = match self.hash_concurrency_arg {
            Some(n) if n > by_memory => {
                return Err(bad(
                    "HASH_CONCURRENCY",
                    format!(
                        "{n} hashes of {} MiB would need more than a quarter of the memory \
                         ({} MiB); at most {by_memory}",
                        per_hash >> 20,
                        memory_limit_bytes() >> 20
                    ),
                ));
            }
            Some(n) => n,
            None => cpus.min(by_memory),
        };
        Ok(())
    }

    /// A configuration for black-box tests: port 0, the given database, a random JWT secret,
    /// cheap password hashing, no auth rate limit, the offline agent — and nothing from the
    /// process environment.
    pub fn for_tests(database_url: &str) -> Self {
        let secret: [u8; 32] = rand::random();
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let mut c = Self::from_pairs(&[
            ("BIND_ADDR", "127.0.0.1:0"),
            ("DATABASE_URL", database_url),
            ("AUTH_RATE_PER_MIN", "0"),
            ("AGENT", "offline"),
            ("ARGON2_MEMORY_KIB", "64"),
            ("ARGON2_ITERATIONS", "1"),
        ])
        .unwrap_or_else(|e| panic!("test defaults: {e}"));
        c.data_dir = std::env::temp_dir();
        c.jwt_secret = Some(SecretString::from(hex));
        c
    }

    /// The agent this configuration chooses.
    pub fn effective_agent(&self) -> AgentKind {
        match self.agent {
            AgentKind::Auto if self.openai_api_key.is_some() => AgentKind::OpenAi,
            AgentKind::Auto => AgentKind::Offline,
            k => k,
        }
    }

    /// The origins always allowed for a server bound to `port`: that of `PUBLIC_URL`, or the
    /// localhost ones.
    pub fn own_origins(&self, port: u16) -> Vec<String> {
        match &self.public_url {
            Some(u) => vec![u.clone()],
            None => vec![
                format!("http://localhost:{port}"),
                format!("http://127.0.0.1:{port}"),
            ],
        }
    }

    /// `MAX_CONNECTIONS`, or when it is not set, what the open-file limit allows: every
    /// connection is a file descriptor, and the rest of the process needs some too — the
    /// database pool (up to 3 each: a SQLite database, its WAL and its shared memory), the
    /// PostgreSQL listener, the log, static files, and the answers to refused connections
    /// ([`Config::refusals_at_once`]) — so those are kept aside.
    pub fn connection_limit(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            let reserve =
                32 + 3 * u64::from(self.db_max_connections) + self.refusals_at_once() as u64;
            fd_limit().saturating_sub(reserve).max(16) as usize
        })
    }

    /// Connections refused at once with an answer (503/429 and `Retry-After`); beyond this,
    /// refused ones are closed without one. 64, or an eighth of a small open-file limit.
    pub fn refusals_at_once(&self) -> usize {
        (fd_limit() / 8).clamp(4, 64) as usize
    }

    /// The database URL with its password hidden, for logs.
    pub fn database_url_redacted(&self) -> String {
        redact_url(self.database_url.expose_secret())
    }
}

/// The soft open-file limit of this process.
pub fn fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and pass by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur
}

/// Raises the soft open-file limit to the hard one (as Go's runtime does): a server holds one
/// descriptor per connection, and the usual soft default (1024) is far below what the hard
/// limit allows. Returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
        }
    }
    fd_limit()
}

/// The memory this process may use: the cgroup's limit when there is one, else the machine's.
pub fn memory_limit_bytes() -> u64 {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    let total = read("/proc/meminfo").and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    });
    match (cgroup, total) {
        (Some(c), Some(t)) => c.min(t),
        (Some(c), None) => c,
        (None, Some(t)) => t,
        // Not Linux: assume a small machine rather than a large one.
        (None, None) => 1 << 30,
    }
}

/// A clap error as the contract wants it: one line naming the variable. `--help` and
/// `--version` are not errors: their text is handed back to print.
fn one_line(e: clap::Error) -> Result<Loaded, ConfigError> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return Ok(Loaded::Print(e.render().to_string()));
    }
    // The argument, named by its variable when it has one.
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let flag = arg
        .trim_start_matches("--")
        .split([' ', '='])
        .next()
        .unwrap_or("");
    let var = Config::command()
        .get_arguments()
        .find(|a| a.get_long() == Some(flag))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_else(|| {
            if arg.is_empty() {
                "arguments".into()
            } else {
                arg.clone()
            }
        });
    let why = match (e.kind(), e.get(ContextKind::InvalidValue)) {
        (ErrorKind::ValueValidation, _) => {
            // "invalid value 'x' for '--flag <VAR>': <why>" → "<why>"
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("").to_owned();
            first
                .rsplit_once(": ")
                .map_or(first.clone(), |(_, why)| why.to_owned())
        }
        (_, Some(ContextValue::String(v))) => format!("'{v}' is not valid"),
        _ => e
            .to_string()
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ")
            .to_owned(),
    };
    Err(bad(&var, why))
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased, without path; `None` if it is not one.
pub fn origin_of(url: &str) -> Option<String> {
    let url = url.trim().to_ascii_lowercase();
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    if host.is_empty() || host.contains('@') || host.contains(char::is_whitespace) {
        return None;
    }
    let default_port = if scheme == "http" { ":80" } else { ":443" };
    let host = host.strip_suffix(default_port).unwrap_or(host);
    Some(format!("{scheme}://{host}"))
}

/// A database URL with its password hidden, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_pairs(pairs)
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
        assert!(c.database_url.expose_secret().starts_with("sqlite:"));
        assert_eq!(c.access_ttl.as_secs(), 900);
        assert_eq!(c.refresh_ttl.as_secs(), 2_592_000);
        assert_eq!(c.auth_rate_per_min, 20);
        assert_eq!(c.ws_rate_per_sec, 50);
        assert_eq!(c.ws_max_message_bytes, 65_536);
        assert_eq!(c.max_body_bytes, 1_048_576);
        assert_eq!(c.header_read_timeout.as_secs(), 10);
        assert_eq!(c.body_read_timeout.as_secs(), 30);
        assert_eq!(c.keepalive_idle.as_secs(), 75);
        assert_eq!(c.max_connections, None);
        assert_eq!(c.max_connections_per_ip, 256);
        assert_eq!(c.max_sockets_per_user, 32);
        assert_eq!(c.max_todos_per_user, 10_000);
        assert_eq!(c.max_conversations_per_user, 1000);
        assert!(c.trusted_proxies.is_empty() && c.metrics_token.is_none());
        assert_eq!(c.effective_agent(), AgentKind::Offline);
        assert!(!c.cookie_secure);
        assert_eq!(c.argon2, Argon2Cost::default());
        assert_eq!(
            c.own_origins(8080),
            ["http://localhost:8080", "http://127.0.0.1:8080"]
        );
    }

    #[test]
    fn bad_values_name_their_variable_in_one_line() {
        for (var, val) in [
            ("BIND_ADDR", "nope"),
            ("DATABASE_URL", "mysql://x"),
            ("JWT_SECRET", "short"),
            ("ACCESS_TOKEN_TTL_SECS", "0"),
            ("REFRESH_TOKEN_TTL_SECS", "-5"),
            ("AUTH_RATE_PER_MIN", "many"),
            ("AGENT", "gpt"),
            ("COOKIE_SECURE", "maybe"),
            ("PUBLIC_URL", "ftp://x"),
            ("ALLOWED_ORIGINS", "http://ok.example,nope"),
            ("WS_MAX_MESSAGE_BYTES", "12"),
            ("WS_SEND_QUEUE", "2"),
            ("WS_RATE_PER_SEC", "0"),
            ("MAX_BODY_BYTES", "x"),
            ("HASH_CONCURRENCY", "0"),
            ("DB_MAX_CONNECTIONS", "0"),
            ("EVENT_RETENTION", "0"),
            ("LOG_FORMAT", "yaml"),
            ("MAX_CONNECTIONS", "0"),
            ("MAX_CONNECTIONS_PER_IP", "0"),
            ("MAX_SOCKETS_PER_USER", "0"),
            ("TRUSTED_PROXIES", "10.0.0.1,nope"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("HEADER_READ_TIMEOUT_SECS", "0"),
            ("HASH_CONCURRENCY", "1000000"),
        ] {
            let err = cfg(&[(var, val)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={val}: {err}");
            let line = err.to_string();
            assert!(line.starts_with(var) && !line.contains('\n'), "{line}");
        }
        // Zero is meaningful here: the limit is off.
        assert_eq!(
            cfg(&[("AUTH_RATE_PER_MIN", "0")])
                .unwrap()
                .auth_rate_per_min,
            0
        );
    }

    #[test]
    fn https_public_url_turns_secure_cookies_on() {
        let c = cfg(&[("PUBLIC_URL", "https://todo.example.com/app")]).unwrap();
        assert!(c.cookie_secure);
        assert_eq!(c.own_origins(1), ["https://todo.example.com"]);
        assert_eq!(c.effective_agent(), AgentKind::Offline);
        let c = cfg(&[
            ("PUBLIC_URL", "https://x.example"),
            ("COOKIE_SECURE", "false"),
        ])
        .unwrap();
        assert!(!c.cookie_secure);
        let c = cfg(&[("OPENAI_API_KEY", "sk-x")]).unwrap();
        assert_eq!(c.effective_agent(), AgentKind::OpenAi);
        assert!(cfg(&[("AGENT", "openai")]).is_err());
        assert!(
            cfg(&[
                ("AGENT", "openai"),
                ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
            ])
            .is_ok()
        );
    }

    #[test]
    fn secrets_never_print() {
        let c = cfg(&[
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef-very-secret"),
            ("OPENAI_API_KEY", "sk-very-secret"),
            ("METRICS_TOKEN", "very-secret-token"),
            ("DATABASE_URL", "postgres://u:very-secret@h/db"),
        ])
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert_eq!(c.database_url_redacted(), "postgres://u:***@h/db");
    }

    #[test]
    fn help_lists_every_setting_with_its_variable() {
        let help = Config::command().render_long_help().to_string();
        for arg in Config::command().get_arguments() {
            if let Some(var) = arg.get_env() {
                let var = var.to_string_lossy();
                assert!(help.contains(&format!("[env: {var}")), "{var} missing");
            }
        }
        for var in [
            "MAX_CONNECTIONS",
            "TRUSTED_PROXIES",
            "METRICS_TOKEN",
            "RUST_LOG",
        ] {
            assert!(help.contains(var), "{var}");
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_and_networks() {
        let c = cfg(&[("TRUSTED_PROXIES", "10.0.0.0/8, ::1,192.0.2.7")]).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted = |s| c.trusted_proxies.iter().any(|n| n.contains(ip(s)));
        assert!(trusted("10.200.0.1") && trusted("::1") && trusted("192.0.2.7"));
        assert!(trusted("::ffff:10.1.2.3"), "IPv4-mapped IPv6 is IPv4");
        assert!(!trusted("11.0.0.1") && !trusted("192.0.2.8") && !trusted("::2"));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.1")) && !all.contains(ip("2001:db8::1")));
    }

    #[test]
    fn hash_concurrency_is_capped_by_memory_and_connections_by_descriptors() {
        let c = cfg(&[]).unwrap();
        let by_memory = (memory_limit_bytes() / 4 / (19_456 * 1024)) as usize;
        assert!(c.hash_concurrency >= 1 && c.hash_concurrency <= by_memory.max(1));
        // The derived connection limit leaves room below the descriptor limit.
        let derived = c.connection_limit() as u64;
        assert!(derived >= 16);
        assert!(derived <= fd_limit().max(16));
        assert_eq!(
            cfg(&[("MAX_CONNECTIONS", "77")])
                .unwrap()
                .connection_limit(),
            77
        );
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            origin_of("HTTP://Example.com:80/x").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(
            origin_of("https://a.b:8443").as_deref(),
            Some("https://a.b:8443")
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }
}
