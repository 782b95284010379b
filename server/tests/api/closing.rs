//! Every close the server starts reaches the client as its code — even while the client is
//! still sending (the closing handshake; before, the client saw a reset and 1006): 4029 after a
//! flood, 4001 on logout, 1009 for a frame too large, 1008 for a client too slow to read,
//! 1001 on shutdown, 1011 when the database fails under the socket. And two frames that once
//! broke the socket's manners: an unrepresentable number (answered with the client's `id`) and
//! `hello` from the smallest `seq` there is.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{ErrorCode, ServerMessage};
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, connect, spawn_app_with, user_with_token};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw socket (no welcome read): the client may flood from the first moment.
async fn open(app: &TestApp, token: &str) -> Ws {
    let mut req = app.ws_url().into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade")
        .0
}

/// Floods the socket with pings (and, when `big` is given, that frame as the hundred-and-first)
/// while reading; returns the close code the server sent. A reset, or the end of the
/// connection without a Close frame, fails the test.
async fn flooded_until_closed<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    big: Option<String>,
    read_after: Duration,
) -> u16
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    // Frames of about a KiB, written in batches: the server always has unread data when
    // it decides to close, which is what used to turn its close into a reset.
    let pad = "p".repeat(1000);
    let flood = tokio::spawn(async move {
        for i in 0u64.. {
            let frame = match &big {
                Some(b) if i == 100 => b.clone(),
                _ => format!(r#"{{"type":"ping","id":"f{i}{pad}"}}"#),
            };
            if sink.feed(Message::Text(frame.into())).await.is_err() {
                return;
            }
            if i % 64 == 0 && sink.flush().await.is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(read_after).await;
    let code = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
                Some(Ok(Message::Close(None))) => panic!("a Close without a code"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the connection broke before a Close: {e}"),
                None => panic!("the connection ended without a Close"),
            }
        }
    })
    .await
    .expect("closed in time");
    flood.abort();
    code
}

#[tokio::test]
async fn a_flood_is_closed_with_4029_and_the_client_reads_it() {
    let app = spawn_app_with(|c| c.ws_rate_per_sec = 5).await;
    let (_, _, token) = user_with_token(&app).await;
    let ws = open(&app, &token).await;
    assert_eq!(flooded_until_closed(ws, None, Duration::ZERO).await, 4029);
}

#[tokio::test]
async fn logout_closes_a_flooding_socket_with_4001() {
    let app = spawn_app_with(|c| c.ws_rate_per_sec = 1_000_000).await;
    let (c, _, token) = user_with_token(&app).await;
    let ws = open(&app, &token).await;
    let logout = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            c.post_empty("/api/auth/logout").await.status,
            StatusCode::NO_CONTENT
        );
    });
    assert_eq!(flooded_until_closed(ws, None, Duration::ZERO).await, 4001);
    logout.await.expect("logout");
}

#[tokio::test]
async fn a_frame_too_large_in_a_flood_is_closed_with_1009() {
    let app = spawn_app_with(|c| {
        c.ws_rate_per_sec = 1_000_000;
        c.ws_max_message_bytes = 1024;
    })
    .await;
    let (_, _, token) = user_with_token(&app).await;
    let ws = open(&app, &token).await;
    let big = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(64 * 1024));
    assert_eq!(
        flooded_until_closed(ws, Some(big), Duration::ZERO).await,
        1009
    );
}

#[tokio::test]
async fn shutdown_closes_a_flooding_socket_with_1001() {
    let app = spawn_app_with(|c| c.ws_rate_per_sec = 1_000_000).await;
    let (_, _, token) = user_with_token(&app).await;
    let ws = open(&app, &token).await;
    let TestApp { app, .. } = app;
    let shutdown = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.shutdown().await;
    });
    assert_eq!(flooded_until_closed(ws, None, Duration::ZERO).await, 1001);
    shutdown.await.expect("shutdown");
}

#[tokio::test]
async fn a_socket_too_slow_to_read_is_closed_with_1008() {
    let app = spawn_app_with(|c| {
        c.ws_rate_per_sec = 1_000_000;
        c.ws_send_queue = 8;
    })
    .await;
    let (c, _, token) = user_with_token(&app).await;
    // A small receive buffer, so that not reading fills the connection quickly.
    let tcp = tokio::net::TcpSocket::new_v4().expect("socket");
    tcp.set_recv_buffer_size(8 * 1024).expect("rcvbuf");
    let stream = tcp.connect(app.app.addr).await.expect("connect");
    let mut req = app.ws_url().into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (ws, _) = tokio_tungstenite::client_async(req, stream)
        .await
        .expect("upgrade");
    // Another tab makes big changes while this one does not read: the connection's buffers
    // fill, then the socket's queue, and the hub gives up on it. After a while it reads (and
    // floods), and finds the 1008 after what was already on its way.
    let changes = tokio::spawn(async move {
        let description = "x".repeat(9_000);
        for i in 0..2_000 {
            let r = c
                .post(
                    "/api/todos",
                    json!({"title": format!("t{i}"), "description": description}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED);
        }
    });
    let code = flooded_until_closed(ws, None, Duration::from_secs(3)).await;
    changes.abort();
    assert_eq!(code, 1008);
}

#[tokio::test]
async fn a_database_failure_under_the_socket_is_closed_with_1011() {
    let app = spawn_app_with(|c| c.ws_rate_per_sec = 1_000_000).await;
    let (_, _, token) = user_with_token(&app).await;
    // The upgrade's checks still pass (sessions, users' names), but the user's event counter
    // can no longer be read: the socket cannot say where its events start.
    let sql = "ALTER TABLE users RENAME COLUMN last_seq TO last_seq_gone";
    match &app.app.state.db {
        server::store::Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        server::store::Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .expect("break the schema");
    let ws = open(&app, &token).await;
    assert_eq!(flooded_until_closed(ws, None, Duration::ZERO).await, 1011);
}

#[tokio::test]
async fn an_unrepresentable_number_is_answered_with_the_clients_id() {
    let app = spawn_app_with(|_| {}).await;
    let (_, _, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    s.send_raw(r#"{"type":"todo.update","id":"big","todo_id":1e400}"#)
        .await;
    match s.recv().await {
        ServerMessage::Error { id, code, .. } => {
            assert_eq!(id.as_deref(), Some("big"));
            assert_eq!(code, ErrorCode::BadRequest);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn hello_from_the_smallest_seq_gets_a_snapshot() {
    let app = spawn_app_with(|_| {}).await;
    let (c, _, token) = user_with_token(&app).await;
    c.add_todo("one").await;
    let mut s = connect(&app, &token).await;
    s.send_raw(&format!(
        r#"{{"type":"hello","id":"h","last_seq":{}}}"#,
        i64::MIN
    ))
    .await;
    let (ack, before) = s.reply_to("h").await;
    assert!(matches!(ack, ServerMessage::Ack { .. }), "{ack:?}");
    assert!(
        before
            .iter()
            .any(|m| matches!(m, ServerMessage::TodoSnapshot { todos, .. } if todos.len() == 1)),
        "{before:?}"
    );
}
