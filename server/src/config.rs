//! Every setting, read from the environment and checked once at start.
//!
//! A bad value stops the server with one line naming the variable (`ConfigError`). Tests build a
//! `Config` with [`Config::for_tests`] and change the public fields they care about.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A setting that could not be used, with the variable's name first.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {why}")]
pub struct ConfigError {
    pub var: &'static str,
    pub why: String,
}

fn bad(var: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        why: why.into(),
    }
}

/// Which assistant answers `chat.send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    /// OpenAI-compatible when a key is set, else offline.
    Auto,
    OpenAi,
    Offline,
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

#[derive(Debug, Clone)]
pub struct Config {
    pub bind_addr: SocketAddr,
    /// `sqlite:…` or `postgres://…`.
    pub database_url: String,
    /// Where the default SQLite file and the generated JWT secret live.
    pub data_dir: PathBuf,
    /// The public origin of the server (`scheme://host[:port]`); `None` means
    /// `http://localhost:PORT` and `http://127.0.0.1:PORT` with the bound port.
    pub public_url: Option<String>,
    /// Extra allowed origins.
    pub allowed_origins: Vec<String>,
    /// HS256 key, at least 32 bytes. `None`: generated once and kept in `data_dir`.
    pub jwt_secret: Option<Vec<u8>>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub cookie_secure: bool,
    /// Login/register/refresh attempts per client IP per minute; 0 turns the limit off.
    pub auth_rate_per_min: u32,
    /// Socket messages per user per second (burst twice that).
    pub ws_rate_per_sec: u32,
    pub ws_max_message_bytes: usize,
    /// Frames queued for one socket before it is judged too slow and closed.
    pub ws_send_queue: usize,
    /// How often an idle socket is pinged; one that has not answered within
    /// `ws_idle_timeout` is dropped.
    pub ws_ping_interval: Duration,
    pub ws_idle_timeout: Duration,
    /// Todo events kept per user for resume; an older `last_seq` gets a snapshot.
    pub event_retention: i64,
    pub agent: AgentKind,
    pub openai_api_key: Option<String>,
    pub openai_base_url: String,
    pub openai_model: String,
    /// Longest wait for the model server to accept the connection (`OPENAI_CONNECT_TIMEOUT_SECS`).
    pub openai_connect_timeout: Duration,
    /// Longest wait for the response to start and then between two streamed chunks
    /// (`OPENAI_TIMEOUT_SECS`); past it the turn ends with `finish_reason=error`.
    pub openai_chunk_timeout: Duration,
    /// Chat messages (`chat.send`) per user per minute.
    pub chat_rate_per_min: u32,
    pub static_dir: PathBuf,
    pub max_body_bytes: usize,
    pub argon2: Argon2Cost,
    /// Concurrent password hashes (each holds `argon2.memory_kib` of memory).
    pub hash_concurrency: usize,
    /// Largest database pool.
    pub db_max_connections: u32,
}

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let bind_addr = match get("BIND_ADDR") {
            Some(v) => v
                .parse()
                .map_err(|_| bad("BIND_ADDR", format!("'{v}' is not HOST:PORT")))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let database_url = match get("DATABASE_URL") {
            Some(v)
                if v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://") =>
            {
                v
            }
            Some(v) => {
                return Err(bad(
                    "DATABASE_URL",
                    format!(
                        "'{}' must start with sqlite: or postgres://",
                        redact_url(&v)
                    ),
                ));
            }
            None => format!("sqlite://{}/todo.db?mode=rwc", data_dir.display()),
        };
        let public_url = match get("PUBLIC_URL") {
            Some(v) => Some(origin_of(&v).ok_or_else(|| {
                bad(
                    "PUBLIC_URL",
                    format!("'{v}' is not an http(s)://host[:port] URL"),
                )
            })?),
            None => None,
        };
        let mut allowed_origins = Vec::new();
        if let Some(list) = get("ALLOWED_ORIGINS") {
            for o in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                allowed_origins.push(origin_of(o).ok_or_else(|| {
                    bad("ALLOWED_ORIGINS", format!("'{o}' is not an http(s) origin"))
                })?);
            }
        }
        let jwt_secret = match get("JWT_SECRET") {
            Some(s) if s.len() < 32 => {
                return Err(bad("JWT_SECRET", "must be at least 32 bytes"));
            }
            Some(s) => Some(s.into_bytes()),
            None => None,
        };
        let secs = |var: &'static str, default: u64| -> Result<Duration, ConfigError> {
            let n = num::<u64>(&get, var, default)?;
            if n == 0 {
                return Err(bad(var, "must be 1 or more seconds"));
            }
            Ok(Duration::from_secs(n))
        };
        let access_ttl = secs("ACCESS_TOKEN_TTL_SECS", 900)?;
        let refresh_ttl = secs("REFRESH_TOKEN_TTL_SECS", 2_592_000)?;
        let https = public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        let cookie_secure = match get("COOKIE_SECURE") {
            Some(v) => {
                parse_bool(&v).ok_or_else(|| bad("COOKIE_SECURE", "must be true or false"))?
            }
            None => https,
        };
        let agent = match get("AGENT").as_deref() {
            None | Some("auto") => AgentKind::Auto,
            Some("openai") => AgentKind::OpenAi,
            Some("offline") => AgentKind::Offline,
            Some(v) => {
                return Err(bad(
                    "AGENT",
                    format!("'{v}' is not openai, offline or auto"),
                ));
            }
        };
        let openai_api_key = get("OPENAI_API_KEY");
        if agent == AgentKind::OpenAi
            && openai_api_key.is_none()
            && get("OPENAI_BASE_URL").is_none()
        {
            return Err(bad(
                "AGENT",
                "openai needs OPENAI_API_KEY or OPENAI_BASE_URL",
            ));
        }
        let openai_base_url =
            get("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.into());
        if !(openai_base_url.starts_with("http://") || openai_base_url.starts_with("https://")) {
            return Err(bad("OPENAI_BASE_URL", "must be an http(s) URL"));
        }
        let ws_max_message_bytes = num::<usize>(&get, "WS_MAX_MESSAGE_BYTES", 65_536)?;
        if ws_max_message_bytes < 1024 {
            return Err(bad("WS_MAX_MESSAGE_BYTES", "must be at least 1024"));
        }
        let max_body_bytes = num::<usize>(&get, "MAX_BODY_BYTES", 1_048_576)?;
        if max_body_bytes < 1024 {
            return Err(bad("MAX_BODY_BYTES", "must be at least 1024"));
        }
        let ws_rate_per_sec = num::<u32>(&get, "WS_RATE_PER_SEC", 50)?;
        if ws_rate_per_sec == 0 {
            return Err(bad("WS_RATE_PER_SEC", "must be 1 or more"));
        }
        let argon2 = Argon2Cost {
            memory_kib: num(&get, "ARGON2_MEMORY_KIB", 19_456)?,
            iterations: num(&get, "ARGON2_ITERATIONS", 2)?,
            parallelism: num(&get, "ARGON2_PARALLELISM", 1)?,
        };
        if argon2::Params::new(
            argon2.memory_kib,
            argon2.iterations,
            argon2.parallelism,
            None,
        )
        .is_err()
        {
            return Err(bad(
                "ARGON2_MEMORY_KIB",
                "argon2 parameters out of range (memory ≥ 8×parallelism KiB, iterations ≥ 1, parallelism ≥ 1)",
            ));
        }
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            bind_addr,
            database_url,
            data_dir,
            public_url,
            allowed_origins,
            jwt_secret,
            access_ttl,
            refresh_ttl,
            cookie_secure,
            auth_rate_per_min: num(&get, "AUTH_RATE_PER_MIN", 20)?,
            ws_rate_per_sec,
            ws_max_message_bytes,
            ws_send_queue: num(&get, "WS_SEND_QUEUE", 256)?.max(8),
            ws_ping_interval: Duration::from_secs(num(&get, "WS_PING_INTERVAL_SECS", 25)?.max(1)),
            ws_idle_timeout: Duration::from_secs(num(&get, "WS_IDLE_TIMEOUT_SECS", 60)?.max(2)),
            event_retention: num(&get, "EVENT_RETENTION", 1000)?.max(1),
            agent,
            openai_api_key,
            openai_base_url,
            openai_model: get("OPENAI_MODEL").unwrap_or_else(|| DEFAULT_OPENAI_MODEL.into()),
            openai_connect_timeout: secs("OPENAI_CONNECT_TIMEOUT_SECS", 10)?,
            openai_chunk_timeout: secs("OPENAI_TIMEOUT_SECS", 60)?,
            chat_rate_per_min: num(&get, "CHAT_RATE_PER_MIN", 30)?.max(1),
            static_dir: PathBuf::from(get("STATIC_DIR").unwrap_or_else(|| "client/dist".into())),
            max_body_bytes,
            argon2,
            hash_concurrency: num(&get, "HASH_CONCURRENCY", cpus)?.max(1),
            db_max_connections: num(&get, "DB_MAX_CONNECTIONS", 16)?.max(1),
        })
    }

    /// A configuration for black-box tests: port 0, the given database, a random JWT secret,
    /// cheap password hashing, no auth rate limit, the offline agent.
    pub fn for_tests(database_url: &str) -> Self {
        let mut c = Self::from_lookup(|_| None).unwrap_or_else(|e| panic!("defaults: {e}"));
        c.bind_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        c.database_url = database_url.to_owned();
        c.data_dir = std::env::temp_dir();
        let secret: [u8; 32] = rand::random();
        c.jwt_secret = Some(secret.to_vec());
        c.argon2 = Argon2Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        c.auth_rate_per_min = 0;
        c.agent = AgentKind::Offline;
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
}

fn num<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(var) {
        Some(v) => v
            .parse()
            .map_err(|_| bad(var, format!("'{v}' is not a valid non-negative number"))),
        None => Ok(default),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
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
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
        assert!(c.database_url.starts_with("sqlite:"));
        assert_eq!(c.access_ttl.as_secs(), 900);
        assert_eq!(c.refresh_ttl.as_secs(), 2_592_000);
        assert_eq!(c.auth_rate_per_min, 20);
        assert_eq!(c.ws_rate_per_sec, 50);
        assert_eq!(c.ws_max_message_bytes, 65_536);
        assert_eq!(c.max_body_bytes, 1_048_576);
        assert_eq!(c.effective_agent(), AgentKind::Offline);
        assert!(!c.cookie_secure);
        assert_eq!(c.argon2, Argon2Cost::default());
        assert_eq!(
            c.own_origins(8080),
            ["http://localhost:8080", "http://127.0.0.1:8080"]
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
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
            ("MAX_BODY_BYTES", "x"),
        ] {
            let err = cfg(&[(var, val)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={val}: {err}");
            assert!(err.to_string().starts_with(var));
        }
    }

    #[test]
    fn https_public_url_turns_secure_cookies_on() {
        let c = cfg(&[("PUBLIC_URL", "https://todo.example.com/app")]).unwrap();
        assert!(c.cookie_secure);
        assert_eq!(c.own_origins(1), ["https://todo.example.com"]);
        assert_eq!(c.effective_agent(), AgentKind::Offline);
        let c = cfg(&[("OPENAI_API_KEY", "sk-x")]).unwrap();
        assert_eq!(c.effective_agent(), AgentKind::OpenAi);
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
