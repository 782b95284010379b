//! `spawn_app` (a real server per test, on its own database), an HTTP client with a cookie jar,
//! and a WebSocket client that speaks the protocol crate.

#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{ClientFrame, ClientMessage, ServerMessage, Todo, User};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::app::App;
use server::config::Config;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const PASSWORD: &str = "correct horse battery";

/// Which database this run uses: `TEST_DATABASE_URL` (a PostgreSQL server URL) or SQLite.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

/// A fresh, empty database URL for one test.
pub async fn fresh_database() -> String {
    let n: u64 = rand::random();
    match postgres_admin_url() {
        Some(admin) => {
            use sqlx::Connection;
            let name = format!("test_{n:016x}");
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect to TEST_DATABASE_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let base = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(b, _)| b)
                .to_owned();
            format!("{base}/{name}")
        }
        None => {
            let dir = std::env::temp_dir().join("todo-server-tests");
            std::fs::create_dir_all(&dir).expect("temp dir");
            format!("sqlite://{}/{n:016x}.db?mode=rwc", dir.display())
        }
    }
}

pub struct TestApp {
    pub app: App,
    pub url: String,
    pub database_url: String,
    /// Drops the test's PostgreSQL database when the test ends (only on the app that made it).
    _db: Option<DropDatabase>,
}

/// Drops a per-test PostgreSQL database (`WITH (FORCE)`, which ends leftover connections).
pub struct DropDatabase {
    admin: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Boots the server with test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Boots the server after `tweak` changes the test configuration.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let database_url = fresh_database().await;
    let mut app = spawn_on(&database_url, tweak).await;
    app._db = postgres_admin_url().map(|admin| DropDatabase {
        admin,
        name: database_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
    });
    app
}

/// Boots a server on an existing database (a second instance, or a restart).
pub async fn spawn_on(database_url: &str, tweak: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        server::telemetry::init_for_tests();
    }
    let mut config = Config::for_tests(database_url);
    tweak(&mut config);
    let app = App::spawn(config).await.expect("server starts");
    let url = app.url();
    TestApp {
        app,
        url,
        database_url: database_url.to_owned(),
        _db: None,
    }
}

impl TestApp {
    /// A client with its own cookie jar (one browser).
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    /// Registers a fresh user and returns its logged-in client.
    pub async fn user(&self) -> (Client, User) {
        let c = self.client();
        let user = c.register_new().await;
        (c, user)
    }

    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.url.replacen("http", "ws", 1))
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub email: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    /// The contract's error code, if this is an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .collect()
    }
    pub fn todo(&self) -> Todo {
        serde_json::from_value(self.body["todo"].clone()).expect("a todo")
    }
    pub fn todos(&self) -> Vec<Todo> {
        serde_json::from_value(self.body["todos"].clone()).expect("todos")
    }
}

pub fn unique_email() -> String {
    let n: u64 = rand::random();
    format!("user{n:016x}@example.com")
}

impl Client {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            http,
            base: base.to_owned(),
            email: String::new(),
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }
    pub async fn post_empty(&self, path: &str) -> Resp {
        self.send(self.http.post(format!("{}{path}", self.base)))
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(&body))
            .await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    /// Registers a new random user with this client (its cookies now log it in).
    pub async fn register_new(&self) -> User {
        let email = unique_email();
        let r = self
            .post(
                "/api/auth/register",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
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

/// Registers a user and returns (client, user, access token) — the token for sockets.
pub async fn user_with_token(app: &TestApp) -> (Client, User, String) {
    let c = app.client();
    let email = unique_email();
    let r = c
        .post(
            "/api/auth/register",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let token = c.access_token(&r.cookies()).expect("access cookie");
    let user = serde_json::from_value(r.body["user"].clone()).expect("user");
    (Client { email, ..c }, user, token)
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket client that speaks the protocol crate.
pub struct Socket {
    pub ws: WsStream,
    pub welcome: ServerMessage,
    next_id: u64,
}

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Opens `/ws` with a bearer token and reads the welcome.
pub async fn connect(app: &TestApp, token: &str) -> Socket {
    let mut req = app.ws_url().into_client_request().expect("ws request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connects");
    let welcome = next_json(&mut ws).await;
    assert!(
        matches!(welcome, ServerMessage::Welcome { .. }),
        "{welcome:?}"
    );
    Socket {
        ws,
        welcome,
        next_id: 0,
    }
}

async fn next_json(ws: &mut WsStream) -> ServerMessage {
    loop {
        let msg = tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        match msg {
            Message::Text(t) => {
                return serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("{e}: {t}"));
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

impl Socket {
    pub fn welcome_seq(&self) -> i64 {
        match &self.welcome {
            ServerMessage::Welcome { seq, .. } => *seq,
            _ => unreachable!(),
        }
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Sends a message with a fresh id and returns the id.
    pub async fn send(&mut self, msg: ClientMessage) -> String {
        self.next_id += 1;
        let id = format!("c{}", self.next_id);
        let frame = ClientFrame {
            id: Some(id.clone()),
            msg,
        };
        self.send_raw(&serde_json::to_string(&frame).expect("json"))
            .await;
        id
    }

    pub async fn recv(&mut self) -> ServerMessage {
        next_json(&mut self.ws).await
    }

    /// Reads frames until the ack or error for `id`, returning it and the frames before it.
    pub async fn reply_to(&mut self, id: &str) -> (ServerMessage, Vec<ServerMessage>) {
        let mut before = Vec::new();
        loop {
            let m = self.recv().await;
            match &m {
                ServerMessage::Ack { id: Some(i), .. }
                | ServerMessage::Error { id: Some(i), .. }
                    if i == id =>
                {
                    return (m, before);
                }
                _ => before.push(m),
            }
        }
    }

    /// Sends and waits for the reply.
    pub async fn call(&mut self, msg: ClientMessage) -> ServerMessage {
        let id = self.send(msg).await;
        self.reply_to(&id).await.0
    }

    /// The next todo event (skipping acks and other frames).
    pub async fn next_event(&mut self) -> ServerMessage {
        loop {
            let m = self.recv().await;
            if m.seq().is_some() {
                return m;
            }
        }
    }

    /// Asserts nothing arrives for `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        match tokio::time::timeout(wait, self.ws.next()).await {
            Err(_) => {}
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("expected silence, got {other:?}"),
        }
    }

    /// Waits for the close frame and returns its code.
    pub async fn closed_with(&mut self) -> u16 {
        loop {
            match tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("close in time")
            {
                Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
                Some(Ok(Message::Close(None))) | None => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error before close: {e}"),
            }
        }
    }
}
