//! Builds the state and the routes, binds, and serves: [`App::spawn`] is used by `main` and by
//! every black-box test (port 0, a fresh database).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::cookies::CookiePolicy;
use crate::auth::limits::AuthLimits;
use crate::auth::password::Hasher;
use crate::auth::tokens::Tokens;
use crate::auth::{Auth, load_or_create_secret};
use crate::config::Config;
use crate::realtime::bus::Bus;
use crate::realtime::hub::Hub;
use crate::service::chat::Chat;
use crate::service::todos::Todos;
use crate::store::Db;

/// Everything a request or a socket needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub auth: Auth,
    pub todos: Todos,
    pub chat: Chat,
    pub bus: Bus,
    pub limits: Arc<AuthLimits>,
    /// Socket messages per user (shared by the user's sockets).
    pub ws_limiter: Arc<DefaultKeyedRateLimiter<i64>>,
    pub cookies: CookiePolicy,
    origins: Arc<Vec<String>>,
}

impl AppState {
    /// True if `origin` may make credentialed and unsafe requests.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let o = origin.trim_end_matches('/').to_ascii_lowercase();
        self.origins.contains(&o)
    }
}

/// A running server.
pub struct App {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
}

/// The name the tests and the load tester use.
pub type RunningApp = App;

impl App {
    /// Connects the database (running migrations), binds `config.bind_addr`, and serves in the
    /// background. The real address is logged as `listening on http://HOST:PORT`.
    pub async fn spawn(config: Config) -> anyhow::Result<App> {
        let db = Db::connect(&config.database_url, config.db_max_connections).await?;
        let listener = tokio::net::TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("BIND_ADDR: cannot listen on {}", config.bind_addr))?;
        let addr = listener.local_addr()?;

        let secret = load_or_create_secret(config.jwt_secret.as_deref(), &config.data_dir)?;
        let hasher = Hasher::new(config.argon2, config.hash_concurrency)?;
        let auth = Auth::new(
            db.clone(),
            hasher,
            Tokens::new(&secret, config.access_ttl),
            config.refresh_ttl,
        );
        let hub = Hub::new();
        let bus = Bus::new(hub, db.clone());
        let todos = Todos::new(db.clone(), bus.clone(), config.event_retention);
        let per_sec = NonZeroU32::new(config.ws_rate_per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = per_sec.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        let ws_limiter = Arc::new(RateLimiter::keyed(
            Quota::per_second(per_sec).allow_burst(burst),
        ));
        let mut origins = config.own_origins(addr.port());
        origins.extend(config.allowed_origins.iter().cloned());
        let cookies = CookiePolicy {
            secure: config.cookie_secure,
            access_max_age: config.access_ttl.as_secs(),
            refresh_max_age: config.refresh_ttl.as_secs(),
        };
        let chat = Chat::new(&config, db.clone(), bus.clone(), todos.clone())?;
        let state = AppState {
            limits: Arc::new(AuthLimits::new(config.auth_rate_per_min)),
            config: Arc::new(config),
            db: db.clone(),
            auth,
            todos,
            chat,
            bus: bus.clone(),
            ws_limiter,
            cookies,
            origins: Arc::new(origins),
        };

        let mut background = Vec::new();
        if db.is_postgres() {
            background.push(tokio::spawn(bus.listen()));
            background.push(tokio::spawn(state.chat.clone().listen()));
        }
        let housekeeping = state.clone();
        background.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                housekeeping.limits.housekeeping();
                housekeeping.ws_limiter.retain_recent();
                housekeeping.chat.housekeeping();
            }
        }));

        let (stop, stopped) = oneshot::channel::<()>();
        let routes = crate::http::filter(state.clone());
        let server = tokio::spawn(
            warp::serve(routes)
                .incoming(listener)
                .graceful(async move {
                    let _ = stopped.await;
                })
                .run(),
        );
        tracing::info!(
            database = if db.is_postgres() { "postgres" } else { "sqlite" },
            agent = ?state.config.effective_agent(),
            "listening on http://{addr}"
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
        self.state.bus.hub().shutdown();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.server).await;
        // Give the sockets' close frames a moment to leave.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while self.state.bus.hub().connections() > 0 && tokio::time::Instant::now() < deadline {
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
