//! `POST /api/auth/register`: the user and both cookies (their exact attributes, `Secure` and
//! the lifetimes when configured), emails unique case-insensitively, 422 naming each invalid
//! field, 400 for a body that is not a JSON object.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

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
        assert_422(&r, field);
        assert!(r.cookies().is_empty(), "{body}");
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
