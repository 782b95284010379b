//! `POST /api/auth/refresh`: rotation, theft detection (a reused refresh token revokes the whole
//! session), forged and revoked tokens, and expiry of the access token and of the session.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;

use crate::helpers::*;

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
