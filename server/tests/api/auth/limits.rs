//! The limits on guessing: per client IP on login/register/refresh (429 with `Retry-After`, a
//! forged `X-Forwarded-For` buys nothing), and per account on failed logins (ASVS V2.2.1).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// The `Retry-After` header of a 429, in seconds.
fn retry_after(r: &Resp) -> u64 {
    header(r, "retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {:?}", r.headers))
}

#[tokio::test]
async fn the_fourth_auth_attempt_from_one_ip_in_a_minute_is_429_with_retry_after() {
    let app = spawn_app_with(|c| c.auth_rate_per_min = 3).await;
    let c = app.client();
    let email = unique_email();
    let r = c.post("/api/auth/register", register_body(&email)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(c.login(&email, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        c.post_empty("/api/auth/refresh").await.status,
        StatusCode::OK
    );

    // The fourth, whatever the endpoint, and before anything happens.
    let late = unique_email();
    let r = c.post("/api/auth/register", register_body(&late)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.code(), "rate_limited");
    let wait = retry_after(&r);
    assert!((1..=20).contains(&wait), "{wait}");
    assert!(r.cookies().is_empty());
    let created = server::store::users::by_email(&app.app.state.db, &late)
        .await
        .expect("query");
    assert!(
        created.is_none(),
        "a rate-limited register must not create the user"
    );
    for r in [
        c.login(&email, PASSWORD).await,
        c.post_empty("/api/auth/refresh").await,
    ] {
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
        assert_eq!(r.code(), "rate_limited");
        assert!(retry_after(&r) >= 1);
    }
    // A forged X-Forwarded-For does not buy a fresh budget.
    let r = c
        .send(
            c.http
                .post(format!("{}/api/auth/login", app.url))
                .header("x-forwarded-for", "10.9.8.7")
                .header("x-real-ip", "10.9.8.7")
                .json(&register_body(&email)),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Other endpoints are not limited, and the session still works.
    for _ in 0..5 {
        assert_eq!(c.get("/api/auth/verify").await.status, StatusCode::OK);
    }
    assert_eq!(
        c.post("/api/todos", json!({"title": "still works"}))
            .await
            .status,
        StatusCode::CREATED
    );
}

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
    let wait = retry_after(&locked);
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
