//! Per-user quotas (`MAX_SOCKETS_PER_USER`, `MAX_CONVERSATIONS_PER_USER`: 409
//! `quota_exceeded`) and big lists: a user with megabytes of todos lists them over the socket
//! page by page and gets a snapshot in parts — no frame dropped for its size — and the
//! assistant's `list_tasks` shows a count and the first 50. (The todo quota belongs to the
//! write path and is tested with it.) On both databases.

use std::collections::BTreeSet;
use std::time::Duration;

use protocol::{AckResult, ClientMessage, ErrorCode, ServerMessage, StatusFilter, TODO_PAGE_MAX};
use reqwest::StatusCode;
use serde_json::json;
use server::config::AgentKind;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::chat::turn;
use crate::helpers::{Client, TestApp, connect, spawn_app_with, user_with_token};

/// The upgrade's status and, when refused, its error code.
async fn upgrade(app: &TestApp, token: &str) -> Result<(), (u16, String)> {
    let mut req = app.ws_url().into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => {
            // Held until the end of the test.
            std::mem::forget(ws);
            Ok(())
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body: serde_json::Value = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            Err((
                resp.status().as_u16(),
                body["error"]["code"].as_str().unwrap_or("").to_owned(),
            ))
        }
        Err(e) => panic!("upgrade: {e}"),
    }
}

#[tokio::test]
async fn sockets_per_user_are_capped_with_409_on_the_upgrade() {
    let app = spawn_app_with(|c| c.max_sockets_per_user = 3).await;
    let (_, _, token) = user_with_token(&app).await;
    let first = connect(&app, &token).await;
    for _ in 0..2 {
        upgrade(&app, &token).await.expect("within the quota");
    }
    assert_eq!(
        upgrade(&app, &token).await,
        Err((409, "quota_exceeded".to_owned()))
    );
    // Another user has places of their own.
    let (_, _, other) = user_with_token(&app).await;
    upgrade(&app, &other).await.expect("another user");
    // A socket that closes gives its place back.
    drop(first);
    let mut freed = false;
    for _ in 0..50 {
        if upgrade(&app, &token).await.is_ok() {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "the closed socket's place came back");
}

#[tokio::test]
async fn conversations_per_user_are_capped_with_409() {
    let app = spawn_app_with(|c| {
        c.agent = AgentKind::Offline;
        c.chat_rate_per_min = 10_000;
        c.max_conversations_per_user = 2;
    })
    .await;
    let (c, _, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    let first = turn(&mut s, None, "list my tasks").await.conversation_id;
    turn(&mut s, None, "what's pending?").await;
    let refused = s
        .call(ClientMessage::ChatSend {
            text: "add buy milk".into(),
            conversation_id: None,
        })
        .await;
    match &refused {
        ServerMessage::Error { code, message, .. } => {
            assert_eq!(*code, ErrorCode::QuotaExceeded);
            assert_eq!(code.status(), 409);
            assert!(message.contains('2'), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // An existing conversation goes on; deleting one makes room.
    turn(&mut s, Some(first), "add buy milk").await;
    assert_eq!(
        c.delete(&format!("/api/conversations/{first}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    turn(&mut s, None, "add buy bread").await;
}

/// Adds `n` todos with long descriptions through REST; their total JSON passes `mib` MiB.
async fn big_list(c: &Client, n: usize) -> Vec<i64> {
    let description = "x".repeat(9_500);
    let mut ids = Vec::new();
    for i in 0..n {
        let r = c
            .post(
                "/api/todos",
                json!({"title": format!("big {i}"), "description": description}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        ids.push(r.todo().id);
    }
    ids
}

#[tokio::test]
async fn five_mib_of_todos_come_over_the_socket_in_pages_and_snapshot_parts() {
    let app = spawn_app_with(|c| c.ws_rate_per_sec = 100_000).await;
    let (c, _, token) = user_with_token(&app).await;
    // 560 × ~9.6 KB of JSON: about 5.1 MiB.
    let ids = big_list(&c, 560).await;
    let mut s = connect(&app, &token).await;

    // todo.list, following next_after: every todo once, in order, no frame over a MiB.
    let mut listed = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let id = s
            .send(ClientMessage::TodoList {
                status: None,
                after,
                limit: None,
            })
            .await;
        let frame = loop {
            match tokio::time::timeout(
                Duration::from_secs(20),
                futures_util::StreamExt::next(&mut s.ws),
            )
            .await
            .expect("a page in time")
            .expect("open")
            .expect("frame")
            {
                tokio_tungstenite::tungstenite::Message::Text(t) => {
                    let m: ServerMessage = serde_json::from_str(t.as_str()).expect("json");
                    if matches!(&m, ServerMessage::Ack { id: Some(i), .. } if *i == id) {
                        break (t.len(), m);
                    }
                }
                other => panic!("{other:?}"),
            }
        };
        pages += 1;
        assert!(frame.0 < 1 << 20, "a page of {} bytes", frame.0);
        let ServerMessage::Ack {
            result: AckResult::Todos { todos, next_after },
            ..
        } = frame.1
        else {
            panic!("{:?}", frame.1);
        };
        assert!(!todos.is_empty() && todos.len() <= TODO_PAGE_MAX as usize);
        listed.extend(todos.iter().map(|t| t.id));
        match next_after {
            Some(n) => {
                assert_eq!(Some(&n), listed.last());
                after = Some(n);
            }
            None => break,
        }
    }
    assert_eq!(listed, ids, "every todo once, oldest first");
    assert!(pages > 1, "5 MiB does not fit one page");

    // An explicit limit; zero is refused.
    let small = s
        .call(ClientMessage::TodoList {
            status: Some(StatusFilter::Pending),
            after: Some(ids[10]),
            limit: Some(7),
        })
        .await;
    match small {
        ServerMessage::Ack {
            result: AckResult::Todos { todos, next_after },
            ..
        } => {
            assert_eq!(todos.iter().map(|t| t.id).collect::<Vec<_>>(), ids[11..18]);
            assert_eq!(next_after, Some(ids[17]));
        }
        other => panic!("{other:?}"),
    }
    let zero = s
        .call(ClientMessage::TodoList {
            status: None,
            after: None,
            limit: Some(0),
        })
        .await;
    assert!(
        matches!(
            zero,
            ServerMessage::Error {
                code: ErrorCode::ValidationFailed,
                ..
            }
        ),
        "{zero:?}"
    );

    // A snapshot (asked for by resuming from a seq the server has not reached): in parts with
    // one seq, `more` on all but the last, every todo once.
    let future = s.welcome_seq() + 1_000;
    let (ack, before) = {
        let id = s
            .send(ClientMessage::Hello {
                last_seq: Some(future),
            })
            .await;
        s.reply_to(&id).await
    };
    assert!(matches!(ack, ServerMessage::Ack { .. }), "{ack:?}");
    let parts: Vec<_> = before
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::TodoSnapshot { seq, todos, more } => Some((seq, todos, more)),
            _ => None,
        })
        .collect();
    assert!(parts.len() > 1, "{} parts", parts.len());
    let seqs: BTreeSet<_> = parts.iter().map(|p| p.0).collect();
    assert_eq!(seqs.len(), 1, "one seq for every part");
    assert!(parts[..parts.len() - 1].iter().all(|p| p.2));
    assert!(!parts[parts.len() - 1].2);
    let snap: Vec<i64> = parts
        .iter()
        .flat_map(|p| p.1.iter().map(|t| t.id))
        .collect();
    assert_eq!(snap, ids);
    // The socket is still there.
    let last = s
        .call(ClientMessage::TodoList {
            status: None,
            after: ids.get(ids.len() - 2).copied(),
            limit: None,
        })
        .await;
    assert!(
        matches!(&last, ServerMessage::Ack { result: AckResult::Todos { todos, next_after: None }, .. } if todos.len() == 1),
        "{last:?}"
    );
}

#[tokio::test]
async fn list_tasks_shows_the_model_a_count_and_the_first_50() {
    let app = spawn_app_with(|c| {
        c.agent = AgentKind::Offline;
        c.chat_rate_per_min = 10_000;
        c.ws_rate_per_sec = 100_000;
    })
    .await;
    let (c, _, token) = user_with_token(&app).await;
    for i in 0..120 {
        c.add_todo(&format!("task {i}")).await;
    }
    let mut s = connect(&app, &token).await;
    let seen = turn(&mut s, None, "list my tasks").await;
    let (_, _, result) = seen
        .tool_results()
        .into_iter()
        .find(|(_, name, _)| name == "list_tasks")
        .expect("a list_tasks call");
    assert_eq!(result["count"], 120);
    assert_eq!(result["truncated"], true);
    assert_eq!(result["todos"].as_array().map(Vec::len), Some(50));
    let text = seen.text();
    assert!(
        text.contains("120 tasks") && text.contains("70 more"),
        "{text}"
    );
}
