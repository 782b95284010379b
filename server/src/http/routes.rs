//! Every route the server serves, in one enum: resolution, names for logs and metrics, and the
//! dispatch to the handler. `openapi::tests` checks this list against the OpenAPI document.

use http::Method;
use warp::reply::Response;

use super::{Request, auth, conversations, ops, static_files, todos};
use crate::app::AppState;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Register,
    Login,
    Verify,
    Refresh,
    Logout,
    ListTodos,
    CreateTodo,
    GetTodo(i64),
    UpdateTodo(i64),
    DeleteTodo(i64),
    ListConversations,
    ListMessages(i64),
    DeleteConversation(i64),
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
    Socket,
    /// The web client: any other GET outside `/api/`.
    Static,
}

/// (method, OpenAPI path, example concrete path) for each route the OpenAPI document must have.
pub const DOCUMENTED: &[(&str, &str, &str)] = &[
    ("POST", "/api/auth/register", "/api/auth/register"),
    ("POST", "/api/auth/login", "/api/auth/login"),
    ("GET", "/api/auth/verify", "/api/auth/verify"),
    ("POST", "/api/auth/refresh", "/api/auth/refresh"),
    ("POST", "/api/auth/logout", "/api/auth/logout"),
    ("GET", "/api/todos", "/api/todos"),
    ("POST", "/api/todos", "/api/todos"),
    ("GET", "/api/todos/{id}", "/api/todos/1"),
    ("PATCH", "/api/todos/{id}", "/api/todos/1"),
    ("DELETE", "/api/todos/{id}", "/api/todos/1"),
    ("GET", "/api/conversations", "/api/conversations"),
    (
        "GET",
        "/api/conversations/{id}/messages",
        "/api/conversations/1/messages",
    ),
    ("DELETE", "/api/conversations/{id}", "/api/conversations/1"),
    ("GET", "/healthz", "/healthz"),
    ("GET", "/readyz", "/readyz"),
    ("GET", "/metrics", "/metrics"),
    ("GET", "/api/openapi.json", "/api/openapi.json"),
    ("GET", "/ws", "/ws"),
];

fn id(s: &str) -> Option<i64> {
    // Positive decimal ids only: "01", "+1", "-1" and overflow are unknown routes.
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0')
    {
        return None;
    }
    s.parse().ok()
}

impl Route {
    /// The route for `method path`, or `None` (404). `HEAD` is served as `GET`.
    pub fn resolve(method: &Method, path: &str) -> Option<Route> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let m = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let m = m.as_str();
        Some(match (m, segs.as_slice()) {
            ("POST", ["api", "auth", "register"]) => Route::Register,
            ("POST", ["api", "auth", "login"]) => Route::Login,
            ("GET", ["api", "auth", "verify"]) => Route::Verify,
            ("POST", ["api", "auth", "refresh"]) => Route::Refresh,
            ("POST", ["api", "auth", "logout"]) => Route::Logout,
            ("GET", ["api", "todos"]) => Route::ListTodos,
            ("POST", ["api", "todos"]) => Route::CreateTodo,
            ("GET", ["api", "todos", i]) => Route::GetTodo(id(i)?),
            ("PATCH", ["api", "todos", i]) => Route::UpdateTodo(id(i)?),
            ("DELETE", ["api", "todos", i]) => Route::DeleteTodo(id(i)?),
            ("GET", ["api", "conversations"]) => Route::ListConversations,
            ("GET", ["api", "conversations", i, "messages"]) => Route::ListMessages(id(i)?),
            ("DELETE", ["api", "conversations", i]) => Route::DeleteConversation(id(i)?),
            ("GET", ["healthz"]) => Route::Healthz,
            ("GET", ["readyz"]) => Route::Readyz,
            ("GET", ["metrics"]) => Route::Metrics,
            ("GET", ["api", "openapi.json"]) => Route::OpenApi,
            ("GET", ["ws"]) => Route::Socket,
            ("GET", ["api", ..]) => return None,
            ("GET", _) => Route::Static,
            _ => return None,
        })
    }

    /// A bounded label for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Route::Register => "register",
            Route::Login => "login",
            Route::Verify => "verify",
            Route::Refresh => "refresh",
            Route::Logout => "logout",
            Route::ListTodos => "list_todos",
            Route::CreateTodo => "create_todo",
            Route::GetTodo(_) => "get_todo",
            Route::UpdateTodo(_) => "update_todo",
            Route::DeleteTodo(_) => "delete_todo",
            Route::ListConversations => "list_conversations",
            Route::ListMessages(_) => "list_messages",
            Route::DeleteConversation(_) => "delete_conversation",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::OpenApi => "openapi",
            Route::Socket => "ws",
            Route::Static => "static",
        }
    }

    pub fn method(self) -> &'static str {
        match self {
            Route::Register | Route::Login | Route::Refresh | Route::Logout | Route::CreateTodo => {
                "POST"
            }
            Route::UpdateTodo(_) => "PATCH",
            Route::DeleteTodo(_) | Route::DeleteConversation(_) => "DELETE",
            _ => "GET",
        }
    }
}

pub async fn dispatch(state: &AppState, route: Route, req: Request) -> Result<Response> {
    match route {
        Route::Register => auth::register(state, req).await,
        Route::Login => auth::login(state, req).await,
        Route::Verify => auth::verify(state, req).await,
        Route::Refresh => auth::refresh(state, req).await,
        Route::Logout => auth::logout(state, req).await,
        Route::ListTodos => todos::list(state, req).await,
        Route::CreateTodo => todos::create(state, req).await,
        Route::GetTodo(id) => todos::get(state, req, id).await,
        Route::UpdateTodo(id) => todos::update(state, req, id).await,
        Route::DeleteTodo(id) => todos::delete(state, req, id).await,
        Route::ListConversations => conversations::list(state, req).await,
        Route::ListMessages(id) => conversations::messages(state, req, id).await,
        Route::DeleteConversation(id) => conversations::delete(state, req, id).await,
        Route::Healthz => Ok(ops::healthz()),
        Route::Readyz => Ok(ops::readyz(state).await),
        Route::Metrics => Ok(ops::metrics(state).await),
        Route::OpenApi => Ok(ops::openapi()),
        Route::Socket => crate::realtime::socket::upgrade(state, req).await,
        Route::Static => Ok(static_files::serve(state, &req).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_route_resolves_and_unknown_ones_do_not() {
        for (m, _, path) in DOCUMENTED {
            let r = Route::resolve(&m.parse().unwrap(), path);
            assert!(
                r.is_some_and(|r| r != Route::Static && r.method() == *m),
                "{m} {path}"
            );
        }
        for (m, path) in [
            ("GET", "/api/nope"),
            ("PUT", "/api/todos/1"),
            ("GET", "/api/todos/abc"),
            ("GET", "/api/todos/-1"),
            ("GET", "/api/todos/0"),
            ("GET", "/api/todos/99999999999999999999"),
            ("POST", "/"),
            ("DELETE", "/api/todos"),
        ] {
            assert_eq!(
                Route::resolve(&m.parse().unwrap(), path),
                None,
                "{m} {path}"
            );
        }
        assert_eq!(Route::resolve(&Method::GET, "/"), Some(Route::Static));
        assert_eq!(
            Route::resolve(&Method::HEAD, "/app.js"),
            Some(Route::Static)
        );
    }
}
