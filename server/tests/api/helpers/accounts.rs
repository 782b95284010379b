//! Users and their tokens: registering and logging in, the tokens a response sets, a JWT's
//! claims, and the shape of a `User` as the contract states it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use protocol::{Todo, User};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::app::TestApp;
use super::http::{Client, Resp, cookie_value, set_cookie};

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// Registers a fresh user and returns its logged-in client.
    pub async fn user(&self) -> (Client, User) {
        let c = self.client();
        let user = c.register_new().await;
        (c, user)
    }
}

impl Client {
    /// Registers a new random user with this client (its cookies now log it in).
    pub async fn register_new(&self) -> User {
        let email = unique_email();
        let r = self.post("/api/auth/register", register_body(&email)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        serde_json::from_value(r.body["user"].clone()).expect("user")
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// The access token this client's jar holds (tests need it for bearer/WS headers).
    pub fn access_token(&self, resp_cookies: &[String]) -> Option<String> {
        resp_cookies.iter().find_map(|c| {
            c.strip_prefix("access_token=")
                .map(|v| v.split(';').next().unwrap_or("").to_owned())
        })
    }

    pub async fn add_todo(&self, title: &str) -> Todo {
        let r = self.post("/api/todos", json!({"title": title})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.todo()
    }
}

pub fn unique_email() -> String {
    let n: u64 = rand::random();
    format!("user{n:016x}@example.com")
}

/// Registers a user and returns (client, user, access token) — the token for sockets.
pub async fn user_with_token(app: &TestApp) -> (Client, User, String) {
    let c = app.client();
    let email = unique_email();
    let r = c.post("/api/auth/register", register_body(&email)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let token = c.access_token(&r.cookies()).expect("access cookie");
    let user = serde_json::from_value(r.body["user"].clone()).expect("user");
    (Client { email, ..c }, user, token)
}

/// The body of a register (or login) with the test password.
pub fn register_body(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD})
}

/// The access token and refresh token a response sets.
pub fn tokens(r: &Resp) -> (String, String) {
    let access = set_cookie(r, "access_token")
        .map(|l| cookie_value(&l))
        .expect("access cookie");
    let refresh = set_cookie(r, "refresh_token")
        .map(|l| cookie_value(&l))
        .expect("refresh cookie");
    (access, refresh)
}

/// The claims of a JWT, read without checking it.
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("json claims")
}

/// `POST /api/auth/refresh` presenting exactly this refresh token (no jar).
pub async fn refresh_with(app: &TestApp, refresh: &str) -> Resp {
    let c = Client::new(&app.url);
    c.send(
        c.http
            .post(format!("{}/api/auth/refresh", app.url))
            .header("cookie", format!("refresh_token={refresh}")),
    )
    .await
}

pub fn assert_user_shape(u: &Value, email: &str) {
    let keys: Vec<&str> = u
        .as_object()
        .expect("user object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "email", "id", "name"], "{u}");
    assert!(u["id"].as_i64().is_some_and(|id| id > 0));
    assert_eq!(u["email"], email);
    let created: DateTime<Utc> = u["created_at"]
        .as_str()
        .expect("created_at")
        .parse()
        .expect("RFC 3339");
    assert!((Utc::now() - created).num_seconds().abs() < 60);
}
