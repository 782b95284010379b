//! Operations (`/healthz`, `/readyz`, `/metrics`, `/api/openapi.json`, the web client's files)
//! and what every request passes: security headers, the body limit, unknown routes and methods,
//! and a sweep of hostile inputs that must never produce a 500 or leak internals. (The per-IP
//! rate limit on the auth routes is in `auth/limits.rs`.)

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::store::Db;

use crate::helpers::*;

fn assert_security_headers(r: &Resp) {
    assert_eq!(
        header(r, "x-content-type-options"),
        Some("nosniff"),
        "{:?}",
        r.headers
    );
    assert_eq!(header(r, "x-frame-options"), Some("DENY"));
    assert_eq!(header(r, "referrer-policy"), Some("no-referrer"));
    let csp = header(r, "content-security-policy").expect("a CSP");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src"), "{csp}");
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let n: u64 = rand::random();
    let d = std::env::temp_dir().join(format!("todo-server-tests-{tag}-{n:016x}"));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

// ---------------------------------------------------------------------------------------------
// Liveness, readiness
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = spawn_app().await;
    let c = app.client();
    let r = c.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "ready");
}

/// A closed pool is a database that cannot be reached: readyz says 503 `unavailable`, liveness
/// stays 200, and an API call is a 503 too (not a 500).
#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone_and_api_calls_say_unavailable() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    c.add_todo("before").await;
    // Closing marks the pool closed at once, then waits for every connection to come back; on
    // PostgreSQL the event listener keeps one for good, so only the marking is waited for.
    let _ = tokio::time::timeout(Duration::from_millis(500), app.app.state.db.close()).await;

    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(r.code(), "unavailable");
    assert_eq!(c.get("/healthz").await.status, StatusCode::OK);

    for r in [
        c.get("/api/todos").await,
        c.post("/api/todos", json!({"title": "x"})).await,
        c.get("/api/auth/verify").await,
    ] {
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
        assert_eq!(r.code(), "unavailable");
        assert_clean_error(&r);
    }
    let r = c.login(&unique_email(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
}

/// Every pooled connection taken (the database "does not answer" in time): 503; the
/// connections come back: 200 again, without a restart. Runs on both databases.
#[tokio::test]
async fn readyz_recovers_when_connections_come_back() {
    let app = spawn_app_with(|c| c.db_max_connections = 6).await;
    let c = app.client();
    assert_eq!(c.get("/readyz").await.status, StatusCode::OK);

    // Take every connection the pool will give (on PostgreSQL the LISTEN connections hold some).
    let held = match &app.app.state.db {
        Db::Sqlite(pool) => (exhaust(pool).await, Vec::new()),
        Db::Postgres(pool) => (Vec::new(), exhaust(pool).await),
    };
    assert!(held.0.len() + held.1.len() >= 1);
    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(r.code(), "unavailable");
    drop(held);
    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn exhaust<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Vec<sqlx::pool::PoolConnection<DB>> {
    let mut held = Vec::new();
    while let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_millis(700), pool.acquire()).await
    {
        held.push(conn);
        assert!(held.len() <= 6, "the pool should be capped at 6");
    }
    held
}

mod pg_only {
    //! PostgreSQL only (a real outage of the database server): ignored on the
    //! default run, run by `scripts/test.sh`'s PostgreSQL pass with `pg_only -- --ignored`.

    use super::*;

    /// PostgreSQL only: a real outage. The test database stops accepting connections and every
    /// backend serving it is terminated; readyz is 503 and the API answers 503 `unavailable`. Then
    /// the database accepts connections again and readyz returns to 200 with the same server.
    #[tokio::test]
    #[ignore = "needs PostgreSQL (TEST_DATABASE_URL); run with --ignored"]
    async fn readyz_follows_a_postgres_outage_and_recovery() {
        let admin_url = require_postgres();
        use sqlx::Connection;
        let app = spawn_app().await;
        let (c, _) = app.user().await;
        c.add_todo("survives the outage").await;
        let db_name = app
            .database_url
            .rsplit('/')
            .next()
            .expect("db name")
            .to_owned();
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("admin");
        let outage = |allow: bool| {
            sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {db_name} ALLOW_CONNECTIONS {allow}"
            ))
        };

        sqlx::query(outage(false))
            .execute(&mut admin)
            .await
            .expect("block connections");
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
            .bind(&db_name)
            .execute(&mut admin)
            .await
            .expect("terminate");

        let r = c.get("/readyz").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
        let r = c.get("/api/todos").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
        assert_eq!(r.code(), "unavailable");
        assert_clean_error(&r);

        sqlx::query(outage(true))
            .execute(&mut admin)
            .await
            .expect("allow connections");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = c.get("/readyz").await;
            if r.status == StatusCode::OK {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "readyz did not recover: {:?}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let r = c.get("/api/todos").await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.todos()[0].title, "survives the outage");
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics, OpenAPI
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_are_prometheus_text_with_the_required_families() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    let email = unique_email();
    let other = app.client();
    other
        .post("/api/auth/register", register_body(&email))
        .await;
    assert_eq!(other.login(&email, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        other.login(&email, "wrong password").await.status,
        StatusCode::UNAUTHORIZED
    );
    c.get("/api/todos").await;

    let r = c.send(c.http.get(format!("{}/metrics", app.url))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        header(&r, "content-type").is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        r.headers
    );
    let text = r.body.as_str().expect("text body");
    for family in [
        "http_requests_total",
        "http_request_duration_seconds",
        "auth_logins_total",
        "auth_active_sessions",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{text}"
        );
    }
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "a histogram"
    );
    assert!(text.contains(r#"route="list_todos""#), "requests by route");
    assert!(text.contains(r#"auth_logins_total{result="success"}"#));
    assert!(text.contains(r#"auth_logins_total{result="failure"}"#));
    // The gauge has a sample (its value is set per scrape from whichever server in this test
    // process scraped last, so only its presence is checked here).
    let active: Option<f64> = text
        .lines()
        .find_map(|l| l.strip_prefix("auth_active_sessions "))
        .and_then(|v| v.trim().parse().ok());
    assert!(active.is_some(), "{text}");
}

/// The routes anyone may call. Everything else the server documents needs a session.
const PUBLIC: &[(&str, &str)] = &[
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/logout"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
];

#[tokio::test]
async fn every_documented_route_is_served_and_all_but_the_public_ones_need_a_session() {
    let app = spawn_app().await;
    let c = app.client();
    let r = c.get("/api/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(header(&r, "content-type").is_some_and(|t| t.starts_with("application/json")));
    let doc = &r.body;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let example = path.replace("{id}", "1");
        for method in item
            .as_object()
            .expect("path item")
            .keys()
            .filter(|k| *k != "parameters")
        {
            seen += 1;
            let m: reqwest::Method = method.to_uppercase().parse().expect("method");
            let r = c
                .send(c.http.request(m, format!("{}{example}", app.url)))
                .await;
            // Served: never the unknown-route 404 or a 405, never a 5xx.
            assert!(
                !matches!(r.status.as_u16(), 404 | 405) && r.status.as_u16() < 500,
                "{method} {example}: {} {:?}",
                r.status,
                r.body
            );
            // The document lists the answer it got.
            assert!(
                item[method]["responses"][r.status.as_str()].is_object(),
                "{method} {path}: {} is not in the document",
                r.status
            );
            if !PUBLIC.contains(&(method.as_str(), path.as_str())) {
                assert_eq!(
                    r.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} answered without a session: {:?}",
                    r.body
                );
                assert_eq!(r.body["error"]["code"], "unauthenticated");
            }
        }
    }
    assert!(seen >= 20, "only {seen} operations documented");
}

// ---------------------------------------------------------------------------------------------
// The web client's files
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn root_serves_the_not_built_page_when_the_client_is_missing() {
    let dir = temp_dir("empty-static");
    let app = spawn_app_with(|c| c.static_dir = dir.clone()).await;
    let c = app.client();
    for path in ["/", "/todos", "/some/client/route"] {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(
            header(&r, "content-type").is_some_and(|t| t.starts_with("text/html")),
            "{path}: {:?}",
            r.headers
        );
        let page = r.body.as_str().expect("html");
        assert!(
            page.contains("has not been built") && page.contains("build-client"),
            "{page}"
        );
        assert_security_headers(&r);
    }
    let r = c.get("/missing.js").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
}

#[tokio::test]
async fn static_files_are_served_with_their_type_and_cannot_escape_the_directory() {
    let root = temp_dir("static");
    let dir = root.join("dist");
    std::fs::create_dir_all(dir.join("assets")).expect("dirs");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>app</title>").expect("write");
    std::fs::write(
        dir.join("client-0123456789abcdef_bg.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .expect("write");
    std::fs::write(dir.join("client-0123456789abcdef.js"), "export default 1;").expect("write");
    std::fs::write(dir.join("assets/style.css"), "body{}").expect("write");
    std::fs::write(dir.join(".env"), "SECRET=hidden-dotfile").expect("write");
    std::fs::write(root.join("secret.txt"), "TOP-SECRET-OUTSIDE").expect("write");
    let app = spawn_app_with(|c| c.static_dir = dir.clone()).await;
    let c = app.client();

    let r = c.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, "content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        r.body,
        Value::String("<!doctype html><title>app</title>".into())
    );
    assert_eq!(header(&r, "cache-control"), Some("no-cache"));
    assert!(
        header(&r, "content-security-policy").is_some_and(|p| p.contains("'wasm-unsafe-eval'"))
    );
    // A client-side route gets the page too.
    assert_eq!(c.get("/todos/42").await.body, r.body);

    let wasm = c
        .http
        .get(format!("{}/client-0123456789abcdef_bg.wasm", app.url))
        .send()
        .await
        .expect("wasm");
    assert_eq!(wasm.status(), StatusCode::OK);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert_eq!(
        wasm.bytes().await.expect("bytes").as_ref(),
        b"\0asm\x01\0\0\0"
    );
    let r = c.get("/client-0123456789abcdef.js").await;
    assert_eq!(
        header(&r, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        header(&r, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let r = c.get("/assets/style.css").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, "content-type"), Some("text/css; charset=utf-8"));

    // Hidden files and every way out of the directory are refused, whatever the spelling.
    assert_eq!(c.get("/.env").await.status, StatusCode::NOT_FOUND);
    for target in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/assets/..%2F..%2Fsecret.txt",
        "/..\\secret.txt",
        "/.env",
    ] {
        let req = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let (status, head, body) = raw_http(&app, req.as_bytes()).await;
        assert!(
            status == 404 || status == 400,
            "{target}: {status}\n{head}\n{body}"
        );
        assert!(
            !body.contains("TOP-SECRET") && !body.contains("hidden-dotfile"),
            "{target}: {body}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Every response: security headers; unknown routes; body limit
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app_with(|c| c.max_body_bytes = 1024).await;
    let (c, _) = app.user().await;
    let todo = c.add_todo("t").await;
    let anon = app.client();
    let responses = [
        c.get("/healthz").await,
        c.get("/api/todos").await,
        c.post("/api/todos", json!({"title": "x"})).await,
        c.delete(&format!("/api/todos/{}", todo.id)).await,
        anon.get("/api/todos").await,
        anon.get("/api/nope").await,
        with_origin(&c, "POST", "/api/todos", EVIL, Some(json!({"title": "x"}))).await,
        c.post("/api/todos", json!({"title": "x".repeat(2000)}))
            .await,
        post_raw(&c, "/api/todos", "application/json", "nope").await,
        c.post("/api/todos", json!({"title": ""})).await,
        c.get("/metrics").await,
        c.get("/api/openapi.json").await,
        with_origin(&c, "OPTIONS", "/api/todos", &app.url, None).await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses,
        [
            200, 200, 201, 204, 401, 404, 403, 413, 400, 422, 200, 200, 204
        ]
    );
    for r in &responses {
        assert_security_headers(r);
    }
    // API answers are never cached.
    assert_eq!(header(&responses[1], "cache-control"), Some("no-store"));
}

#[tokio::test]
async fn unknown_routes_are_404_not_found_json() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    for (method, path) in [
        ("GET", "/api/nope"),
        ("GET", "/api/todos/abc"),
        ("GET", "/api/todos/0"),
        ("GET", "/api/todos/-1"),
        ("GET", "/api/todos/1/extra"),
        ("GET", "/api/todos/99999999999999999999999"),
        ("PUT", "/api/todos/1/extra"),
        ("DELETE", "/api/auth"),
    ] {
        let m: reqwest::Method = method.parse().expect("method");
        let r = c
            .send(c.http.request(m, format!("{}{path}", app.url)))
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {:?}",
            r.body
        );
        assert_eq!(r.code(), "not_found", "{method} {path}");
        assert!(header(&r, "content-type").is_some_and(|t| t.starts_with("application/json")));
        assert_no_leak(&r);
    }
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405_with_allow() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    for (method, path, allow) in [
        ("PUT", "/api/todos/1", "GET, PATCH, DELETE, HEAD, OPTIONS"),
        ("DELETE", "/api/todos", "GET, POST, HEAD, OPTIONS"),
        ("POST", "/api/auth/verify", "GET, HEAD, OPTIONS"),
        ("GET", "/api/auth/login", "POST, OPTIONS"),
        ("TRACE", "/healthz", "GET, HEAD, OPTIONS"),
        ("POST", "/", "GET, HEAD, OPTIONS"),
    ] {
        let m: reqwest::Method = method.parse().expect("method");
        let r = c
            .send(c.http.request(m, format!("{}{path}", app.url)))
            .await;
        assert_eq!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {:?}",
            r.body
        );
        assert_eq!(r.code(), "method_not_allowed", "{method} {path}");
        assert_eq!(header(&r, "allow"), Some(allow), "{method} {path}");
        assert_no_leak(&r);
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_payload_too_large() {
    let app = spawn_app_with(|c| c.max_body_bytes = 1024).await;
    let (c, _) = app.user().await;
    // Just under the limit is fine.
    let r = c
        .post(
            "/api/todos",
            json!({"title": "a".repeat(500), "description": "d".repeat(400)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    for path in ["/api/todos", "/api/auth/register", "/api/auth/login"] {
        let r = c
            .post(
                path,
                json!({"title": "x".repeat(2000), "email": "a@b.co", "password": "x".repeat(2000)}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{path}: {:?}",
            r.body
        );
        assert_eq!(r.code(), "payload_too_large");
    }
    let todo = c.add_todo("small").await;
    let r = c
        .patch(
            &format!("/api/todos/{}", todo.id),
            json!({"description": "y".repeat(5000)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        c.get(&format!("/api/todos/{}", todo.id)).await.todo(),
        todo,
        "nothing changed"
    );
    assert_eq!(
        c.get("/api/todos").await.todos().len(),
        2,
        "nothing created"
    );

    // A chunked body carries no Content-Length: it is counted as it arrives.
    let chunk = "x".repeat(512);
    let mut req = String::from(
        "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..4 {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    let (status, head, body) = raw_http(&app, req.as_bytes()).await;
    assert_eq!(status, 413, "{head}\n{body}");
    assert!(body.contains("payload_too_large"), "{body}");
}

// ---------------------------------------------------------------------------------------------
// Hostile input sweep
// ---------------------------------------------------------------------------------------------

/// Every hostile input the suite knows, against every endpoint that reads input: never a 5xx,
/// never internals in the body, always the contract's error shape.
#[tokio::test]
async fn no_hostile_input_produces_a_500_or_leaks_internals() {
    let app = spawn_app().await;
    let (c, user) = app.user().await;
    let todo = c.add_todo("mine").await;
    let todo_path = format!("/api/todos/{}", todo.id);
    let strings = [
        "'; DROP TABLE users; --",
        "\" OR 1=1 --",
        "1; SELECT pg_sleep(5)",
        "<script>alert(1)</script>",
        "\u{0}",
        "nul\u{0}inside",
        "\u{202e}rtl\u{200b}zero-width",
        "🦀".repeat(600).leak(),
        "%00%27",
        "../../etc/passwd",
        "${jndi:ldap://x}",
        "\\x00\\u0000",
    ];
    let mut answers = Vec::new();
    for s in strings {
        answers.push(
            c.post("/api/todos", json!({"title": s, "description": s}))
                .await,
        );
        answers.push(c.patch(&todo_path, json!({"title": s})).await);
        answers.push(c.patch(&todo_path, json!({"description": s})).await);
        answers.push(
            app.client()
                .post("/api/auth/register", json!({"email": s, "password": s}))
                .await,
        );
        answers.push(app.client().post("/api/auth/register", json!({"email": format!("{}@x.example", s.replace(' ', "")), "password": PASSWORD, "name": s})).await);
        answers.push(app.client().login(s, s).await);
        answers.push(app.client().login(&user.email, s).await);
        answers.push(c.get(&format!("/api/todos?status={}", urlencode(s))).await);
        if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            answers.push(Bearer::new(&app, s).get("/api/auth/verify").await);
        }
    }
    for body in [
        "",
        "null",
        "[]",
        "\"str\"",
        "1e999",
        "{\"title\":",
        "{\"title\": {\"$gt\": \"\"}}",
        "{\"title\": [1,2]}",
        "\u{feff}{}",
        "{\"title\":\"a\",\"title\":\"b\"}",
    ] {
        answers.push(post_raw(&c, "/api/todos", "application/json", body).await);
        answers.push(post_raw(&c, "/api/auth/login", "application/json", body).await);
        answers.push(post_raw(&c, "/api/auth/register", "text/plain", body).await);
    }
    // Deeply nested JSON.
    let deep: &'static str = format!("{}{}", "[".repeat(5000), "]".repeat(5000)).leak();
    answers.push(post_raw(&c, "/api/todos", "application/json", deep).await);
    // Cookies that are not what they claim to be.
    for cookie in [
        "access_token=",
        "access_token=a.b.c",
        "refresh_token=1.x",
        "refresh_token=-1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "refresh_token=99999999999999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let anon = Client::new(&app.url);
        answers.push(
            anon.send(
                anon.http
                    .post(format!("{}/api/auth/refresh", app.url))
                    .header("cookie", cookie),
            )
            .await,
        );
        answers.push(
            anon.send(
                anon.http
                    .get(format!("{}/api/auth/verify", app.url))
                    .header("cookie", cookie),
            )
            .await,
        );
    }
    for r in &answers {
        assert_no_leak(r);
    }
    // The user's data is intact.
    assert_eq!(c.get("/api/auth/verify").await.status, StatusCode::OK);
    assert!(
        c.get("/api/todos")
            .await
            .todos()
            .iter()
            .any(|t| t.id == todo.id)
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
