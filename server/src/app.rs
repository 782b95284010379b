//! Wiring: [`App::spawn`] connects the database, builds the services and the state, binds, and
//! serves the one HTTP filter; [`App::shutdown`] closes every socket (1001) and stops. Used by
//! `main` and by every black-box test (port 0, a fresh database).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use governor::{Quota, RateLimiter};
use secrecy::ExposeSecret;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::fanout::bus::Bus;
use crate::fanout::hub::Hub;
use crate::service::auth::limits::AuthLimits;
use crate::service::auth::password::Hasher;
use crate::service::auth::tokens::Tokens;
use crate::service::auth::{Auth, load_or_create_secret};
use crate::service::chat::Chat;
use crate::service::todos::Todos;
use crate::state::AppState;
use crate::store::Db;

/// A running server.
pub struct App {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
}

impl App {
    /// Connects the database (running migrations), binds `config.bind_addr`, and serves in the
    /// background. The real address is logged as `listening on http://HOST:PORT`.
    pub async fn spawn(config: Config) -> anyhow::Result<App> {
        let db = Db::connect(
            config.database_url.expose_secret(),
            config.db_max_connections,
        )
        .await?;
        let listener = tokio::net::TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("BIND_ADDR: cannot listen on {}", config.bind_addr))?;
        let addr = listener.local_addr()?;

        let secret = load_or_create_secret(
            config
                .jwt_secret
                .as_ref()
                .map(|s| s.expose_secret().as_bytes()),
            &config.data_dir,
        )?;
        let hasher = Hasher::new(config.argon2, config.hash_concurrency)?;
        let hub = Hub::new();
        let bus = Bus::new(hub.clone(), db.clone());
        let auth = Auth::new(
            db.clone(),
            bus.clone(),
            AuthLimits::new(config.auth_rate_per_min),
            hasher,
            Tokens::new(&secret, config.access_ttl),
            config.refresh_ttl,
        );
        let todos = Todos::new(db.clone(), bus.clone(), config.event_retention);
        let per_sec = NonZeroU32::new(config.ws_rate_per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = per_sec.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        let ws_limiter = Arc::new(RateLimiter::keyed(
            Quota::per_second(per_sec).allow_burst(burst),
        ));
        let mut origins = config.own_origins(addr.port());
        origins.extend(config.allowed_origins.iter().cloned());
        let chat = Chat::new(&config, db.clone(), bus.clone(), todos.clone())?;
        let state = AppState {
            config: Arc::new(config),
            db: db.clone(),
            hub,
            auth,
            todos,
            chat,
            ws_limiter,
            origins: Arc::new(origins),
        };

        let mut background = Vec::new();
        if db.is_postgres() {
            background.push(tokio::spawn(bus.listen()));
        }
        let housekeeping = state.clone();
        background.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                housekeeping.auth.housekeeping();
                housekeeping.ws_limiter.retain_recent();
                housekeeping.chat.housekeeping();
            }
        }));

        let (stop, stopped) = oneshot::channel::<()>();
        let routes = crate::transport::http::filter(state.clone());
        let server = tokio::spawn(
            warp::serve(routes)
                .incoming(listener)
                .graceful(async move {
                    let _ = stopped.await;
                })
                .run(),
        );
        // The last start-up line says where to point a browser.
        let open = match &state.config.public_url {
            Some(url) => format!("{url}/"),
            None if addr.ip().is_unspecified() => format!("http://localhost:{}/", addr.port()),
            None => format!("http://{addr}/"),
        };
        tracing::info!(
            database = if db.is_postgres() { "postgres" } else { "sqlite" },
            agent = ?state.config.effective_agent(),
            "listening on http://{addr} — open {open} in a browser"
        );
        Ok(App {
            addr,
            state,
            stop: Some(stop),
            server,
            background,
        })
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes every socket with 1001 (after its in-flight command), stops accepting, waits for
    /// running requests (at most 10 s), and closes the pool.
    pub async fn shutdown(mut self) {
        self.state.hub.shutdown();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.server).await;
        // Give the sockets' close frames a moment to leave.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while self.state.hub.connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for task in &self.background {
            task.abort();
        }
        self.state.db.close().await;
    }
}

impl Drop for App {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
        self.server.abort();
    }
}
