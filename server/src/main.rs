//! `server`: reads the configuration (`server --help` lists every setting), starts the app,
//! waits for Ctrl-C or SIGTERM, shuts down gracefully.

use std::process::ExitCode;

use server::app::App;
use server::config::{Config, Loaded};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(Loaded::Run(config)) => *config,
        Ok(Loaded::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One clear line naming the variable (logging is not set up yet).
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    server::telemetry::init(&config.log_filter, config.log_format);
    let app = match App::spawn(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("cannot start: {e:#}");
            return ExitCode::from(1);
        }
    };
    shutdown_signal().await;
    tracing::info!("shutting down");
    app.shutdown().await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
