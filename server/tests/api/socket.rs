//! The socket: authentication at the upgrade, live events on every tab, resume, robustness.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{AckResult, ClientMessage, ErrorCode, ServerMessage, Todo};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

fn add(title: &str) -> ClientMessage {
    ClientMessage::TodoAdd {
        title: title.into(),
        description: None,
    }
}

fn acked_todo(m: &ServerMessage) -> Todo {
    match m {
        ServerMessage::Ack {
            result: AckResult::Todo { todo },
            ..
        } => todo.clone(),
        other => panic!("expected a todo ack, got {other:?}"),
    }
}

fn error_code(m: &ServerMessage) -> ErrorCode {
    match m {
        ServerMessage::Error { code, .. } => *code,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The HTTP status a refused upgrade answered with.
async fn upgrade_status(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    let mut req = app.ws_url().into_client_request().unwrap();
    for (k, v) in headers {
        let name: http::HeaderName = k.parse().unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[tokio::test]
async fn the_upgrade_needs_a_valid_session_and_an_allowed_origin() {
    let app = spawn_app().await;
    let (_c, user, token) = user_with_token(&app).await;
    assert_eq!(upgrade_status(&app, &[]).await, 401);
    assert_eq!(
        upgrade_status(&app, &[("authorization", "Bearer not.a.jwt")]).await,
        401
    );
    let bearer = format!("Bearer {token}");
    assert_eq!(
        upgrade_status(
            &app,
            &[
                ("authorization", &bearer),
                ("origin", "https://evil.example")
            ]
        )
        .await,
        403
    );
    let own = app.url.clone();
    assert_eq!(
        upgrade_status(&app, &[("authorization", &bearer), ("origin", &own)]).await,
        101
    );
    let cookie = format!("access_token={token}");
    assert_eq!(upgrade_status(&app, &[("cookie", &cookie)]).await, 101);

    let s = connect(&app, &token).await;
    match &s.welcome {
        ServerMessage::Welcome {
            user: u,
            seq,
            protocol,
            ..
        } => {
            assert_eq!(u, &user);
            assert_eq!(*seq, 0);
            assert_eq!(*protocol, protocol::PROTOCOL_VERSION);
        }
        _ => unreachable!(),
    }
    // A plain GET on /ws is not an upgrade.
    let r = app
        .client()
        .send(
            app.client()
                .http
                .get(format!("{}/ws", app.url))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "bad_request");
}

#[tokio::test]
async fn every_socket_of_the_user_sees_every_change_and_nobody_else_does() {
    let app = spawn_app().await;
    let (rest, _, token) = user_with_token(&app).await;
    let (_, _, stranger_token) = user_with_token(&app).await;
    let mut a = connect(&app, &token).await;
    let mut b = connect(&app, &token).await;
    let mut stranger = connect(&app, &stranger_token).await;

    let added = acked_todo(&a.call(add("from socket A")).await);
    let from_rest = rest.add_todo("from REST").await;
    let r = rest
        .patch(
            &format!("/api/todos/{}", added.id),
            json!({"completed": true}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        rest.delete(&format!("/api/todos/{}", from_rest.id))
            .await
            .status,
        204
    );

    for s in [&mut a, &mut b] {
        match s.next_event().await {
            ServerMessage::TodoCreated { seq: 1, todo } => assert_eq!(todo, added),
            other => panic!("{other:?}"),
        }
        match s.next_event().await {
            ServerMessage::TodoCreated { seq: 2, todo } => assert_eq!(todo, from_rest),
            other => panic!("{other:?}"),
        }
        match s.next_event().await {
            ServerMessage::TodoUpdated { seq: 3, todo } => assert!(todo.completed),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(s.next_event().await, ServerMessage::TodoDeleted { seq: 4, todo_id } if todo_id == from_rest.id)
        );
    }
    stranger.assert_silent(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn commands_are_acked_with_the_clients_id_and_errors_name_the_code() {
    let app = spawn_app().await;
    let (_, _, token) = user_with_token(&app).await;
    let (_, _, other_token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    let mut other = connect(&app, &other_token).await;
    let theirs = acked_todo(&other.call(add("not yours")).await);

    let t = acked_todo(&s.call(add("  Buy milk  ")).await);
    assert_eq!(t.title, "Buy milk");
    let done = s.call(ClientMessage::TodoComplete { todo_id: t.id }).await;
    assert!(acked_todo(&done).completed);
    let upd = s
        .call(ClientMessage::TodoUpdate {
            todo_id: t.id,
            title: Some("Buy oat milk".into()),
            description: None,
            completed: Some(false),
        })
        .await;
    let upd = acked_todo(&upd);
    assert_eq!((upd.title.as_str(), upd.completed), ("Buy oat milk", false));
    match s
        .call(ClientMessage::TodoList {
            status: None,
            after: None,
            limit: None,
        })
        .await
    {
        ServerMessage::Ack {
            result: AckResult::Todos { todos, .. },
            ..
        } => assert_eq!(todos, vec![upd.clone()]),
        other => panic!("{other:?}"),
    }
    // Another user's todo: not found, and unchanged.
    for msg in [
        ClientMessage::TodoComplete { todo_id: theirs.id },
        ClientMessage::TodoDelete { todo_id: theirs.id },
        ClientMessage::TodoUpdate {
            todo_id: theirs.id,
            title: Some("mine".into()),
            description: None,
            completed: None,
        },
    ] {
        assert_eq!(error_code(&s.call(msg).await), ErrorCode::NotFound);
    }
    match other
        .call(ClientMessage::TodoList {
            status: None,
            after: None,
            limit: None,
        })
        .await
    {
        ServerMessage::Ack {
            result: AckResult::Todos { todos, .. },
            ..
        } => assert_eq!(todos, vec![theirs]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error_code(&s.call(add("   ")).await),
        ErrorCode::ValidationFailed
    );
    match s.call(ClientMessage::TodoDelete { todo_id: t.id }).await {
        ServerMessage::Ack {
            result: AckResult::Deleted { todo_id },
            ..
        } => assert_eq!(todo_id, t.id),
        other => panic!("{other:?}"),
    }
    let id = s.send(ClientMessage::Ping).await;
    let (pong, _) = loop {
        let m = s.recv().await;
        if let ServerMessage::Pong { id: Some(i) } = &m {
            break (m.clone(), i.clone());
        }
    };
    assert_eq!(pong, ServerMessage::Pong { id: Some(id) });
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_socket_stays_open() {
    let app = spawn_app().await;
    let (_, _, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    let cases = [
        ("not json", None),
        (r#"[1,2]"#, None),
        (r#"{"id":"u1","type":"todo.explode"}"#, Some("u1")),
        (r#"{"id":"u2","type":"todo.add"}"#, Some("u2")),
        (
            r#"{"id":"u3","type":"todo.delete","todo_id":"seven"}"#,
            Some("u3"),
        ),
        (r#"{"id":"u4"}"#, Some("u4")),
    ];
    for (text, want_id) in cases {
        s.send_raw(text).await;
        match s.recv().await {
            ServerMessage::Error {
                id,
                code: ErrorCode::BadRequest,
                message,
            } => {
                assert_eq!(id.as_deref(), want_id, "{text}");
                assert!(!message.is_empty());
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    s.ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert!(matches!(
        s.recv().await,
        ServerMessage::Error {
            code: ErrorCode::BadRequest,
            ..
        }
    ));
    // Still open and working.
    acked_todo(&s.call(add("still here")).await);
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009() {
    let app = spawn_app_with(|c| c.ws_max_message_bytes = 4096).await;
    let (_, _, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    let big = format!(r#"{{"type":"todo.add","title":"{}"}}"#, "x".repeat(5000));
    s.send_raw(&big).await;
    assert_eq!(s.closed_with().await, 1009);
}

#[tokio::test]
async fn flooding_is_refused_then_closed_with_4029() {
    let app = spawn_app_with(|c| c.ws_rate_per_sec = 1).await;
    let (_, _, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    let mut limited = 0;
    let code = loop {
        s.send(ClientMessage::Ping).await;
        match tokio::time::timeout(TIMEOUT, s.ws.next())
            .await
            .expect("frame")
        {
            Some(Ok(Message::Text(t))) => {
                if serde_json::from_str::<ServerMessage>(t.as_str()).is_ok_and(|m| {
                    matches!(
                        m,
                        ServerMessage::Error {
                            code: ErrorCode::RateLimited,
                            ..
                        }
                    )
                }) {
                    limited += 1;
                }
            }
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, 4029);
    assert!(
        limited >= 10,
        "saw {limited} rate_limited errors before the close"
    );
}

#[tokio::test]
async fn logout_expires_that_sessions_sockets_at_once() {
    let app = spawn_app().await;
    let (c, _, token) = user_with_token(&app).await;
    // A second session (another device) of the same user.
    let device = app.client();
    let r = device.login(&c.email, PASSWORD).await;
    let other_token = device.access_token(&r.cookies()).unwrap();
    let mut s = connect(&app, &token).await;
    let mut other = connect(&app, &other_token).await;

    let started = std::time::Instant::now();
    assert_eq!(c.post_empty("/api/auth/logout").await.status, 204);
    assert_eq!(s.recv().await, ServerMessage::SessionExpired);
    assert_eq!(s.closed_with().await, 4001);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    // The other device's socket is untouched.
    acked_todo(&other.call(add("still logged in")).await);
    // The old token no longer opens a socket.
    assert_eq!(
        upgrade_status(&app, &[("authorization", &format!("Bearer {token}"))]).await,
        401
    );
}

#[tokio::test]
async fn hello_replays_exactly_what_was_missed() {
    let app = spawn_app().await;
    let (rest, _, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    for i in 0..3 {
        acked_todo(&s.call(add(&format!("seen {i}"))).await);
    }
    let mut seen = 0;
    while seen < 3 {
        if let Some(seq) = s.next_event().await.seq() {
            seen = seq;
        }
    }
    drop(s);
    let missed: Vec<Todo> = futures_util::future::join_all((0..4).map(|i| async {
        let _ = i;
        Todo {
            ..rest.add_todo("missed").await
        }
    }))
    .await;
    let mut back = connect(&app, &token).await;
    assert_eq!(back.welcome_seq(), 7);
    let id = back.send(ClientMessage::Hello { last_seq: Some(3) }).await;
    let (ack, before) = back.reply_to(&id).await;
    let seqs: Vec<i64> = before.iter().filter_map(ServerMessage::seq).collect();
    assert_eq!(seqs, vec![4, 5, 6, 7]);
    let mut replayed: Vec<i64> = before
        .iter()
        .filter_map(|m| match m {
            ServerMessage::TodoCreated { todo, .. } => Some(todo.id),
            _ => None,
        })
        .collect();
    let mut want: Vec<i64> = missed.iter().map(|t| t.id).collect();
    replayed.sort();
    want.sort();
    assert_eq!(replayed, want);
    assert!(matches!(
        ack,
        ServerMessage::Ack {
            result: AckResult::Resumed { seq: 7 },
            ..
        }
    ));
    // Up to date: nothing to replay.
    let id = back.send(ClientMessage::Hello { last_seq: Some(7) }).await;
    let (ack, before) = back.reply_to(&id).await;
    assert!(before.is_empty(), "{before:?}");
    assert!(matches!(
        ack,
        ServerMessage::Ack {
            result: AckResult::Resumed { seq: 7 },
            ..
        }
    ));
}

#[tokio::test]
async fn hello_from_too_far_back_or_the_future_gets_a_snapshot() {
    let app = spawn_app_with(|c| c.event_retention = 10).await;
    let (rest, _, token) = user_with_token(&app).await;
    for i in 0..70 {
        rest.add_todo(&format!("t{i}")).await;
    }
    let mut s = connect(&app, &token).await;
    for last_seq in [2, 500] {
        let id = s
            .send(ClientMessage::Hello {
                last_seq: Some(last_seq),
            })
            .await;
        let (ack, before) = s.reply_to(&id).await;
        match before.as_slice() {
            [ServerMessage::TodoSnapshot { seq: 70, todos, .. }] => assert_eq!(todos.len(), 70),
            other => panic!("hello {last_seq}: {other:?}"),
        }
        assert!(matches!(
            ack,
            ServerMessage::Ack {
                result: AckResult::Resumed { seq: 70 },
                ..
            }
        ));
    }
    // Within the retained log: a replay, not a snapshot.
    let id = s.send(ClientMessage::Hello { last_seq: Some(65) }).await;
    let (_, before) = s.reply_to(&id).await;
    assert_eq!(
        before
            .iter()
            .filter_map(ServerMessage::seq)
            .collect::<Vec<_>>(),
        vec![66, 67, 68, 69, 70]
    );
}

#[tokio::test]
async fn a_restart_loses_nothing_that_was_acked() {
    let app = spawn_app().await;
    let (_, _, token) = user_with_token(&app).await;
    let db = app.database_url.clone();
    let secret = app.app.state.config.jwt_secret.clone().unwrap();
    let mut s = connect(&app, &token).await;
    let mut acked = Vec::new();
    for i in 0..5 {
        acked.push(acked_todo(&s.call(add(&format!("durable {i}"))).await));
    }
    drop(s);
    app.app.shutdown().await;
    let app2 = spawn_on(&db, |c| c.jwt_secret = Some(secret)).await;
    let mut s = connect(&app2, &token).await;
    assert_eq!(s.welcome_seq(), 5);
    let id = s.send(ClientMessage::Hello { last_seq: Some(0) }).await;
    let (_, before) = s.reply_to(&id).await;
    let replayed: Vec<Todo> = before
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::TodoCreated { todo, .. } => Some(todo),
            _ => None,
        })
        .collect();
    assert_eq!(replayed, acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sockets_twenty_concurrent_adds_each_no_event_lost_or_duplicated() {
    const SOCKETS: usize = 50;
    const ADDS: usize = 20;
    let app = spawn_app_with(|c| {
        c.ws_rate_per_sec = 10_000;
        c.db_max_connections = 8;
    })
    .await;
    let (_, _, token) = user_with_token(&app).await;
    let mut sockets = Vec::new();
    for _ in 0..SOCKETS {
        sockets.push(connect(&app, &token).await);
    }
    let total = (SOCKETS * ADDS) as i64;
    let runs = sockets
        .into_iter()
        .enumerate()
        .map(|(n, mut s)| async move {
            // Send all adds at once, then read until every event and every ack has arrived.
            let mut ids = Vec::new();
            for i in 0..ADDS {
                ids.push(s.send(add(&format!("s{n} #{i}"))).await);
            }
            let mut events: BTreeMap<i64, i64> = BTreeMap::new();
            let mut acks = 0;
            let mut last = 0;
            while acks < ADDS || (events.len() as i64) < total {
                match s.recv().await {
                    ServerMessage::Ack { .. } => acks += 1,
                    ServerMessage::TodoCreated { seq, todo } => {
                        assert_eq!(seq, last + 1, "socket {n}: out of order or gap");
                        last = seq;
                        assert!(
                            events.insert(seq, todo.id).is_none(),
                            "socket {n}: duplicate seq {seq}"
                        );
                    }
                    ServerMessage::Error { message, .. } => panic!("socket {n}: {message}"),
                    _ => {}
                }
            }
            events
        });
    let views = tokio::time::timeout(
        Duration::from_secs(120),
        futures_util::future::join_all(runs),
    )
    .await
    .expect("all events within 120 s");
    let first = &views[0];
    assert_eq!(first.len() as i64, total);
    assert_eq!(
        first.keys().copied().collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    for v in &views {
        assert_eq!(
            v, first,
            "every socket saw the same events with the same seqs"
        );
    }
}

#[tokio::test]
async fn graceful_shutdown_closes_sockets_with_1001() {
    let app = spawn_app().await;
    let (_, _, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    acked_todo(&s.call(add("before shutdown")).await);
    let TestApp { app, .. } = app;
    let shutdown = tokio::spawn(app.shutdown());
    assert_eq!(s.closed_with().await, 1001);
    shutdown.await.unwrap();
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_dropped() {
    let app = spawn_app_with(|c| {
        c.ws_ping_interval = Duration::from_millis(300);
        c.ws_idle_timeout = Duration::from_secs(1);
    })
    .await;
    let (_, _, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    // Not reading means not answering pings: the server gives up on the peer.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.app.state.hub.connections() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the silent peer was not dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // What the peer reads now: the pings it ignored, then the server's 1001 (or, when its
    // automatic pong hits the closed connection first, an error).
    loop {
        match tokio::time::timeout(TIMEOUT, s.ws.next())
            .await
            .expect("close in time")
        {
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), 1001);
                break;
            }
            Some(Ok(Message::Ping(_))) => continue,
            Some(Err(_)) | None => break,
            Some(Ok(other)) => panic!("unexpected {other:?}"),
        }
    }
}

mod pg_only {
    //! PostgreSQL only (several instances share one database through it): ignored on the
    //! default run, run by `scripts/test.sh`'s PostgreSQL pass with `pg_only -- --ignored`.

    use super::*;

    #[tokio::test]
    #[ignore = "needs PostgreSQL (TEST_DATABASE_URL); run with --ignored"]
    async fn two_instances_on_one_postgres_share_events_and_revocations() {
        require_postgres();
        let a = spawn_app().await;
        let secret = a.app.state.config.jwt_secret.clone();
        let b = spawn_on(&a.database_url, |c| c.jwt_secret = secret).await;
        let (rest_a, _, token) = user_with_token(&a).await;
        let mut on_b = connect(&b, &token).await;
        let mut on_a = connect(&a, &token).await;
        // Let B's listener subscribe before the first change.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut want = Vec::new();
        for i in 0..10 {
            if i % 2 == 0 {
                want.push(rest_a.add_todo(&format!("via A's REST {i}")).await.id);
            } else {
                want.push(acked_todo(&on_a.call(add(&format!("via A's socket {i}"))).await).id);
            }
        }
        let mut got = Vec::new();
        for expected_seq in 1..=10 {
            match on_b.next_event().await {
                ServerMessage::TodoCreated { seq, todo } => {
                    assert_eq!(seq, expected_seq, "in order, no gaps");
                    got.push(todo.id);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, want);
        // Logout on A closes the session's socket on B.
        assert_eq!(rest_a.post_empty("/api/auth/logout").await.status, 204);
        assert_eq!(on_b.recv().await, ServerMessage::SessionExpired);
        assert_eq!(on_b.closed_with().await, 4001);
    }
}

mod model {
    //! Property: whatever commands several sockets send, each socket's view (built only from
    //! the events it received) ends equal to the database.

    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Add(String),
        Complete(usize),
        Rename(usize, String),
        Reopen(usize),
        Delete(usize),
    }

    fn op() -> impl Strategy<Value = (usize, Op)> {
        let title = "[a-z]{1,8}( [a-z]{1,8})?";
        let op = prop_oneof![
            3 => title.prop_map(Op::Add),
            1 => any::<usize>().prop_map(Op::Complete),
            1 => (any::<usize>(), title).prop_map(|(k, t)| Op::Rename(k, t)),
            1 => any::<usize>().prop_map(Op::Reopen),
            1 => any::<usize>().prop_map(Op::Delete),
        ];
        (0..3usize, op)
    }

    fn apply(view: &mut BTreeMap<i64, Todo>, m: &ServerMessage) {
        match m {
            ServerMessage::TodoCreated { todo, .. } | ServerMessage::TodoUpdated { todo, .. } => {
                view.insert(todo.id, todo.clone());
            }
            ServerMessage::TodoDeleted { todo_id, .. } => {
                view.remove(todo_id);
            }
            _ => {}
        }
    }

    async fn run(ops: Vec<(usize, Op)>) {
        let app = spawn_app_with(|c| c.ws_rate_per_sec = 10_000).await;
        let (rest, _, token) = user_with_token(&app).await;
        let mut sockets = Vec::new();
        for _ in 0..3 {
            sockets.push(connect(&app, &token).await);
        }
        let mut views = vec![BTreeMap::new(); 3];
        let mut ids: Vec<i64> = Vec::new();
        let mut seqs = [0i64; 3];
        for (who, op) in ops {
            let pick = |k: usize| ids.get(k % ids.len().max(1)).copied().unwrap_or(1);
            let msg = match op {
                Op::Add(t) => ClientMessage::TodoAdd {
                    title: t,
                    description: None,
                },
                Op::Complete(k) => ClientMessage::TodoComplete { todo_id: pick(k) },
                Op::Rename(k, t) => ClientMessage::TodoUpdate {
                    todo_id: pick(k),
                    title: Some(t),
                    description: None,
                    completed: None,
                },
                Op::Reopen(k) => ClientMessage::TodoUpdate {
                    todo_id: pick(k),
                    title: None,
                    description: None,
                    completed: Some(false),
                },
                Op::Delete(k) => ClientMessage::TodoDelete { todo_id: pick(k) },
            };
            let id = sockets[who].send(msg).await;
            let (reply, before) = sockets[who].reply_to(&id).await;
            for m in &before {
                if let Some(seq) = m.seq() {
                    assert_eq!(seq, seqs[who] + 1);
                    seqs[who] = seq;
                }
                apply(&mut views[who], m);
            }
            match reply {
                ServerMessage::Ack {
                    result: AckResult::Todo { todo },
                    ..
                } if !ids.contains(&todo.id) => ids.push(todo.id),
                ServerMessage::Ack {
                    result: AckResult::Deleted { todo_id },
                    ..
                } => ids.retain(|i| *i != todo_id),
                ServerMessage::Ack { .. } => {}
                // Acting on a todo already deleted (or none yet): not_found, nothing changes.
                ServerMessage::Error {
                    code: ErrorCode::NotFound,
                    ..
                } => {}
                other => panic!("{other:?}"),
            }
        }
        let truth: BTreeMap<i64, Todo> = rest
            .get("/api/todos")
            .await
            .todos()
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        for (n, s) in sockets.iter_mut().enumerate() {
            // Read until this socket has every event the user has.
            let id = s.send(ClientMessage::Ping).await;
            loop {
                let m = s.recv().await;
                if let Some(seq) = m.seq() {
                    assert_eq!(seq, seqs[n] + 1);
                    seqs[n] = seq;
                }
                apply(&mut views[n], &m);
                if matches!(&m, ServerMessage::Pong { id: Some(i) } if *i == id) {
                    break;
                }
            }
            assert_eq!(
                views[n], truth,
                "socket {n}'s view differs from the database"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn every_sockets_view_equals_the_database(ops in proptest::collection::vec(op(), 1..40)) {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(run(ops));
        }
    }
}
