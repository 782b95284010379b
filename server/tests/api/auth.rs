//! `/api/auth/*` as a client sees it: every row of the contract's auth table, the cookies'
//! exact attributes, the bad inputs, the attacks on the JWT and the refresh token, the
//! cross-site checks, and the per-account lockout.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::service::auth::tokens::{AUDIENCE, ISSUER};

use crate::helpers::{
    Client, PASSWORD, Resp, TestApp, spawn_app, spawn_app_with, unique_email, user_with_token,
};
use crate::ops::{
    Bearer, EVIL, assert_no_leak, cookie_attrs, cookie_value, header, post_raw, set_cookie,
    with_origin,
};

/// The JWT key the attack tests configure, so they can sign tokens the server would accept
/// and change one thing at a time.
const KEY: &[u8] = b"an-hs256-test-key-of-at-least-32-bytes!!";

async fn app_with_known_key() -> TestApp {
    spawn_app_with(|c| c.jwt_secret = Some(String::from_utf8_lossy(KEY).into_owned().into())).await
}

fn register_body(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD})
}

/// The access token and refresh token a response sets.
fn tokens(r: &Resp) -> (String, String) {
    let access = set_cookie(r, "access_token")
        .map(|l| cookie_value(&l))
        .expect("access cookie");
    let refresh = set_cookie(r, "refresh_token")
        .map(|l| cookie_value(&l))
        .expect("refresh cookie");
    (access, refresh)
}

/// The claims of a JWT, read without checking it.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("json claims")
}

fn sign(alg: Algorithm, key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).expect("sign")
}

/// `POST /api/auth/refresh` presenting exactly this refresh token (no jar).
async fn refresh_with(app: &TestApp, refresh: &str) -> Resp {
    let c = Client::new(&app.url);
    c.send(
        c.http
            .post(format!("{}/api/auth/refresh", app.url))
            .header("cookie", format!("refresh_token={refresh}")),
    )
    .await
}

fn assert_user_shape(u: &Value, email: &str) {
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

// ---------------------------------------------------------------------------------------------
// Register
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn register_creates_the_user_and_logs_in_with_both_cookies() {
    let app = spawn_app().await;
    let c = app.client();
    let email = unique_email();
    let r = c
        .post(
            "/api/auth/register",
            json!({"email": email, "password": PASSWORD, "name": "  Ada  "}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_user_shape(&r.body["user"], &email);
    assert_eq!(r.body["user"]["name"], "Ada", "the name is trimmed");
    assert!(
        !r.body.to_string().contains("argon2"),
        "never a password hash"
    );

    let access = set_cookie(&r, "access_token").expect("access cookie");
    assert!(!cookie_value(&access).is_empty());
    assert_eq!(
        cookie_attrs(&access),
        ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=900"]
    );
    let refresh = set_cookie(&r, "refresh_token").expect("refresh cookie");
    assert!(!cookie_value(&refresh).is_empty());
    assert_eq!(
        cookie_attrs(&refresh),
        [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/api/auth",
            "Max-Age=2592000"
        ]
    );

    // Registering logged the client in.
    let v = c.get("/api/auth/verify").await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.body["user"], r.body["user"]);
    // Without a name, `name` is null.
    let r = app
        .client()
        .post("/api/auth/register", register_body(&unique_email()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["user"]["name"], Value::Null);
}

#[tokio::test]
async fn cookies_are_secure_when_configured_and_follow_the_configured_lifetimes() {
    let app = spawn_app_with(|c| {
        c.cookie_secure = true;
        c.access_ttl = Duration::from_secs(120);
        c.refresh_ttl = Duration::from_secs(3600);
    })
    .await;
    let c = app.client();
    let r = c
        .post("/api/auth/register", register_body(&unique_email()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (access, refresh) = (
        set_cookie(&r, "access_token").unwrap(),
        set_cookie(&r, "refresh_token").unwrap(),
    );
    assert_eq!(
        cookie_attrs(&access),
        [
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=120",
            "Secure"
        ]
    );
    assert_eq!(
        cookie_attrs(&refresh),
        [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/api/auth",
            "Max-Age=3600",
            "Secure"
        ]
    );
    // The client sees them over plain http in this test only because reqwest's jar ignores
    // Secure for 127.0.0.1; the token itself is what the rest of this test needs.
    let (token, _) = tokens(&r);
    let b = Bearer::new(&app, &token);
    let out = b.post_empty("/api/auth/logout").await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    for line in out.cookies() {
        assert!(
            line.ends_with("; Secure") && line.contains("Max-Age=0"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn emails_are_unique_case_insensitively() {
    let app = spawn_app().await;
    let local = format!("Mixed.Case{}", rand::random::<u32>());
    let r = app
        .client()
        .post(
            "/api/auth/register",
            register_body(&format!("{local}@Example.COM")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let stored = r.body["user"]["email"].as_str().unwrap().to_owned();
    assert_eq!(
        stored,
        format!("{local}@example.com").to_lowercase(),
        "stored lower-cased"
    );

    for variant in [
        format!("{local}@example.com").to_lowercase(),
        format!("{local}@EXAMPLE.com").to_uppercase(),
        format!("  {local}@example.com "),
    ] {
        let r = app
            .client()
            .post(
                "/api/auth/register",
                json!({"email": variant, "password": "another password"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{variant}: {:?}", r.body);
        assert_eq!(r.code(), "email_taken");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("email")
        );
        assert!(r.cookies().is_empty(), "no session for a refused register");
    }
    // The original password still works, with any casing of the email; the refused
    // registrations changed nothing.
    let r = app.client().login(&stored.to_uppercase(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        app.client().login(&stored, "another password").await.code(),
        "invalid_credentials"
    );
}

#[tokio::test]
async fn register_validates_each_field_with_422_naming_it() {
    let app = spawn_app().await;
    let ok_email = unique_email();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"password": PASSWORD}), "email"),
        (json!({"email": ok_email}), "password"),
        (json!({}), "email"),
        (json!({"email": "", "password": PASSWORD}), "email"),
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (json!({"email": "a@b", "password": PASSWORD}), "email"),
        (
            json!({"email": "@example.com", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": "a b@example.com", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": "a@@example.com", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": format!("{}@example.com", "a".repeat(250)), "password": PASSWORD}),
            "email",
        ),
        (json!({"email": ok_email, "password": ""}), "password"),
        (
            json!({"email": ok_email, "password": "1234567"}),
            "password",
        ),
        (
            json!({"email": ok_email, "password": "x".repeat(1025)}),
            "password",
        ),
        (
            json!({"email": ok_email, "password": "é".repeat(1025)}),
            "password",
        ),
        (
            json!({"email": ok_email, "password": PASSWORD, "name": "n".repeat(101)}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let r = app.client().post("/api/auth/register", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
        assert_eq!(r.code(), "validation_failed", "{body}");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with(field),
            "{body}: the message names {field}: {msg}"
        );
        assert!(r.cookies().is_empty());
    }
    // None of those created the account.
    assert!(
        server::store::users::by_email(&app.app.state.db, &ok_email)
            .await
            .unwrap()
            .is_none()
    );
    // The boundaries themselves are accepted: 8 and 1024 characters (counted as characters).
    for pw in ["12345678".to_owned(), "x".repeat(1024), "é".repeat(1024)] {
        let email = unique_email();
        let r = app
            .client()
            .post(
                "/api/auth/register",
                json!({"email": email, "password": pw}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{} chars: {:?}",
            pw.chars().count(),
            r.body
        );
        assert_eq!(app.client().login(&email, &pw).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn register_and_login_refuse_bodies_that_are_not_json_objects_with_400() {
    let app = spawn_app().await;
    let c = app.client();
    for path in ["/api/auth/register", "/api/auth/login"] {
        for body in [
            "",
            "not json",
            "{\"email\": ",
            "[]",
            "[{\"email\": \"a@b.co\"}]",
            "\"a@b.co\"",
            "42",
            "null",
            "true",
        ] {
            let r = post_raw(&c, path, "application/json", body).await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{path} {body:?}: {:?}",
                r.body
            );
            assert_eq!(r.code(), "bad_request");
            assert_no_leak(&r);
        }
        for body in [
            json!({"email": 5, "password": PASSWORD}),
            json!({"email": unique_email(), "password": 12345678}),
            json!({"email": [unique_email()], "password": PASSWORD}),
            json!({"email": {"$ne": null}, "password": {"$ne": null}}),
            json!({"email": unique_email(), "password": true}),
        ] {
            let r = c.post(path, body.clone()).await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{path} {body}: {:?}",
                r.body
            );
            assert_eq!(r.code(), "bad_request");
            assert!(r.cookies().is_empty());
        }
    }
    let r = c
        .post(
            "/api/auth/register",
            json!({"email": unique_email(), "password": PASSWORD, "name": 7}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A JSON body sent as text/plain is still judged by its content (browsers send simple
    // requests cross-site as text/plain: the Origin check, not the content type, stops those).
    let r = post_raw(&c, "/api/auth/login", "text/plain", "nope").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn login_opens_a_new_session_with_both_cookies() {
    let app = spawn_app().await;
    let (first, user, first_token) = user_with_token(&app).await;
    let c = app.client();
    let r = c.login(&first.email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_user_shape(&r.body["user"], &first.email);
    assert_eq!(r.body["user"]["id"], user.id);
    let access = set_cookie(&r, "access_token").expect("access");
    assert_eq!(
        cookie_attrs(&access),
        ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=900"]
    );
    let refresh = set_cookie(&r, "refresh_token").expect("refresh");
    assert_eq!(
        cookie_attrs(&refresh),
        [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/api/auth",
            "Max-Age=2592000"
        ]
    );
    // A separate session: both work, and logging one out leaves the other.
    let (token, _) = tokens(&r);
    assert_ne!(claims(&token)["sid"], claims(&first_token)["sid"]);
    assert_eq!(c.get("/api/auth/verify").await.status, StatusCode::OK);
    assert_eq!(
        c.post_empty("/api/auth/logout").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(first.get("/api/auth/verify").await.status, StatusCode::OK);
    assert_eq!(
        Bearer::new(&app, &token)
            .get("/api/auth/verify")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_failures_are_401_invalid_credentials_with_one_body_for_both_causes() {
    let app = spawn_app().await;
    let (c, _, _) = user_with_token(&app).await;
    let wrong_password = app.client().login(&c.email, "wrong password!").await;
    let unknown_email = app.client().login(&unique_email(), PASSWORD).await;
    let malformed_email = app.client().login("not-an-email", PASSWORD).await;
    let almost = app.client().login(&c.email, &format!("{PASSWORD} ")).await;
    for r in [&wrong_password, &unknown_email, &malformed_email, &almost] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
        assert_eq!(r.code(), "invalid_credentials");
        assert!(r.cookies().is_empty());
        // The same answer whatever the cause: nothing tells an attacker the account exists.
        assert_eq!(r.body, wrong_password.body);
    }
    // Missing fields are validation errors naming the field.
    let r = app
        .client()
        .post("/api/auth/login", json!({"email": c.email}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("password")
    );
    let r = app
        .client()
        .post("/api/auth/login", json!({"password": PASSWORD}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("email")
    );
}

/// Login takes about the same time for an unknown email and a wrong password (both run one
/// argon2 verification). Measured with the real OWASP cost so the hash dominates.
#[tokio::test]
async fn unknown_email_and_wrong_password_take_about_the_same_time() {
    let app = spawn_app_with(|c| c.argon2 = server::config::Argon2Cost::default()).await;
    let (c, _, _) = user_with_token(&app).await;
    let time = |email: String, pw: &'static str| {
        let app_url = app.url.clone();
        async move {
            let client = Client::new(&app_url);
            let t = std::time::Instant::now();
            let r = client.login(&email, pw).await;
            assert_eq!(r.code(), "invalid_credentials");
            t.elapsed().as_secs_f64()
        }
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        known.push(time(c.email.clone(), "wrong password!").await);
        unknown.push(time(unique_email(), "wrong password!").await);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    // The unknown-email path must not be a fast path: within a factor of 3 of each other
    // (a skipped hash would be ~100x faster).
    assert!(
        u > k / 3.0 && k > u / 3.0,
        "wrong password {k:.3}s vs unknown email {u:.3}s"
    );
}

// ---------------------------------------------------------------------------------------------
// Verify, bearer
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn verify_returns_the_user_and_the_access_expiry() {
    let app = spawn_app().await;
    let (c, user) = app.user().await;
    let before = Utc::now();
    let r = c.get("/api/auth/verify").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user"], serde_json::to_value(&user).unwrap());
    let exp: DateTime<Utc> = r.body["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("RFC 3339");
    let left = (exp - before).num_seconds();
    assert!(
        (880..=901).contains(&left),
        "about the 900 s access ttl: {left}"
    );

    for (label, r) in [
        ("no token", app.client().get("/api/auth/verify").await),
        (
            "garbage bearer",
            Bearer::new(&app, "garbage").get("/api/auth/verify").await,
        ),
        (
            "empty bearer",
            Bearer::new(&app, "").get("/api/auth/verify").await,
        ),
        (
            "three dots",
            Bearer::new(&app, "a.b.c").get("/api/auth/verify").await,
        ),
    ] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label}: {:?}", r.body);
        assert_eq!(r.code(), "unauthenticated", "{label}");
    }
    // Other schemes are not bearer tokens.
    let anon = app.client();
    let r = anon
        .send(
            anon.http
                .get(format!("{}/api/auth/verify", app.url))
                .basic_auth("u", Some("p")),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bearer_works_wherever_the_cookie_does() {
    let app = spawn_app().await;
    let (_, user, token) = user_with_token(&app).await;
    let b = Bearer::new(&app, &token);
    let r = b.get("/api/auth/verify").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["user"]["id"], user.id);
    let r = b.post("/api/todos", json!({"title": "via bearer"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.todo().id;
    assert_eq!(b.get("/api/todos").await.todos().len(), 1);
    assert_eq!(
        b.get(&format!("/api/todos/{id}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        b.patch(&format!("/api/todos/{id}"), json!({"completed": true}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        b.delete(&format!("/api/todos/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(b.get("/api/conversations").await.status, StatusCode::OK);
    // The scheme is case-insensitive.
    let c = app.client();
    let r = c
        .send(
            c.http
                .get(format!("{}/api/auth/verify", app.url))
                .header("authorization", format!("bearer {token}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // And logout by bearer ends the session for every form of the token.
    assert_eq!(
        b.post_empty("/api/auth/logout").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        b.get("/api/auth/verify").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = c
        .send(
            c.http
                .get(format!("{}/api/auth/verify", app.url))
                .header("cookie", format!("access_token={token}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// Refresh
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_issues_a_new_access_cookie_and_rotates_the_refresh_cookie() {
    let app = spawn_app().await;
    let c = app.client();
    let r = c
        .post("/api/auth/register", register_body(&unique_email()))
        .await;
    let (access0, refresh0) = tokens(&r);
    // JWT `iat`/`exp` are whole seconds: wait for the next one so the new token differs.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let r = c.post_empty("/api/auth/refresh").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["user"]["id"].is_i64());
    let exp: DateTime<Utc> = r.body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((exp - Utc::now()).num_seconds() > 880);
    let access_line = set_cookie(&r, "access_token").expect("new access cookie");
    assert_eq!(
        cookie_attrs(&access_line),
        ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=900"]
    );
    let refresh_line = set_cookie(&r, "refresh_token").expect("rotated refresh cookie");
    assert_eq!(
        cookie_attrs(&refresh_line),
        [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/api/auth",
            "Max-Age=2592000"
        ]
    );
    let (access1, refresh1) = tokens(&r);
    assert_ne!(access1, access0);
    assert_ne!(refresh1, refresh0);
    assert_eq!(
        claims(&access1)["sid"],
        claims(&access0)["sid"],
        "the same session"
    );
    assert_eq!(
        Bearer::new(&app, &access1)
            .get("/api/auth/verify")
            .await
            .status,
        StatusCode::OK
    );

    // The jar now holds the rotated token: refreshing again works, and again rotates.
    let r = c.post_empty("/api/auth/refresh").await;
    assert_eq!(r.status, StatusCode::OK);
    let (_, refresh2) = tokens(&r);
    assert_ne!(refresh2, refresh1);
}

#[tokio::test]
async fn a_reused_refresh_token_is_401_and_revokes_the_whole_session() {
    let app = spawn_app().await;
    let c = app.client();
    let email = unique_email();
    let r = c.post("/api/auth/register", register_body(&email)).await;
    let (_, stolen) = tokens(&r);
    let todo = c.add_todo("mine").await;

    // The legitimate client refreshes (twice), so `stolen` is now a rotated token.
    assert_eq!(
        c.post_empty("/api/auth/refresh").await.status,
        StatusCode::OK
    );
    let r = c.post_empty("/api/auth/refresh").await;
    assert_eq!(r.status, StatusCode::OK);
    let (latest_access, latest_refresh) = tokens(&r);
    assert_eq!(c.get("/api/auth/verify").await.status, StatusCode::OK);

    // The thief presents it.
    let r = refresh_with(&app, &stolen).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.code(), "unauthenticated");
    assert!(
        set_cookie(&r, "access_token").is_some_and(|l| l.contains("Max-Age=0")),
        "cookies cleared: {:?}",
        r.cookies()
    );

    // The whole session is over: the latest access token, the latest refresh token, REST and WS.
    let b = Bearer::new(&app, &latest_access);
    for r in [
        b.get("/api/auth/verify").await,
        b.get("/api/todos").await,
        b.get(&format!("/api/todos/{}", todo.id)).await,
        b.get("/ws").await,
    ] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
        assert_eq!(r.code(), "unauthenticated");
    }
    assert_eq!(
        c.get("/api/auth/verify").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh_with(&app, &latest_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The account itself is fine: a new login works and sees the todo.
    let again = app.client();
    assert_eq!(again.login(&email, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(again.get("/api/todos").await.todos(), vec![todo]);
}

#[tokio::test]
async fn refresh_refuses_missing_forged_and_revoked_tokens() {
    let app = spawn_app().await;
    let c = app.client();
    let r = c
        .post("/api/auth/register", register_body(&unique_email()))
        .await;
    let (access, refresh) = tokens(&r);
    let sid = claims(&access)["sid"].as_i64().unwrap();
    // An attacker with an account of their own holds genuine refresh tokens: a current one and
    // an already-rotated one.
    let attacker = app.client();
    let r = attacker
        .post("/api/auth/register", register_body(&unique_email()))
        .await;
    let (_, attacker_old) = tokens(&r);
    let (_, attacker_current) = tokens(&attacker.post_empty("/api/auth/refresh").await);
    let graft = |token: &str, onto: i64| format!("{onto}.{}", token.split_once('.').unwrap().1);

    let r = app.client().post_empty("/api/auth/refresh").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    for forged in [
        "garbage".to_owned(),
        format!("{sid}.short"),
        format!("{sid}."),
        format!("{sid}.{}", "A".repeat(43)),
        format!("{sid}.{}.{}", "A".repeat(43), "A".repeat(43)),
        format!("{sid}.{}", "A".repeat(86)),
        graft(&attacker_current, sid),
        graft(&attacker_old, sid),
        graft(&refresh, sid + 1000),
        access.clone(),
    ] {
        let r = refresh_with(&app, &forged).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{forged}"
        );
    }
    // A bearer access token is not a refresh token.
    let r = Bearer::new(&app, &access)
        .post_empty("/api/auth/refresh")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // None of those was a token the server issued for this session, so none of them may end
    // it: session ids are small sequential numbers, and a guess (or an attacker's own token
    // relabelled) must not log the victim out. Only a real rotated token of this session does.
    assert_eq!(c.get("/api/auth/verify").await.status, StatusCode::OK);
    assert_eq!(
        c.post_empty("/api/auth/refresh").await.status,
        StatusCode::OK
    );
    assert_eq!(
        attacker.get("/api/auth/verify").await.status,
        StatusCode::OK
    );

    // After logout the refresh token is dead too.
    let c = app.client();
    let r = c
        .post("/api/auth/register", register_body(&unique_email()))
        .await;
    let (_, refresh) = tokens(&r);
    assert_eq!(
        c.post_empty("/api/auth/logout").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        refresh_with(&app, &refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_expired_access_token_is_refused_and_refresh_revives_the_session() {
    let app = spawn_app_with(|c| c.access_ttl = Duration::from_secs(1)).await;
    let c = app.client();
    let r = c
        .post("/api/auth/register", register_body(&unique_email()))
        .await;
    assert_eq!(
        cookie_attrs(&set_cookie(&r, "access_token").unwrap())[3],
        "Max-Age=1"
    );
    let (access, _) = tokens(&r);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = Bearer::new(&app, &access).get("/api/auth/verify").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let r = c.post_empty("/api/auth/refresh").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (fresh, _) = tokens(&r);
    assert_eq!(
        Bearer::new(&app, &fresh)
            .get("/api/auth/verify")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_expired_session_cannot_be_refreshed() {
    let app = spawn_app_with(|c| c.refresh_ttl = Duration::from_secs(1)).await;
    let c = app.client();
    let r = c
        .post("/api/auth/register", register_body(&unique_email()))
        .await;
    let (access, refresh) = tokens(&r);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        refresh_with(&app, &refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The session's end also ends its still-unexpired access token.
    assert_eq!(
        Bearer::new(&app, &access)
            .get("/api/auth/verify")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

// ---------------------------------------------------------------------------------------------
// Logout
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn logout_is_204_clears_both_cookies_and_revokes_the_session_everywhere() {
    let app = spawn_app().await;
    let c = app.client();
    let email = unique_email();
    let r = c.post("/api/auth/register", register_body(&email)).await;
    let (access, refresh) = tokens(&r);
    let todo = c.add_todo("t").await;

    let r = c.post_empty("/api/auth/logout").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null);
    let a = set_cookie(&r, "access_token").expect("access cleared");
    assert_eq!(cookie_value(&a), "");
    assert_eq!(
        cookie_attrs(&a),
        ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=0"]
    );
    let f = set_cookie(&r, "refresh_token").expect("refresh cleared");
    assert_eq!(cookie_value(&f), "");
    assert_eq!(
        cookie_attrs(&f),
        ["HttpOnly", "SameSite=Strict", "Path=/api/auth", "Max-Age=0"]
    );

    // The old access token, presented any way, is refused everywhere.
    let b = Bearer::new(&app, &access);
    let todo_path = format!("/api/todos/{}", todo.id);
    let answers = [
        b.get("/api/auth/verify").await,
        b.get("/api/todos").await,
        b.post("/api/todos", json!({"title": "x"})).await,
        b.get(&todo_path).await,
        b.patch(&todo_path, json!({"completed": true})).await,
        b.delete(&todo_path).await,
        b.get("/api/conversations").await,
        b.post_empty("/api/auth/logout").await,
        b.get("/ws").await,
        c.get("/api/auth/verify").await,
    ];
    for r in answers {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
        assert_eq!(r.code(), "unauthenticated");
    }
    // The socket upgrade is refused too.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        app.ws_url(),
    )
    .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {access}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 401)
        }
        other => panic!(
            "expected a 401 upgrade refusal, got {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    assert_eq!(
        refresh_with(&app, &refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Nothing was changed by the refused calls; the user can log in again and sees the todo.
    let c2 = app.client();
    assert_eq!(c2.login(&email, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(c2.get("/api/todos").await.todos(), vec![todo]);
}

#[tokio::test]
async fn logout_without_a_session_is_401_and_still_clears_the_cookies() {
    let app = spawn_app().await;
    let r = app.client().post_empty("/api/auth/logout").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let lines = r.cookies();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.contains("Max-Age=0")));
}

// ---------------------------------------------------------------------------------------------
// JWT attacks
// ---------------------------------------------------------------------------------------------

/// Each forged token changes one thing in an otherwise valid token signed with the server's
/// own key; the control (nothing changed) is accepted, so every refusal is for that one change.
#[tokio::test]
async fn forged_access_tokens_are_refused_with_401() {
    let app = app_with_known_key().await;
    let (_, _, token) = user_with_token(&app).await;
    let (_, victim, victim_token) = user_with_token(&app).await;
    let real = claims(&token);
    let now = Utc::now().timestamp();
    let valid = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = real.as_object().unwrap().clone();
        c.insert("iat".into(), json!(now));
        c.insert("exp".into(), json!(now + 600));
        edit(&mut c);
        Value::Object(c)
    };

    // The control: a token we sign ourselves with the right key and claims is accepted.
    let control = sign(Algorithm::HS256, KEY, &valid(&|_| {}));
    assert_eq!(
        Bearer::new(&app, &control)
            .get("/api/auth/verify")
            .await
            .status,
        StatusCode::OK
    );

    let (h, p, s) = {
        let mut parts = token.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let victim_claims = valid(&|c| {
        c.insert("sub".into(), json!(victim.id.to_string()));
    });
    let mut flipped_sig = s.clone().into_bytes();
    flipped_sig[5] = if flipped_sig[5] == b'A' { b'B' } else { b'A' };
    let forged: Vec<(&str, String)> = vec![
        (
            "alg none, no signature",
            format!("{}.{}.", enc(&json!({"alg": "none", "typ": "JWT"})), p),
        ),
        (
            "alg none, original signature",
            format!("{}.{}.{s}", enc(&json!({"alg": "none", "typ": "JWT"})), p),
        ),
        (
            "alg None",
            format!("{}.{}.", enc(&json!({"alg": "None", "typ": "JWT"})), p),
        ),
        (
            "alg HS512 with the right key",
            sign(Algorithm::HS512, KEY, &valid(&|_| {})),
        ),
        (
            "alg HS384 with the right key",
            sign(Algorithm::HS384, KEY, &valid(&|_| {})),
        ),
        (
            "tampered payload (another user)",
            format!("{h}.{}.{s}", enc(&victim_claims)),
        ),
        (
            "tampered payload (longer expiry)",
            format!(
                "{h}.{}.{s}",
                enc(&valid(&|c| {
                    c.insert("exp".into(), json!(now + 999_999));
                }))
            ),
        ),
        (
            "tampered signature",
            format!("{h}.{p}.{}", String::from_utf8(flipped_sig).unwrap()),
        ),
        ("no signature", format!("{h}.{p}.")),
        (
            "another key",
            sign(
                Algorithm::HS256,
                b"another-key-of-at-least-32-bytes-long!!",
                &valid(&|_| {}),
            ),
        ),
        (
            "expired one second ago",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("exp".into(), json!(now - 1));
                }),
            ),
        ),
        (
            "expired long ago",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("exp".into(), json!(now - 86_400));
                }),
            ),
        ),
        (
            "wrong issuer",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("iss".into(), json!("someone-else"));
                }),
            ),
        ),
        (
            "wrong audience",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("aud".into(), json!("another-api"));
                }),
            ),
        ),
        (
            "audience list without ours",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("aud".into(), json!(["x", "y"]));
                }),
            ),
        ),
        (
            "no exp",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.remove("exp");
                }),
            ),
        ),
        (
            "no iss",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.remove("iss");
                }),
            ),
        ),
        (
            "no aud",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.remove("aud");
                }),
            ),
        ),
        (
            "no sid",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.remove("sid");
                }),
            ),
        ),
        (
            "sid of an unknown session",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("sid".into(), json!(987_654));
                }),
            ),
        ),
        (
            "sub of another user with my session",
            sign(Algorithm::HS256, KEY, &victim_claims),
        ),
        (
            "sid of another user's session",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("sid".into(), claims(&victim_token)["sid"].clone());
                }),
            ),
        ),
        (
            "sub not a number",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("sub".into(), json!("admin"));
                }),
            ),
        ),
        (
            "sub as a number",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("sub".into(), json!(1));
                }),
            ),
        ),
        ("two tokens glued", format!("{token}.{token}")),
    ];
    for (label, t) in &forged {
        let b = Bearer::new(&app, t);
        for r in [
            b.get("/api/auth/verify").await,
            b.get("/api/todos").await,
            b.post("/api/todos", json!({"title": "pwned"})).await,
        ] {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label}: {:?}", r.body);
            assert_eq!(r.code(), "unauthenticated", "{label}");
            assert_no_leak(&r);
        }
        // The same through the cookie.
        let c = app.client();
        let r = c
            .send(
                c.http
                    .get(format!("{}/api/auth/verify", app.url))
                    .header("cookie", format!("access_token={t}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label} (cookie)");
    }
    // Nothing was created by any of them, for either user.
    for t in [&token, &victim_token] {
        assert!(
            Bearer::new(&app, t)
                .get("/api/todos")
                .await
                .todos()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_token_of_a_revoked_session_is_refused_even_when_correctly_signed() {
    let app = app_with_known_key().await;
    let (_, _, token) = user_with_token(&app).await;
    let mut c = claims(&token);
    let b = Bearer::new(&app, &token);
    assert_eq!(
        b.post_empty("/api/auth/logout").await.status,
        StatusCode::NO_CONTENT
    );
    // A fresh, validly signed token for the revoked session.
    c["exp"] = json!(Utc::now().timestamp() + 600);
    let resigned = sign(Algorithm::HS256, KEY, &c);
    assert_ne!(resigned, token);
    let r = Bearer::new(&app, &resigned).get("/api/auth/verify").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["aud"], AUDIENCE);
}

// ---------------------------------------------------------------------------------------------
// Cross-site
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cross_origin_auth_requests_are_403_before_anything_happens() {
    let app = spawn_app().await;
    let (c, user, _) = user_with_token(&app).await;
    let sessions_before = server::store::sessions::count_active(&app.app.state.db)
        .await
        .unwrap();

    for origin in [
        EVIL,
        "null",
        "http://127.0.0.1:1",
        "http://localhost",
        &app.url.replace("127.0.0.1", "127.0.0.2"),
        &format!("{}.evil.example", app.url),
    ] {
        // Register: no user created.
        let email = unique_email();
        let r = with_origin(
            &app.client(),
            "POST",
            "/api/auth/register",
            origin,
            Some(register_body(&email)),
        )
        .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "forbidden_origin"),
            "{origin}"
        );
        assert!(r.cookies().is_empty());
        assert!(header(&r, "access-control-allow-origin").is_none());
        assert!(
            server::store::users::by_email(&app.app.state.db, &email)
                .await
                .unwrap()
                .is_none()
        );

        // Login with the right password: no session, no cookies, no lockout accounting.
        let r = with_origin(
            &app.client(),
            "POST",
            "/api/auth/login",
            origin,
            Some(json!({"email": c.email, "password": PASSWORD})),
        )
        .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "forbidden_origin"),
            "{origin}"
        );
        assert!(r.cookies().is_empty());

        // Refresh: the token is not rotated. Logout: the session is not ended.
        let r = with_origin(&c, "POST", "/api/auth/refresh", origin, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{origin}");
        let r = with_origin(&c, "POST", "/api/auth/logout", origin, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{origin}");
        assert!(r.cookies().is_empty());
    }
    assert_eq!(
        server::store::sessions::count_active(&app.app.state.db)
            .await
            .unwrap(),
        sessions_before
    );
    let v = c.get("/api/auth/verify").await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.body["user"]["id"], user.id);
    // The refresh token in the jar was never rotated by the refused refreshes.
    assert_eq!(
        c.post_empty("/api/auth/refresh").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn allowed_origins_get_exact_cors_with_credentials() {
    let app = spawn_app_with(|c| c.allowed_origins = vec!["https://app.example".into()]).await;
    let own = app.url.clone();
    let localhost = format!("http://localhost:{}", app.app.addr.port());
    for origin in ["https://app.example", own.as_str(), localhost.as_str()] {
        let c = app.client();
        let r = with_origin(
            &c,
            "POST",
            "/api/auth/register",
            origin,
            Some(register_body(&unique_email())),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{origin}: {:?}", r.body);
        assert_eq!(header(&r, "access-control-allow-origin"), Some(origin));
        assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
        assert!(header(&r, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")));
        let r = with_origin(&c, "GET", "/api/auth/verify", origin, None).await;
        assert_eq!(header(&r, "access-control-allow-origin"), Some(origin));
        // Errors carry CORS too, so the page can read them.
        let r = with_origin(
            &app.client(),
            "POST",
            "/api/auth/login",
            origin,
            Some(json!({"email": "x@y.example", "password": "wrong pass"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(header(&r, "access-control-allow-origin"), Some(origin));

        // Preflight.
        let r = c
            .send(
                c.http
                    .request(reqwest::Method::OPTIONS, format!("{}/api/todos", app.url))
                    .header("origin", origin)
                    .header("access-control-request-method", "PATCH")
                    .header("access-control-request-headers", "content-type"),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{origin}");
        assert_eq!(header(&r, "access-control-allow-origin"), Some(origin));
        assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
        let methods = header(&r, "access-control-allow-methods").expect("allow-methods");
        for m in ["GET", "POST", "PATCH", "DELETE"] {
            assert!(methods.contains(m), "{methods}");
        }
        assert!(
            header(&r, "access-control-allow-headers").is_some_and(|h| h.contains("content-type"))
        );
    }
    // A foreign origin: a safe GET is answered (no credentials are exposed to it: no CORS
    // headers), a preflight is refused, and `*` is never used.
    let c = app.client();
    let r = with_origin(&c, "GET", "/healthz", EVIL, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(header(&r, "access-control-allow-origin").is_none());
    assert!(header(&r, "access-control-allow-credentials").is_none());
    let r = c
        .send(
            c.http
                .request(reqwest::Method::OPTIONS, format!("{}/api/todos", app.url))
                .header("origin", EVIL)
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(header(&r, "access-control-allow-origin").is_none());
    let r = with_origin(
        &c,
        "GET",
        "/healthz",
        "https://app.example.evil.example",
        None,
    )
    .await;
    assert!(header(&r, "access-control-allow-origin").is_none());
    let r = with_origin(&c, "GET", "/healthz", "*", None).await;
    assert!(header(&r, "access-control-allow-origin").is_none());
}

// ---------------------------------------------------------------------------------------------
// Per-account lockout
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_burst_of_failed_logins_locks_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    let (c, _, _) = user_with_token(&app).await;
    let (other, _, _) = user_with_token(&app).await;
    let mut failures = 0;
    let locked = loop {
        let r = app.client().login(&c.email, "wrong password!").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            break r;
        }
        assert_eq!(r.code(), "invalid_credentials");
        failures += 1;
        assert!(failures <= 20, "no lockout after {failures} failures");
    };
    assert!(failures >= 3, "locks only after a burst: {failures}");
    assert_eq!(locked.code(), "rate_limited");
    let wait: u64 = header(&locked, "retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=3600).contains(&wait), "{wait}");

    // The right password, in any casing of the email, is refused while locked: no session.
    for email in [c.email.clone(), c.email.to_uppercase()] {
        let r = app.client().login(&email, PASSWORD).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{email}: {:?}",
            r.body
        );
        assert_eq!(r.code(), "rate_limited");
        assert!(header(&r, "retry-after").is_some());
        assert!(r.cookies().is_empty());
    }
    // Only that account: another one logs in, and existing sessions keep working.
    assert_eq!(
        app.client().login(&other.email, PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(c.get("/api/auth/verify").await.status, StatusCode::OK);
}
