//! `server`: reads the configuration, starts the app, waits for Ctrl-C or SIGTERM, shuts down
//! gracefully.

use server::app::App;
use server::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    server::telemetry::init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            // One clear line naming the variable.
            eprintln!("configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let app = match App::spawn(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("cannot start: {e:#}");
            return std::process::ExitCode::from(1);
        }
    };
    shutdown_signal().await;
    tracing::info!("shutting down");
    app.shutdown().await;
    std::process::ExitCode::SUCCESS
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
