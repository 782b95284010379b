//! `/api/todos` as a client sees it: every row of the contract's todo table, the validation
//! rules, other users' ids, hostile titles stored verbatim, and the cross-site check.

use chrono::{DateTime, Utc};
use protocol::Todo;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Bearer, Client, EVIL, TestApp, assert_422, assert_no_leak, header, post_raw, spawn_app,
    spawn_app_with, user_with_token, with_origin,
};

fn path(id: i64) -> String {
    format!("/api/todos/{id}")
}

async fn list(c: &Client, query: &str) -> Vec<Todo> {
    let r = c.get(&format!("/api/todos{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {:?}", r.body);
    r.todos()
}

fn titles(todos: &[Todo]) -> Vec<&str> {
    todos.iter().map(|t| t.title.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_returns_201_with_the_trimmed_todo() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    let before = Utc::now();
    let r = c
        .post("/api/todos", json!({"title": "  buy milk \n"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let obj = r.body["todo"].as_object().expect("todo object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "completed",
            "created_at",
            "description",
            "id",
            "title",
            "updated_at"
        ]
    );
    let t = r.todo();
    assert!(t.id > 0);
    assert_eq!(t.title, "buy milk");
    assert_eq!(t.description, "", "description defaults to empty");
    assert!(!t.completed);
    assert_eq!(t.created_at, t.updated_at);
    assert!((t.created_at - before).num_seconds().abs() < 60);
    // Times are RFC 3339 UTC strings.
    let raw = r.body["todo"]["created_at"].as_str().unwrap();
    assert!(raw.ends_with('Z') || raw.ends_with("+00:00"), "{raw}");
    raw.parse::<DateTime<Utc>>().expect("RFC 3339");

    let r = c
        .post(
            "/api/todos",
            json!({"title": "with text", "description": "  kept as given  "}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.todo().description, "  kept as given  ");
    // What the answer says is what is stored.
    assert_eq!(c.get(&path(t.id)).await.todo(), t);
}

#[tokio::test]
async fn create_validates_with_422_naming_the_field_and_400_for_bad_json() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    for (body, field) in [
        (json!({}), "title"),
        (json!({"description": "no title"}), "title"),
        (json!({"title": ""}), "title"),
        (json!({"title": " \t\n "}), "title"),
        (json!({"title": null}), "title"),
        (json!({"title": "x".repeat(501)}), "title"),
        (json!({"title": format!(" {} ", "é".repeat(501))}), "title"),
        (
            json!({"title": "ok", "description": "d".repeat(10_001)}),
            "description",
        ),
        (json!({"title": "nul\u{0}"}), "title"),
    ] {
        assert_422(&c.post("/api/todos", body).await, field);
    }
    for body in [
        "",
        "nope",
        "[]",
        "[{\"title\":\"a\"}]",
        "\"title\"",
        "{\"title\": 1}",
        "{\"title\": [\"a\"]}",
        "{\"title\": \"a\", \"description\": 5}",
        "{\"title\": true}",
    ] {
        let r = post_raw(&c, "/api/todos", "application/json", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {:?}", r.body);
        assert_eq!(r.code(), "bad_request");
        assert_no_leak(&r);
    }
    assert!(list(&c, "").await.is_empty(), "nothing was created");

    // The boundaries are accepted: 500 characters of title (after trimming, counted as
    // characters not bytes) and 10,000 of description.
    let r = c
        .post(
            "/api/todos",
            json!({"title": format!("  {}  ", "é".repeat(500)), "description": "ü".repeat(10_000)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let t = r.todo();
    assert_eq!(t.title.chars().count(), 500);
    assert_eq!(t.description.chars().count(), 10_000);
    assert_eq!(c.get(&path(t.id)).await.todo(), t);
}

// ---------------------------------------------------------------------------------------------
// List, get
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn list_is_oldest_first_and_filters_by_status() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    assert!(list(&c, "").await.is_empty());
    let mut made = Vec::new();
    for title in ["first", "second", "third", "fourth"] {
        made.push(c.add_todo(title).await);
    }
    for t in [&made[1], &made[3]] {
        assert_eq!(
            c.patch(&path(t.id), json!({"completed": true}))
                .await
                .status,
            StatusCode::OK
        );
    }
    // Completing does not reorder.
    assert_eq!(
        titles(&list(&c, "").await),
        ["first", "second", "third", "fourth"]
    );
    assert_eq!(
        titles(&list(&c, "?status=all").await),
        ["first", "second", "third", "fourth"]
    );
    assert_eq!(
        titles(&list(&c, "?status=pending").await),
        ["first", "third"]
    );
    assert_eq!(
        titles(&list(&c, "?status=completed").await),
        ["second", "fourth"]
    );
    assert!(
        list(&c, "?status=completed")
            .await
            .iter()
            .all(|t| t.completed)
    );
    for bad in [
        "done",
        "ALL",
        "Pending",
        "1",
        "pending;drop",
        "completed%00",
    ] {
        let r = c.get(&format!("/api/todos?status={bad}")).await;
        assert_422(&r, "status");
    }
}

#[tokio::test]
async fn get_returns_the_todo_or_404() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    let t = c.add_todo("one").await;
    let r = c.get(&path(t.id)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.todo(), t);
    for id in [t.id + 1, 999_999_999_999] {
        let r = c.get(&path(id)).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{id}"
        );
    }
}

#[tokio::test]
async fn every_todo_route_needs_a_session() {
    let app = spawn_app().await;
    let (owner, _) = app.user().await;
    let t = owner.add_todo("private").await;
    let anon = app.client();
    let answers = [
        anon.get("/api/todos").await,
        anon.post("/api/todos", json!({"title": "x"})).await,
        anon.get(&path(t.id)).await,
        anon.patch(&path(t.id), json!({"title": "x"})).await,
        anon.delete(&path(t.id)).await,
    ];
    for r in answers {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{:?}",
            r.body
        );
    }
    assert_eq!(owner.get(&path(t.id)).await.todo(), t);
}

// ---------------------------------------------------------------------------------------------
// Patch
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    let r = c
        .post(
            "/api/todos",
            json!({"title": "original", "description": "desc"}),
        )
        .await;
    let t0 = r.todo();

    let r = c.patch(&path(t0.id), json!({"title": "  renamed  "})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let t1 = r.todo();
    assert_eq!(
        (
            t1.id,
            t1.title.as_str(),
            t1.description.as_str(),
            t1.completed
        ),
        (t0.id, "renamed", "desc", false)
    );
    assert_eq!(t1.created_at, t0.created_at);
    assert!(t1.updated_at >= t0.updated_at);

    let t2 = c
        .patch(&path(t0.id), json!({"description": ""}))
        .await
        .todo();
    assert_eq!(
        (t2.title.as_str(), t2.description.as_str(), t2.completed),
        ("renamed", "", false)
    );

    let t3 = c
        .patch(&path(t0.id), json!({"completed": true}))
        .await
        .todo();
    assert_eq!(
        (t3.title.as_str(), t3.description.as_str(), t3.completed),
        ("renamed", "", true)
    );
    let t4 = c
        .patch(&path(t0.id), json!({"completed": false}))
        .await
        .todo();
    assert!(!t4.completed);

    let r = c
        .patch(
            &path(t0.id),
            json!({"title": "all", "description": "three", "completed": true}),
        )
        .await;
    let t5 = r.todo();
    assert_eq!(
        (t5.title.as_str(), t5.description.as_str(), t5.completed),
        ("all", "three", true)
    );
    assert_eq!(c.get(&path(t0.id)).await.todo(), t5);
    assert!(t5.updated_at >= t4.updated_at);
}

#[tokio::test]
async fn patch_validates_and_leaves_the_todo_unchanged_on_error() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    let t = c
        .post("/api/todos", json!({"title": "keep", "description": "me"}))
        .await
        .todo();
    for (body, field) in [
        (json!({}), "body"),
        (json!({"unknown": 1}), "body"),
        (json!({"title": null}), "body"),
        (json!({"title": ""}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "x".repeat(501)}), "title"),
        (json!({"description": "d".repeat(10_001)}), "description"),
        (
            json!({"title": "fine", "description": "d".repeat(10_001)}),
            "description",
        ),
        (json!({"title": "", "completed": true}), "title"),
    ] {
        let r = c.patch(&path(t.id), body.clone()).await;
        assert_422(&r, field);
    }
    for body in [
        "",
        "x",
        "[]",
        "{\"completed\": \"yes\"}",
        "{\"completed\": 1}",
        "{\"title\": 5}",
        "{\"description\": {}}",
    ] {
        let r = c
            .send(
                c.http
                    .patch(format!("{}{}", c.base, path(t.id)))
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{body:?}: {:?}",
            r.body
        );
    }
    assert_eq!(
        c.get(&path(t.id)).await.todo(),
        t,
        "every refused patch changed nothing"
    );
    // The boundaries are accepted.
    let r = c
        .patch(
            &path(t.id),
            json!({"title": "t".repeat(500), "description": "d".repeat(10_000)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A patch of an id that does not exist is a 404, even when the body is fine.
    let r = c.patch(&path(t.id + 100), json!({"completed": true})).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
}

// ---------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_is_204_then_the_todo_is_gone() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    let keep = c.add_todo("keep").await;
    let gone = c.add_todo("gone").await;
    let r = c.delete(&path(gone.id)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null);
    for r in [
        c.get(&path(gone.id)).await,
        c.delete(&path(gone.id)).await,
        c.patch(&path(gone.id), json!({"completed": true})).await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{:?}",
            r.body
        );
    }
    assert_eq!(list(&c, "").await, vec![keep]);
}

// ---------------------------------------------------------------------------------------------
// Other users' todos
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_users_todo_is_404_for_every_method_and_nothing_changes() {
    let app = spawn_app().await;
    let (alice, _) = app.user().await;
    let (mallory, _) = app.user().await;
    let secret = alice
        .post(
            "/api/todos",
            json!({"title": "alice's", "description": "private"}),
        )
        .await
        .todo();
    let missing = mallory.get(&path(secret.id + 1000)).await;

    let answers = [
        mallory.get(&path(secret.id)).await,
        mallory
            .patch(
                &path(secret.id),
                json!({"title": "owned", "completed": true}),
            )
            .await,
        mallory
            .patch(&path(secret.id), json!({"completed": true}))
            .await,
        mallory.delete(&path(secret.id)).await,
    ];
    for r in &answers {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{:?}",
            r.body
        );
        // Exactly the answer for an id that does not exist: nothing says it is someone else's.
        assert_eq!(r.body, missing.body);
    }
    // Nothing changed, nothing leaked into the other list.
    assert_eq!(alice.get(&path(secret.id)).await.todo(), secret);
    assert_eq!(list(&alice, "").await, vec![secret.clone()]);
    assert!(list(&mallory, "").await.is_empty());
    // Mallory's own todo is a different row, with a different id.
    let own = mallory.add_todo("mine").await;
    assert_ne!(own.id, secret.id);
    assert_eq!(list(&alice, "").await, vec![secret]);
}

// ---------------------------------------------------------------------------------------------
// Hostile titles
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sql_and_html_in_titles_are_stored_verbatim() {
    let app = spawn_app().await;
    let (c, _) = app.user().await;
    let (other, _) = app.user().await;
    let other_todo = other.add_todo("untouched").await;
    let hostile = [
        "'; DROP TABLE todos; --",
        "Robert'); DELETE FROM users WHERE ('1'='1",
        "\" OR \"1\"=\"1",
        "1 OR 1=1; UPDATE todos SET completed = TRUE",
        "$1 $2 ? ?1 :name @p",
        "<script>alert(document.cookie)</script>",
        "<img src=x onerror=alert(1)>",
        "&lt;already escaped&gt; &amp;",
        "{{7*7}} ${7*7} #{7*7}",
        "back\\slash and 'quotes' and \"doubles\"",
        "🦀 emoji, ñ, 漢字, \u{202e}rtl",
        "line\nbreak\ttab",
    ];
    let mut made = Vec::new();
    for title in hostile {
        let r = c
            .post("/api/todos", json!({"title": title, "description": title}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{title}: {:?}", r.body);
        let t = r.todo();
        assert_eq!(t.title, title.trim());
        assert_eq!(t.description, title);
        made.push(t);
    }
    // Read back exactly, in order, and the JSON answers carry them as JSON strings (no HTML
    // escaping is the server's business; the content type says it is JSON, never HTML).
    let r = c.get("/api/todos").await;
    assert!(header(&r, "content-type").is_some_and(|t| t.starts_with("application/json")));
    assert_eq!(r.todos(), made);
    for t in &made {
        let r = c
            .patch(&path(t.id), json!({"title": format!("{} ", t.title)}))
            .await;
        assert_eq!(r.todo().title, t.title);
    }
    // The tables are intact: the other user and their todo are still there.
    assert_eq!(other.get("/api/auth/verify").await.status, StatusCode::OK);
    assert_eq!(list(&other, "").await, vec![other_todo]);
    assert_eq!(list(&c, "?status=completed").await, vec![]);
}

// ---------------------------------------------------------------------------------------------
// Cross-site
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cross_origin_writes_are_403_and_change_nothing() {
    let app = spawn_app().await;
    let (c, _, token) = user_with_token(&app).await;
    let t = c.add_todo("target").await;
    for origin in [EVIL, "null", "http://127.0.0.1", "https://127.0.0.1:1"] {
        let answers = [
            with_origin(
                &c,
                "POST",
                "/api/todos",
                origin,
                Some(json!({"title": "csrf"})),
            )
            .await,
            with_origin(
                &c,
                "PATCH",
                &path(t.id),
                origin,
                Some(json!({"title": "csrf", "completed": true})),
            )
            .await,
            with_origin(&c, "DELETE", &path(t.id), origin, None).await,
            // Even with a bearer token (which a cross-site page cannot have, but still).
            {
                let b = Bearer::new(&app, &token);
                b.c.send(
                    b.c.http
                        .post(format!("{}/api/todos", app.url))
                        .bearer_auth(&token)
                        .header("origin", origin)
                        .json(&json!({"title": "csrf"})),
                )
                .await
            },
            // And for a todo that does not exist: 403 first, never a 404 that reveals anything.
            with_origin(&c, "DELETE", &path(t.id + 99), origin, None).await,
            // And without a session at all: 403, not 401.
            with_origin(
                &app.client(),
                "POST",
                "/api/todos",
                origin,
                Some(json!({"title": "csrf"})),
            )
            .await,
        ];
        for r in answers {
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::FORBIDDEN, "forbidden_origin"),
                "{origin}: {:?}",
                r.body
            );
            assert!(header(&r, "access-control-allow-origin").is_none());
        }
    }
    assert_eq!(
        list(&c, "").await,
        vec![t.clone()],
        "nothing created, changed or deleted"
    );

    // A safe GET from a foreign origin is answered, but without CORS headers the browser does
    // not let that page read it.
    let r = with_origin(&c, "GET", "/api/todos", EVIL, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(header(&r, "access-control-allow-origin").is_none());

    // The server's own origin and configured ones may write, and get exact CORS.
    let own = app.url.clone();
    let r = with_origin(
        &c,
        "PATCH",
        &path(t.id),
        &own,
        Some(json!({"completed": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some(own.as_str())
    );
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
}

#[tokio::test]
async fn configured_origins_may_write_and_others_may_not() {
    let app: TestApp =
        spawn_app_with(|c| c.allowed_origins = vec!["https://app.example".into()]).await;
    let (c, _) = app.user().await;
    let r = with_origin(
        &c,
        "POST",
        "/api/todos",
        "https://app.example",
        Some(json!({"title": "ok"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
    let id = r.todo().id;
    // Lookalikes are not the configured origin.
    for origin in [
        "http://app.example",
        "https://app.example:8443",
        "https://app.example.evil.example",
        "https://evilapp.example",
    ] {
        let r = with_origin(&c, "DELETE", &path(id), origin, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{origin}");
    }
    assert_eq!(list(&c, "").await.len(), 1);
    let r = with_origin(&c, "DELETE", &path(id), "https://APP.example", None).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "origins compare case-insensitively"
    );
}
