//! Cross-site protection on the auth routes: a foreign `Origin` is 403 before anything happens,
//! and allowlisted origins get exact CORS with credentials.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

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
