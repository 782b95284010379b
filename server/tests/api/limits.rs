//! Limits that an attacker could once turn against users, and the smaller holes of issue 10:
//! failed logins budgeted per (account, source) so nobody can keep an owner out, client
//! addresses from `X-Forwarded-For` only behind a trusted proxy (IPv6 by /64), REST writes and
//! bad socket frames spending the user's budget, `METRICS_TOKEN`, a bad `Authorization` never
//! replaced by a good cookie, `nbf` and future `iat`, emails compared in NFC.

use std::time::Duration;

use futures_util::SinkExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use protocol::{ClientMessage, ErrorCode, ServerMessage};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use server::config::Cidr;
use server::service::auth::tokens::{AUDIENCE, Claims, ISSUER};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    Client, PASSWORD, TestApp, connect, retry_after, spawn_app_with, unique_email, user_with_token,
};

/// A browser behind the trusted proxy, at client address `ip` (the proxy's `X-Forwarded-For`).
fn client_at(app: &TestApp, ip: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", ip.parse().expect("header"));
    Client::with_headers(&app.url, headers)
}

/// Wrong passwords from `ip` (a fresh browser each time) until the source is slowed down;
/// how many failed first.
async fn hammer(app: &TestApp, ip: &str, email: &str) -> usize {
    for failures in 0..20 {
        let r = client_at(app, ip).login(email, "wrong password!").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.code(), "rate_limited");
            let wait = retry_after(&r);
            assert!((1..=40).contains(&wait), "{wait}");
            return failures;
        }
        assert_eq!(r.code(), "invalid_credentials", "{:?}", r.body);
    }
    panic!("{ip} was never slowed down");
}

fn trusting_localhost(c: &mut server::config::Config) {
    c.trusted_proxies = vec![Cidr::parse("127.0.0.1").unwrap()];
}

#[tokio::test]
async fn an_attacker_cannot_keep_the_owner_out() {
    let app = spawn_app_with(trusting_localhost).await;
    let owner = client_at(&app, "198.51.100.7");
    let email = unique_email();
    let r = owner
        .post(
            "/api/auth/register",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // An attacker elsewhere spends its own budget: five failures, then it is slowed down —
    // even with the right password, from there.
    assert_eq!(hammer(&app, "203.0.113.66", &email).await, 5);
    let r = client_at(&app, "203.0.113.66")
        .login(&email, PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.cookies().is_empty());
    // The owner, from another address, gets in — in any casing of the email.
    let r = client_at(&app, "198.51.100.7")
        .login(&email.to_uppercase(), PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // An attacker on the owner's own address (one NAT): a browser that has logged in there
    // before keeps its own budget; a new one there is slowed down with the attacker.
    assert_eq!(hammer(&app, "198.51.100.7", &email).await, 5);
    let r = owner.login(&email, PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the owner's browser: {:?}",
        r.body
    );
    let r = client_at(&app, "198.51.100.7")
        .login(&email, PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // A device cookie is bound to its account: shown for another, it is just an address.
    let (other, _, _) = user_with_token(&app).await;
    let device = owner
        .post(
            "/api/auth/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("device="))
        .expect("a device cookie on login");
    assert!(device.contains("HttpOnly") && device.contains("Path=/api/auth"));
    assert_eq!(hammer(&app, "198.51.100.8", &other.email).await, 5);
    let r = client_at(&app, "198.51.100.8")
        .send(
            client_at(&app, "198.51.100.8")
                .http
                .post(format!("{}/api/auth/login", app.url))
                .header("cookie", device.split(';').next().unwrap())
                .json(&json!({"email": other.email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_peer_and_ipv6_counts_by_64() {
    let register = |c: Client| async move {
        c.post(
            "/api/auth/register",
            json!({"email": unique_email(), "password": PASSWORD}),
        )
        .await
        .status
    };
    // Not trusted: every X-Forwarded-For is the same client, 127.0.0.1.
    let app = spawn_app_with(|c| c.auth_rate_per_min = 2).await;
    assert_eq!(
        register(client_at(&app, "10.0.0.1")).await,
        StatusCode::CREATED
    );
    assert_eq!(
        register(client_at(&app, "10.0.0.2")).await,
        StatusCode::CREATED
    );
    assert_eq!(
        register(client_at(&app, "10.0.0.3")).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Trusted: the rightmost address that is not a proxy is the client.
    let app = spawn_app_with(|c| {
        c.auth_rate_per_min = 2;
        trusting_localhost(c);
    })
    .await;
    for spoofed in ["6.6.6.6, 203.0.113.5", "7.7.7.7, 203.0.113.5"] {
        assert_eq!(
            register(client_at(&app, spoofed)).await,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        register(client_at(&app, "8.8.8.8, 203.0.113.5")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "what the client wrote to the left buys no fresh budget"
    );
    assert_eq!(
        register(client_at(&app, "203.0.113.6")).await,
        StatusCode::CREATED
    );
    // IPv6: one /64 is one client.
    assert_eq!(
        register(client_at(&app, "2001:db8::1")).await,
        StatusCode::CREATED
    );
    assert_eq!(
        register(client_at(&app, "2001:db8::2")).await,
        StatusCode::CREATED
    );
    assert_eq!(
        register(client_at(&app, "2001:db8::3")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        register(client_at(&app, "2001:db8:0:1::1")).await,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_devices_list_shows_the_forwarded_client_address() {
    let app = spawn_app_with(trusting_localhost).await;
    let c = client_at(&app, "198.51.100.44");
    let r = c
        .post(
            "/api/auth/register",
            json!({"email": unique_email(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = c.get("/api/auth/sessions").await;
    assert_eq!(r.body["sessions"][0]["ip"], "198.51.100.44", "{:?}", r.body);
}

#[tokio::test]
async fn rest_writes_and_socket_messages_share_one_budget() {
    // One a second, a burst of two.
    let app = spawn_app_with(|c| c.ws_rate_per_sec = 1).await;
    let (c, _, token) = user_with_token(&app).await;
    let mut ws = connect(&app, &token).await;
    let statuses = [
        c.post("/api/todos", json!({"title": "a"})).await,
        c.post("/api/todos", json!({"title": "b"})).await,
        c.post("/api/todos", json!({"title": "c"})).await,
    ];
    assert_eq!(statuses[0].status, StatusCode::CREATED);
    let refused = statuses
        .iter()
        .find(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .expect("a third write in the same second is refused");
    assert_eq!(refused.code(), "rate_limited");
    assert!(retry_after(refused) >= 1);
    // The socket draws on the same budget…
    let reply = ws
        .call(ClientMessage::TodoAdd {
            title: "d".into(),
            description: None,
        })
        .await;
    assert!(
        matches!(
            reply,
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            }
        ),
        "{reply:?}"
    );
    // …and reads are not limited.
    for _ in 0..5 {
        assert_eq!(c.get("/api/todos").await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn malformed_binary_and_unknown_frames_spend_the_budget_and_end_in_4029() {
    let app = spawn_app_with(|c| c.ws_rate_per_sec = 1).await;
    let (_, _, token) = user_with_token(&app).await;
    let mut ws = connect(&app, &token).await;
    let mut codes = Vec::new();
    let junk = [
        Message::Text("not json".into()),
        Message::Binary(vec![1, 2, 3].into()),
        Message::Text(r#"{"type":"nope","id":"x"}"#.into()),
    ];
    let closed = loop {
        assert!(codes.len() < 100, "never closed: {codes:?}");
        ws.ws
            .send(junk[codes.len() % junk.len()].clone())
            .await
            .expect("send");
        match tokio::time::timeout(
            Duration::from_secs(10),
            futures_util::StreamExt::next(&mut ws.ws),
        )
        .await
        .expect("an answer")
        {
            Some(Ok(Message::Text(t))) => {
                let m: Value = serde_json::from_str(t.as_str()).expect("json");
                codes.push(m["code"].as_str().unwrap_or("").to_owned());
            }
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(closed, 4029, "{codes:?}");
    assert!(
        codes.iter().take(2).all(|c| c == "bad_request"),
        "{codes:?}"
    );
    assert!(
        codes.iter().filter(|c| *c == "rate_limited").count() >= 10,
        "{codes:?}"
    );
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_set() {
    let app = spawn_app_with(|c| {
        c.metrics_token = Some(secrecy::SecretString::from(
            "metrics-secret-token".to_owned(),
        ));
    })
    .await;
    let (_, _, user_token) = user_with_token(&app).await;
    let c = app.client();
    let get = |auth: Option<&str>| {
        let mut req = c.http.get(format!("{}/metrics", app.url));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        c.send(req)
    };
    assert_eq!(get(None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(Some("Bearer metrics-secret-tokeN")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(Some(&format!("Bearer {user_token}"))).await.status,
        StatusCode::UNAUTHORIZED,
        "a user's session is not the metrics token"
    );
    let r = get(Some("Bearer metrics-secret-token")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body
            .as_str()
            .unwrap_or("")
            .contains("http_requests_total")
    );
    // Unset: open, as before.
    let open = spawn_app_with(|_| {}).await;
    assert_eq!(open.client().get("/metrics").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_bad_authorization_header_is_not_replaced_by_a_good_cookie() {
    let app = spawn_app_with(|_| {}).await;
    let (c, _, _) = user_with_token(&app).await;
    assert_eq!(c.get("/api/auth/verify").await.status, StatusCode::OK);
    for bad in [
        "Bearer not-a-token".as_bytes(),
        b"Basic dXNlcjpwYXNz",
        b"Bearer",
        b"Bearer \xff\xfe",
    ] {
        let value = reqwest::header::HeaderValue::from_bytes(bad).expect("header value");
        let r = c
            .send(
                c.http
                    .get(format!("{}/api/auth/verify", app.url))
                    .header("authorization", value),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(r.code(), "unauthenticated");
    }
}

#[tokio::test]
async fn tokens_not_yet_valid_or_issued_in_the_future_are_refused() {
    let app = spawn_app_with(|_| {}).await;
    let (_, user, token) = user_with_token(&app).await;
    let sid = {
        let payload = token.split('.').nth(1).expect("payload");
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .expect("base64");
        serde_json::from_slice::<Value>(&bytes).expect("json")["sid"]
            .as_i64()
            .expect("sid")
    };
    let key = app
        .app
        .state
        .config
        .jwt_secret
        .as_ref()
        .expect("tests set a key")
        .expose_secret()
        .as_bytes()
        .to_vec();
    let now = chrono::Utc::now().timestamp();
    let sign = |iat: i64, nbf: Option<i64>| {
        let claims = Claims {
            sub: user.id.to_string(),
            sid,
            iat,
            exp: now + 600,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            nbf,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&key),
        )
        .expect("sign")
    };
    let c = app.client();
    let verify = |jwt: String| {
        c.send(
            c.http
                .get(format!("{}/api/auth/verify", app.url))
                .bearer_auth(jwt),
        )
    };
    assert_eq!(
        verify(sign(now, None)).await.status,
        StatusCode::OK,
        "control"
    );
    assert_eq!(
        verify(sign(now, Some(now - 5))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        verify(sign(now, Some(now + 300))).await.status,
        StatusCode::UNAUTHORIZED,
        "not valid before"
    );
    assert_eq!(
        verify(sign(now + 300, None)).await.status,
        StatusCode::UNAUTHORIZED,
        "issued in the future"
    );
}

#[tokio::test]
async fn emails_that_differ_only_in_unicode_normalization_are_one_account() {
    let app = spawn_app_with(|_| {}).await;
    let n: u32 = rand::random();
    let composed = format!("jos\u{e9}{n}@example.com");
    let decomposed = format!("jose\u{301}{n}@example.com");
    let c = app.client();
    let r = c
        .post(
            "/api/auth/register",
            json!({"email": composed, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .client()
        .post(
            "/api/auth/register",
            json!({"email": decomposed, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "email_taken");
    let r = app.client().login(&decomposed, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}
