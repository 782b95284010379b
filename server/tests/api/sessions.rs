//! The devices list: `GET /api/auth/sessions`, `DELETE /api/auth/sessions/{id}`,
//! `POST /api/auth/logout-all` (contract Additions), with their sockets closing everywhere.

use std::time::Duration;

use protocol::ServerMessage;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Client, PASSWORD, TestApp, connect, spawn_app, user_with_token};

/// A second device of the same user: its own cookie jar and User-Agent.
async fn second_device(app: &TestApp, email: &str, agent: &str) -> (Client, String) {
    let c = app.client();
    let r = c
        .send(
            c.http
                .post(format!("{}/api/auth/login", app.url))
                .header("user-agent", agent)
                .json(&serde_json::json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let token = c.access_token(&r.cookies()).expect("access cookie");
    (
        Client {
            email: email.into(),
            ..c
        },
        token,
    )
}

fn sessions(body: &Value) -> Vec<Value> {
    body["sessions"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_list_shows_each_live_device_newest_first_and_marks_this_one() {
    let app = spawn_app().await;
    let (a, _, _) = user_with_token(&app).await;
    let (b, _) = second_device(&app, &a.email, "Phone/1.0 (test)").await;

    let r = a.get("/api/auth/sessions").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let list = sessions(&r.body);
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(
        list[0]["id"].as_i64() > list[1]["id"].as_i64(),
        "newest first"
    );
    assert_eq!(list[0]["user_agent"], "Phone/1.0 (test)");
    assert_eq!(list[0]["current"], false);
    assert_eq!(list[1]["current"], true);
    for s in &list {
        assert_eq!(s["ip"], "127.0.0.1");
        for field in ["created_at", "last_seen_at"] {
            assert!(
                s[field]
                    .as_str()
                    .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
                "{field}: {s}"
            );
        }
    }
    // The other device sees itself as current.
    let list = sessions(&b.get("/api/auth/sessions").await.body);
    assert_eq!(list[0]["current"], true);

    // Another user sees only their own.
    let (other, _, _) = user_with_token(&app).await;
    assert_eq!(
        sessions(&other.get("/api/auth/sessions").await.body).len(),
        1
    );
}

#[tokio::test]
async fn signing_a_device_out_ends_its_rest_and_its_sockets() {
    let app = spawn_app().await;
    let (a, _, a_token) = user_with_token(&app).await;
    let (b, b_token) = second_device(&app, &a.email, "Laptop").await;
    let mut b_socket = connect(&app, &b_token).await;
    let mut a_socket = connect(&app, &a_token).await;
    let b_id = sessions(&b.get("/api/auth/sessions").await.body)[0]["id"]
        .as_i64()
        .expect("id");

    let r = a.delete(&format!("/api/auth/sessions/{b_id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        assert_eq!(b_socket.recv().await, ServerMessage::SessionExpired);
        b_socket.closed_with().await
    })
    .await
    .expect("B's socket closed within 2 s");
    assert_eq!(closed, 4001);
    assert_eq!(b.get("/api/todos").await.status, StatusCode::UNAUTHORIZED);
    // A is untouched, and the list no longer shows B.
    a_socket.assert_silent(Duration::from_millis(200)).await;
    assert_eq!(a.get("/api/todos").await.status, StatusCode::OK);
    assert_eq!(sessions(&a.get("/api/auth/sessions").await.body).len(), 1);
    // Gone is gone: a second delete is 404.
    let r = a.delete(&format!("/api/auth/sessions/{b_id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_users_session_is_not_found_and_untouched() {
    let app = spawn_app().await;
    let (a, _, _) = user_with_token(&app).await;
    let (victim, _, victim_token) = user_with_token(&app).await;
    let mut victim_socket = connect(&app, &victim_token).await;
    let victim_id = sessions(&victim.get("/api/auth/sessions").await.body)[0]["id"]
        .as_i64()
        .expect("id");

    for id in [victim_id, victim_id + 1000] {
        let r = a.delete(&format!("/api/auth/sessions/{id}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}: {:?}", r.body);
        assert_eq!(r.body["error"]["code"], "not_found");
    }
    victim_socket
        .assert_silent(Duration::from_millis(200))
        .await;
    assert_eq!(victim.get("/api/todos").await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_all_ends_every_session_and_clears_the_cookies() {
    let app = spawn_app().await;
    let (a, _, a_token) = user_with_token(&app).await;
    let (b, b_token) = second_device(&app, &a.email, "Tablet").await;
    let mut sockets = [connect(&app, &a_token).await, connect(&app, &b_token).await];

    let r = a.post_empty("/api/auth/logout-all").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let cleared = r.cookies();
    for name in ["access_token=;", "refresh_token=;"] {
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
            "{cleared:?}"
        );
    }
    for s in &mut sockets {
        assert_eq!(s.recv().await, ServerMessage::SessionExpired);
        assert_eq!(s.closed_with().await, 4001);
    }
    for (c, token) in [(&a, &a_token), (&b, &b_token)] {
        let r = c
            .send(
                c.http
                    .get(format!("{}/api/todos", app.url))
                    .bearer_auth(token),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Without a session it is 401, like any other session route.
    let r = a.post_empty("/api/auth/logout-all").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn last_seen_moves_at_most_once_a_minute() {
    let app = spawn_app().await;
    let (a, _, _) = user_with_token(&app).await;
    let first = sessions(&a.get("/api/auth/sessions").await.body)[0]["last_seen_at"].clone();
    // Within the minute: requests do not write.
    for _ in 0..3 {
        assert_eq!(a.get("/api/todos").await.status, StatusCode::OK);
    }
    let again = sessions(&a.get("/api/auth/sessions").await.body)[0]["last_seen_at"].clone();
    assert_eq!(first, again);

    // Two minutes later (the row is aged in place), the next request notes the visit.
    let aged = chrono::Utc::now() - chrono::Duration::minutes(2);
    let sql = "UPDATE sessions SET last_seen_at = $1";
    match &app.app.state.db {
        server::store::Db::Sqlite(pool) => {
            sqlx::query(sql)
                .bind(aged)
                .execute(pool)
                .await
                .expect("age");
        }
        server::store::Db::Postgres(pool) => {
            sqlx::query(sql)
                .bind(aged)
                .execute(pool)
                .await
                .expect("age");
        }
    }
    assert_eq!(a.get("/api/todos").await.status, StatusCode::OK);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let seen = sessions(&a.get("/api/auth/sessions").await.body)[0]["last_seen_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .expect("last_seen_at");
        if seen > aged + chrono::Duration::seconds(60) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "last_seen_at stayed {seen}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
