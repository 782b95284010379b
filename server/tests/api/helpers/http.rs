//! HTTP as a client sees it: [`Client`] (one browser: its own cookie jar), [`Bearer`] (no jar,
//! `Authorization: Bearer`), requests a well-behaved client would not send (a raw body, an
//! `Origin`, raw bytes on a fresh TCP connection), and reading `Set-Cookie` lines.

use std::time::Duration;

use protocol::Todo;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::app::TestApp;

impl TestApp {
    /// A client with its own cookie jar (one browser).
    pub fn client(&self) -> Client {
        Client::new(&self.url)
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
}

/// An origin no test server allows.
pub const EVIL: &str = "https://evil.example";

/// The full `Set-Cookie` line for cookie `name`, if the response sets it.
pub fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.cookies()
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// The value part of a `Set-Cookie` line.
pub fn cookie_value(line: &str) -> String {
    line.split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

/// The attributes of a `Set-Cookie` line, after the value, trimmed.
pub fn cookie_attrs(line: &str) -> Vec<String> {
    line.split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect()
}

pub fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A client with an empty cookie jar that sends `Authorization: Bearer <token>`.
pub struct Bearer {
    pub c: Client,
    pub token: String,
}

impl Bearer {
    pub fn new(app: &TestApp, token: &str) -> Self {
        Self {
            c: Client::new(&app.url),
            token: token.to_owned(),
        }
    }
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.c.base)
    }
    pub async fn get(&self, path: &str) -> Resp {
        self.c
            .send(self.c.http.get(self.url(path)).bearer_auth(&self.token))
            .await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.c
            .send(
                self.c
                    .http
                    .post(self.url(path))
                    .bearer_auth(&self.token)
                    .json(&body),
            )
            .await
    }
    pub async fn post_empty(&self, path: &str) -> Resp {
        self.c
            .send(self.c.http.post(self.url(path)).bearer_auth(&self.token))
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.c
            .send(
                self.c
                    .http
                    .patch(self.url(path))
                    .bearer_auth(&self.token)
                    .json(&body),
            )
            .await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.c
            .send(self.c.http.delete(self.url(path)).bearer_auth(&self.token))
            .await
    }
}

/// `POST path` with a raw body and content type, through `c` (its cookies go along).
pub async fn post_raw(c: &Client, path: &str, content_type: &str, body: &'static str) -> Resp {
    c.send(
        c.http
            .post(format!("{}{path}", c.base))
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

/// Sends `method path` with an `Origin` header (and a JSON body when given) through `c`.
pub async fn with_origin(
    c: &Client,
    method: &str,
    path: &str,
    origin: &str,
    body: Option<Value>,
) -> Resp {
    let m: reqwest::Method = method.parse().expect("method");
    let mut req = c
        .http
        .request(m, format!("{}{path}", c.base))
        .header("origin", origin);
    if let Some(b) = body {
        req = req.json(&b);
    }
    c.send(req).await
}

/// Writes `request` to the server on a fresh TCP connection and reads the answer until the
/// server closes: (status, head, body). For what an HTTP client library would normalise away.
pub async fn raw_http(app: &TestApp, request: &[u8]) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(app.app.addr)
        .await
        .expect("connect");
    s.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("answer in time");
    // A server that answers early and closes may reset the connection: keep what arrived.
    let _ = read;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}
