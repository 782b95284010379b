//! `POST /api/auth/login` and `/logout`: a new session per login, one 401 body (and about the
//! same time) for an unknown email and a wrong password, and a logout that clears both cookies
//! and revokes the session everywhere at once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

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
    assert_422(&r, "password");
    let r = app
        .client()
        .post("/api/auth/login", json!({"password": PASSWORD}))
        .await;
    assert_422(&r, "email");
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
