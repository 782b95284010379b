//! The route table: one entry per route — method, path pattern, name, who may call it, and how
//! the OpenAPI document describes it ([`Doc`]: its body and answer as protocol types, its own
//! errors) — and everything derived from it: resolution (with `405` and `Allow` for a known
//! path's other methods), the names in logs and metrics, the OpenAPI paths, and the dispatch.
//!
//! Authentication is decided here, once: a [`Handler::Session`] route's handler takes the
//! [`Caller`] as an argument, which only [`dispatch`] can give it, after checking the request's
//! credentials. A handler cannot forget to authenticate, and a public handler has no caller to
//! misuse.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;

use http::{Method, StatusCode};
use protocol::ErrorCode::{
    BadRequest, EmailTaken, InvalidCredentials, RateLimited, Unauthenticated, ValidationFailed,
};
use protocol::{
    ConversationsResponse, CreateTodo, LoginRequest, MessagesResponse, RegisterRequest,
    SessionResponse, SessionsResponse, TodoResponse, TodosResponse, UpdateTodo, UserResponse,
};
use warp::reply::Response;

use super::openapi::{self, Doc, Operation, doc};
use super::{auth, conversations, guard, ops, sessions, static_files, todos};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::transport::reply::with_type;
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
    /// How `/api/openapi.json` describes it; `None`: not listed.
    pub doc: Option<Doc>,
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
    ($method:ident $pattern:literal, $name:literal, $handler:expr, $doc:expr) => {
        Route {
            method: Method::$method,
            pattern: $pattern,
            name: $name,
            handler: $handler,
            doc: Some($doc),
        }
    };
}

/// Every route the server serves.
pub static ROUTES: &[Route] = &[
    route!(POST "/api/auth/register", "register", public!(auth::register),
        doc("Create an account and log in")
            .body::<RegisterRequest>()
            .json::<UserResponse>(201, "registered and logged in: both session cookies are set")
            .errors(&[EmailTaken, RateLimited])),
    route!(POST "/api/auth/login", "login", public!(auth::login),
        doc("Log in (a new session)")
            .body::<LoginRequest>()
            .json::<UserResponse>(200, "logged in: both session cookies are set")
            .errors(&[InvalidCredentials, RateLimited])),
    route!(GET "/api/auth/verify", "verify", session!(auth::verify),
        doc("The current user and when the access token expires")
            .json::<SessionResponse>(200, "the session")),
    route!(POST "/api/auth/refresh", "refresh", public!(auth::refresh),
        doc("Rotate the refresh token (the refresh_token cookie) and issue a new access token")
            .json::<SessionResponse>(200, "refreshed: new cookies are set")
            .errors(&[Unauthenticated, RateLimited])),
    // Public on purpose: it clears the cookies even when the session is already gone, and
    // ends the session its credentials name (401 when they name none).
    route!(POST "/api/auth/logout", "logout", public!(auth::logout),
        doc("End this session at once (REST and sockets) and clear the cookies")
            .empty(204, "logged out")
            .reads_session()),
    route!(POST "/api/auth/logout-all", "logout_all", session!(sessions::logout_all),
        doc("End every session of the caller, this one too, and clear the cookies")
            .empty(204, "logged out everywhere")),
    route!(GET "/api/auth/sessions", "list_sessions", session!(sessions::list),
        doc("The caller's live sessions (devices), newest first")
            .json::<SessionsResponse>(200, "the sessions")),
    route!(DELETE "/api/auth/sessions/{id}", "delete_session", session!(sessions::delete),
        doc("Sign one of the caller's sessions out (its sockets close with 4001)")
            .empty(204, "signed out")),
    route!(GET "/api/todos", "list_todos", session!(todos::list),
        doc("The caller's todos, oldest first")
            .query("status", todos::status_schema)
            .json::<TodosResponse>(200, "the todos")
            .errors(&[ValidationFailed])),
    route!(POST "/api/todos", "create_todo", session!(todos::create),
        doc("Create a todo (every socket of the user sees it)")
            .body::<CreateTodo>()
            .json::<TodoResponse>(201, "created")),
    route!(GET "/api/todos/{id}", "get_todo", session!(todos::get),
        doc("One todo").json::<TodoResponse>(200, "the todo")),
    route!(PATCH "/api/todos/{id}", "update_todo", session!(todos::update),
        doc("Change any of title, description, completed")
            .body::<UpdateTodo>()
            .json::<TodoResponse>(200, "updated")),
    route!(DELETE "/api/todos/{id}", "delete_todo", session!(todos::delete),
        doc("Delete a todo").empty(204, "deleted")),
    route!(GET "/api/conversations", "list_conversations", session!(conversations::list),
        doc("The caller's conversations with the assistant, newest first")
            .json::<ConversationsResponse>(200, "the conversations")),
    route!(GET "/api/conversations/{id}/messages", "list_messages", session!(conversations::messages),
        doc("A conversation's messages, oldest first")
            .json::<MessagesResponse>(200, "the messages")),
    route!(DELETE "/api/conversations/{id}", "delete_conversation", session!(conversations::delete),
        doc("Delete a conversation (a turn still running is cancelled first)")
            .empty(204, "deleted")),
    route!(GET "/healthz", "healthz", public!(ops::healthz),
        doc("Liveness").json::<ops::Status>(200, "the process runs")),
    route!(GET "/readyz", "readyz", public!(ops::readyz),
        doc("Readiness: whether the database answers")
            .json::<ops::Status>(200, "the database answers")),
    route!(GET "/metrics", "metrics", public!(ops::metrics),
        doc("Prometheus metrics").text("text/plain", "the text exposition format")),
    route!(GET "/api/openapi.json", "openapi", public!(serve_document),
        doc("This document").json::<serde_json::Map<String, serde_json::Value>>(200, "OpenAPI 3.1")),
    route!(GET "/ws", "ws", session!(socket::upgrade),
        doc("The WebSocket (its frames are in docs/CONTRACT.md)")
            .empty(101, "upgraded")
            .errors(&[BadRequest])),
    Route {
        method: Method::GET,
        pattern: "*",
        name: "static",
        handler: public!(static_files::serve),
        doc: None,
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

/// The OpenAPI document of the documented routes.
pub fn document() -> &'static str {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        let operations = ROUTES.iter().filter_map(|r| {
            Some(Operation {
                method: &r.method,
                pattern: r.pattern,
                name: r.name,
                needs_session: r.handler.needs_session(),
                origin_checked: guard::origin_checked(&r.method, r.is_socket()),
                doc: r.doc.as_ref()?,
            })
        });
        openapi::document(operations).to_string()
    });
    &DOCUMENT
}

/// `GET /api/openapi.json`. The one handler that lives here: it serves the table itself, and
/// a handler module that imported the table would close an import circle.
async fn serve_document(_state: &AppState, _req: Request) -> Result<Response> {
    Ok(with_type(StatusCode::OK, document(), "application/json"))
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

    fn served_document() -> serde_json::Value {
        serde_json::from_str(document()).unwrap()
    }

    #[test]
    fn the_document_lists_exactly_the_documented_routes() {
        use std::collections::BTreeSet;
        let doc = served_document();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut in_doc = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, _) in item.as_object().unwrap() {
                if method != "parameters" {
                    in_doc.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let documented: BTreeSet<_> = ROUTES
            .iter()
            .filter(|r| r.doc.is_some())
            .map(|r| (r.method.to_string(), r.pattern.to_string()))
            .collect();
        assert_eq!(in_doc, documented);
        assert_eq!(documented.len(), ROUTES.len() - 1, "all but the web client");
        // Exactly the routes that act on a session say how to present it, and answer 401.
        for r in ROUTES.iter().filter(|r| r.doc.is_some()) {
            let op = &doc["paths"][r.pattern][r.method.as_str().to_lowercase()];
            assert_eq!(
                op.get("security").is_some(),
                r.handler.needs_session() || r.name == "logout",
                "{} {}",
                r.method,
                r.pattern
            );
            if r.handler.needs_session() {
                assert!(op["responses"]["401"].is_object(), "{}", r.pattern);
            }
        }
        // Every $ref points at a defined schema.
        for part in document().split("#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{name}");
        }
    }

    /// The document states the rules `protocol::validate` enforces and the contract's enums.
    #[test]
    fn the_document_states_the_enforced_rules() {
        use serde_json::json;
        let doc = served_document();
        let schemas = &doc["components"]["schemas"];
        let all: Vec<&str> = <protocol::ErrorCode as strum::VariantArray>::VARIANTS
            .iter()
            .map(|c| c.as_str())
            .collect();
        assert_eq!(schemas["ErrorCode"]["enum"], json!(all));
        for code in ["method_not_allowed", "request_timeout", "quota_exceeded"] {
            assert!(all.contains(&code), "{code}");
        }
        assert_eq!(
            schemas["StatusFilter"]["enum"],
            json!(["all", "pending", "completed"])
        );
        assert_eq!(
            schemas["Role"]["enum"],
            json!(["user", "assistant", "tool"])
        );

        let register = &schemas["RegisterRequest"];
        assert_eq!(register["required"], json!(["email", "password"]));
        let password = &register["properties"]["password"];
        assert_eq!(
            (&password["minLength"], &password["maxLength"]),
            (&json!(8), &json!(1024))
        );
        let name = register["properties"]["name"]["pattern"].as_str().unwrap();
        assert!(name.contains("{0,98}"), "{name}");

        let create = &schemas["CreateTodo"];
        assert_eq!(create["required"], json!(["title"]));
        assert_eq!(create["properties"]["title"]["type"], "string");
        let title = create["properties"]["title"]["pattern"].as_str().unwrap();
        assert!(title.contains("{0,498}"), "{title}");
        assert_eq!(create["properties"]["description"]["maxLength"], 10_000);
        assert_eq!(
            create["properties"]["description"]["type"],
            json!(["string", "null"])
        );
        // A patch needs one field that is not null.
        let update = &schemas["UpdateTodo"];
        assert_eq!(update["anyOf"].as_array().unwrap().len(), 3);
        assert!(update.get("required").is_none());
        // `?status=` is a status or empty.
        let list = &doc["paths"]["/api/todos"]["get"];
        assert_eq!(list["parameters"][0]["name"], "status");

        // Answers: the todo as stored, the user with its nullable name.
        assert_eq!(
            schemas["Todo"]["required"],
            json!([
                "id",
                "title",
                "description",
                "completed",
                "created_at",
                "updated_at"
            ])
        );
        assert_eq!(
            schemas["User"]["required"],
            json!(["id", "email", "name", "created_at"])
        );
    }
}
