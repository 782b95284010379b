//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info,sqlx=warn`), as JSON lines
//! when `LOG_FORMAT=json`. Tokens and passwords are never logged; spans carry user and session
//! ids.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the subscriber. A second call (several apps in one test process) is harmless: the
/// first one stays.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Colours only for a terminal: a log file or a collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// For tests: `RUST_LOG` from the environment when set, else warnings only.
pub fn init_for_tests() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    init(&filter, LogFormat::Text);
}
