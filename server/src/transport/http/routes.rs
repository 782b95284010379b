//! The route table: one entry per route — method, path pattern, name, who may call it, whether
//! the OpenAPI document lists it — and everything derived from it: resolution (with `405` and
//! `Allow` for a known path's other methods), the names in logs and metrics, the OpenAPI paths,
//! and the dispatch.
//!
//! Authentication is decided here, once: a [`Handler::Session`] route's handler takes the
//! [`Caller`] as an argument, which only [`dispatch`] can give it, after checking the request's
//! credentials. A handler cannot forget to authenticate, and a public handler has no caller to
//! misuse.

use std::future::Future;
use std::pin::Pin;

use http::Method;
use warp::reply::Response;

use super::{auth, conversations, guard, ops, sessions, static_files, todos};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::transport::request::{Caller, Request};
use crate::transport::socket;

/// What a handler returns.
pub type Answer<'a> = Pin<Box<dyn Future<Output = Result<Response>> + Send + 'a>>;

/// Who may call a route, and the handler that serves it.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Anyone (the auth endpoints that open a session, operations, the web client).
    Public(for<'a> fn(&'a AppState, Request) -> Answer<'a>),
    /// A live session: 401 `unauthenticated` without one; the handler gets the caller.
    Session(for<'a> fn(&'a AppState, Caller, Request) -> Answer<'a>),
}

impl Handler {
    pub fn needs_session(self) -> bool {
        matches!(self, Handler::Session(_))
    }
}

/// One route.
pub struct Route {
    pub method: Method,
    /// `/api/todos/{id}`: literal segments, `{id}` for a positive decimal id, and `*` (alone)
    /// for "any path outside `/api/`" (the web client).
    pub pattern: &'static str,
    /// A bounded label for logs and metrics.
    pub name: &'static str,
    pub handler: Handler,
    /// Listed in `/api/openapi.json`.
    pub documented: bool,
}

macro_rules! public {
    ($f:path) => {
        Handler::Public(|state, req| Box::pin($f(state, req)))
    };
}

macro_rules! session {
    ($f:path) => {
        Handler::Session(|state, caller, req| Box::pin($f(state, caller, req)))
    };
}

macro_rules! route {
    ($method:ident $pattern:literal, $name:literal, $handler:expr) => {
        Route {
            method: Method::$method,
            pattern: $pattern,
            name: $name,
            handler: $handler,
            documented: true,
        }
    };
}

/// Every route the server serves.
pub static ROUTES: &[Route] = &[
    route!(POST "/api/auth/register", "register", public!(auth::register)),
    route!(POST "/api/auth/login", "login", public!(auth::login)),
    route!(GET "/api/auth/verify", "verify", session!(auth::verify)),
    route!(POST "/api/auth/refresh", "refresh", public!(auth::refresh)),
    // Public on purpose: it clears the cookies even when the session is already gone, and
    // ends the session its credentials name (401 when they name none).
    route!(POST "/api/auth/logout", "logout", public!(auth::logout)),
    route!(POST "/api/auth/logout-all", "logout_all", session!(sessions::logout_all)),
    route!(GET "/api/auth/sessions", "list_sessions", session!(sessions::list)),
    route!(DELETE "/api/auth/sessions/{id}", "delete_session", session!(sessions::delete)),
    route!(GET "/api/todos", "list_todos", session!(todos::list)),
    route!(POST "/api/todos", "create_todo", session!(todos::create)),
    route!(GET "/api/todos/{id}", "get_todo", session!(todos::get)),
    route!(PATCH "/api/todos/{id}", "update_todo", session!(todos::update)),
    route!(DELETE "/api/todos/{id}", "delete_todo", session!(todos::delete)),
    route!(GET "/api/conversations", "list_conversations", session!(conversations::list)),
    route!(GET "/api/conversations/{id}/messages", "list_messages", session!(conversations::messages)),
    route!(DELETE "/api/conversations/{id}", "delete_conversation", session!(conversations::delete)),
    route!(GET "/healthz", "healthz", public!(ops::healthz)),
    route!(GET "/readyz", "readyz", public!(ops::readyz)),
    route!(GET "/metrics", "metrics", public!(ops::metrics)),
    route!(GET "/api/openapi.json", "openapi", public!(ops::openapi)),
    route!(GET "/ws", "ws", session!(socket::upgrade)),
    Route {
        method: Method::GET,
        pattern: "*",
        name: "static",
        handler: public!(static_files::serve),
        documented: false,
    },
];

impl Route {
    /// The WebSocket upgrade (checked for its `Origin` like an unsafe method).
    pub fn is_socket(&self) -> bool {
        self.pattern == "/ws"
    }

    /// The web client's files (served with the app's CSP).
    pub fn is_web_client(&self) -> bool {
        self.pattern == "*"
    }
}

/// What a method and path resolve to.
pub enum Resolved {
    Found(&'static Route, Option<i64>),
    /// The path is served, not with this method: `405` with these methods in `Allow`.
    MethodNotAllowed(String),
    NotFound,
}

/// Positive decimal ids only: "01", "+1", "-1" and overflow match no route.
fn id(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0')
    {
        return None;
    }
    s.parse().ok()
}

/// Whether `path` fits `pattern`, and the `{id}` it carries.
fn matches(pattern: &str, path: &str) -> Option<Option<i64>> {
    if pattern == "*" {
        let first = path.trim_start_matches('/').split('/').next();
        return (first != Some("api")).then_some(None);
    }
    let mut want = pattern.trim_start_matches('/').split('/');
    let mut have = path.trim_start_matches('/').split('/');
    let mut found = None;
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(found),
            (Some("{id}"), Some(seg)) => found = Some(id(seg)?),
            (Some(w), Some(h)) if w == h => {}
            _ => return None,
        }
    }
}

/// The route for `method path`. `HEAD` is served as `GET`.
pub fn resolve(method: &Method, path: &str) -> Resolved {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let mut allowed: Vec<&Method> = Vec::new();
    for route in ROUTES {
        if let Some(id) = matches(route.pattern, path) {
            if route.method == method {
                return Resolved::Found(route, id);
            }
            if !allowed.contains(&&route.method) {
                allowed.push(&route.method);
            }
        }
    }
    if allowed.is_empty() {
        return Resolved::NotFound;
    }
    let mut allow: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
    if allow.contains(&"GET") {
        allow.push("HEAD");
    }
    allow.push("OPTIONS");
    Resolved::MethodNotAllowed(allow.join(", "))
}

/// Runs the route's handler; a session route's caller is authenticated first.
pub async fn dispatch(state: &AppState, route: &Route, req: Request) -> Result<Response> {
    match route.handler {
        Handler::Public(handler) => handler(state, req).await,
        Handler::Session(handler) => {
            let caller = guard::authenticate(state, &req.headers).await?;
            handler(state, caller, req).await
        }
    }
}

/// `404 not_found` for a path no route serves.
pub fn not_found(method: &Method, path: &str) -> Error {
    Error::api(
        protocol::ErrorCode::NotFound,
        format!("no route for {method} {path}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(m: &str, path: &str) -> Option<(&'static str, Option<i64>)> {
        match resolve(&m.parse().unwrap(), path) {
            Resolved::Found(r, id) => Some((r.name, id)),
            _ => None,
        }
    }

    /// A concrete path for a pattern.
    fn example(pattern: &str) -> String {
        pattern.replace("{id}", "12")
    }

    #[test]
    fn every_route_resolves_to_itself() {
        for r in ROUTES.iter().filter(|r| r.pattern != "*") {
            let got = found(r.method.as_str(), &example(r.pattern));
            let id = r.pattern.contains("{id}").then_some(12);
            assert_eq!(got, Some((r.name, id)), "{} {}", r.method, r.pattern);
        }
        assert_eq!(found("HEAD", "/healthz"), Some(("healthz", None)));
        assert_eq!(found("GET", "/"), Some(("static", None)));
        assert_eq!(found("HEAD", "/app.js"), Some(("static", None)));
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = ROUTES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn unknown_paths_are_404_and_other_methods_405_with_allow() {
        for path in [
            "/api/nope",
            "/api/todos/abc",
            "/api/todos/-1",
            "/api/todos/0",
            "/api/todos/01",
            "/api/todos/99999999999999999999",
            "/api",
        ] {
            assert!(
                matches!(resolve(&Method::GET, path), Resolved::NotFound),
                "{path}"
            );
        }
        match resolve(&Method::PUT, "/api/todos/1") {
            Resolved::MethodNotAllowed(allow) => {
                assert_eq!(allow, "GET, PATCH, DELETE, HEAD, OPTIONS")
            }
            _ => panic!("PUT /api/todos/1 should be 405"),
        }
        match resolve(&"TRACE".parse().unwrap(), "/healthz") {
            Resolved::MethodNotAllowed(allow) => assert_eq!(allow, "GET, HEAD, OPTIONS"),
            _ => panic!("TRACE /healthz should be 405"),
        }
        assert!(matches!(
            resolve(&Method::POST, "/"),
            Resolved::MethodNotAllowed(_)
        ));
    }
}
