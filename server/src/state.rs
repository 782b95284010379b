//! [`AppState`]: what every request handler and socket task is given — the configuration, the
//! services, and the hub of this instance's sockets. Built once by [`crate::app::App::spawn`];
//! cheap to clone (everything inside is shared).

use std::sync::Arc;

use governor::DefaultKeyedRateLimiter;

use crate::config::Config;
use crate::fanout::hub::Hub;
use crate::service::auth::Auth;
use crate::service::chat::Chat;
use crate::service::todos::Todos;
use crate::store::Db;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// For readiness only: everything else reaches the database through a service.
    pub db: Db,
    /// This instance's open sockets: a socket registers here to receive its user's frames.
    pub hub: Arc<Hub>,
    pub auth: Auth,
    pub todos: Todos,
    pub chat: Chat,
    /// Messages per user (`WS_RATE_PER_SEC`), shared by the user's sockets — every frame they
    /// send, well-formed or not — and the user's REST writes.
    pub ws_limiter: Arc<DefaultKeyedRateLimiter<i64>>,
    /// Origins allowed to make credentialed and unsafe requests (lower-case, no trailing `/`).
    pub origins: Arc<Vec<String>>,
}

impl AppState {
    /// True if `origin` may make credentialed and unsafe requests.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let o = origin.trim_end_matches('/').to_ascii_lowercase();
        self.origins.contains(&o)
    }
}
