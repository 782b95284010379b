//! The assistant over the socket: the offline provider end to end, and the OpenAI-compatible
//! provider against the fake model server (tool calls, text, cancel, upstream failures).

use std::time::{Duration, Instant};

use protocol::{AckResult, ClientMessage, ErrorCode, FinishReason, ServerMessage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::AgentKind;

use crate::fake_openai::{self, Ev, FakeOpenAi, Reply, chunk};
use crate::helpers::{
    Socket, TestApp, connect, require_postgres, spawn_app_with, spawn_on, user_with_token,
};

/// A server whose assistant is the fake model.
async fn openai_app(fake: &FakeOpenAi, chunk_timeout: Duration) -> TestApp {
    let url = fake.url();
    spawn_app_with(move |c| {
        c.agent = AgentKind::OpenAi;
        c.openai_base_url = url;
        c.openai_api_key = Some("test".into());
        c.openai_model = "fake-model".into();
        c.openai_chunk_timeout = chunk_timeout;
        c.chat_rate_per_min = 10_000;
    })
    .await
}

async fn offline_app() -> TestApp {
    spawn_app_with(|c| {
        c.agent = AgentKind::Offline;
        c.chat_rate_per_min = 10_000;
    })
    .await
}

/// What one turn showed on a socket.
#[derive(Debug)]
struct Seen {
    conversation_id: i64,
    frames: Vec<ServerMessage>,
}

impl Seen {
    fn text(&self) -> String {
        self.frames
            .iter()
            .filter_map(|f| match f {
                ServerMessage::ChatDelta { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn done(&self) -> (i64, FinishReason, Option<String>) {
        self.frames
            .iter()
            .find_map(|f| match f {
                ServerMessage::ChatDone {
                    message_id,
                    finish_reason,
                    error,
                    ..
                } => Some((*message_id, *finish_reason, error.clone())),
                _ => None,
            })
            .expect("chat.done")
    }

    fn started(&self) -> i64 {
        self.frames
            .iter()
            .find_map(|f| match f {
                ServerMessage::ChatStarted { message_id, .. } => Some(*message_id),
                _ => None,
            })
            .expect("chat.started")
    }

    fn tool_calls(&self) -> Vec<(String, String, Value)> {
        self.frames
            .iter()
            .filter_map(|f| match f {
                ServerMessage::ChatToolCall {
                    call_id,
                    name,
                    arguments,
                    ..
                } => Some((call_id.clone(), name.clone(), arguments.clone())),
                _ => None,
            })
            .collect()
    }

    fn tool_results(&self) -> Vec<(String, String, Value)> {
        self.frames
            .iter()
            .filter_map(|f| match f {
                ServerMessage::ChatToolResult {
                    call_id,
                    name,
                    result,
                    ..
                } => Some((call_id.clone(), name.clone(), result.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Sends `chat.send` and reads until its ack and the conversation's `chat.done`.
async fn turn(s: &mut Socket, conversation_id: Option<i64>, text: &str) -> Seen {
    let id = s
        .send(ClientMessage::ChatSend {
            text: text.into(),
            conversation_id,
        })
        .await;
    let mut conv = None;
    let mut done = false;
    let mut frames = Vec::new();
    while conv.is_none() || !done {
        let m = s.recv().await;
        match &m {
            ServerMessage::Ack {
                id: Some(i),
                result: AckResult::Conversation { conversation_id },
            } if *i == id => conv = Some(*conversation_id),
            ServerMessage::Error { id: Some(i), .. } if *i == id => panic!("chat.send: {m:?}"),
            ServerMessage::ChatDone { .. } => done = true,
            _ => {}
        }
        frames.push(m);
    }
    Seen {
        conversation_id: conv.unwrap_or_default(),
        frames,
    }
}

/// Reads chat frames on another socket until `chat.done`.
async fn watch_until_done(s: &mut Socket) -> Vec<ServerMessage> {
    let mut frames = Vec::new();
    loop {
        let m = s.recv().await;
        let done = matches!(m, ServerMessage::ChatDone { .. });
        frames.push(m);
        if done {
            return frames;
        }
    }
}

async fn messages(c: &crate::helpers::Client, conversation_id: i64) -> Vec<Value> {
    let r = c
        .get(&format!("/api/conversations/{conversation_id}/messages"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["messages"].as_array().cloned().unwrap_or_default()
}

// ------------------------------------------------------------------------------------------
// Offline provider, end to end
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn offline_add_streams_tool_frames_and_the_todo_reaches_every_socket() {
    let app = offline_app().await;
    let (client, _user, token) = user_with_token(&app).await;
    let mut a = connect(&app, &token).await;
    let mut b = connect(&app, &token).await;

    let seen = turn(&mut a, None, "add a task to buy milk").await;
    let calls = seen.tool_calls();
    assert_eq!(calls.len(), 1, "{:?}", seen.frames);
    assert_eq!(calls[0].1, "add_task");
    assert_eq!(calls[0].2, json!({"title": "buy milk"}));
    let results = seen.tool_results();
    assert_eq!(results[0].0, calls[0].0);
    assert_eq!(results[0].2["todo"]["title"], "buy milk");
    let (message_id, reason, error) = seen.done();
    assert_eq!((reason, error), (FinishReason::Stop, None));
    assert_eq!(message_id, seen.started());
    let text = seen.text();
    assert!(text.starts_with("Added “buy milk”"), "{text}");
    assert!(
        seen.frames
            .iter()
            .filter(|f| matches!(f, ServerMessage::ChatDelta { .. }))
            .count()
            > 1,
        "the reply streams in pieces"
    );
    assert!(
        seen.frames.iter().any(
            |f| matches!(f, ServerMessage::TodoCreated { todo, .. } if todo.title == "buy milk")
        ),
        "todo.created on the asking socket"
    );

    // The other socket sees the todo event and the whole stream too.
    let watched = watch_until_done(&mut b).await;
    assert!(
        watched.iter().any(
            |f| matches!(f, ServerMessage::TodoCreated { todo, .. } if todo.title == "buy milk")
        ),
        "{watched:?}"
    );
    assert!(
        watched
            .iter()
            .any(|f| matches!(f, ServerMessage::ChatStarted { .. }))
    );
    assert!(
        watched
            .iter()
            .any(|f| matches!(f, ServerMessage::ChatToolResult { .. }))
    );

    // Saved: the conversation (titled from the message) and its rows.
    let r = client.get("/api/conversations").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["conversations"][0]["id"], seen.conversation_id);
    assert_eq!(
        r.body["conversations"][0]["title"],
        "add a task to buy milk"
    );
    let rows = messages(&client, seen.conversation_id).await;
    let roles: Vec<&str> = rows.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"], "{rows:?}");
    assert_eq!(rows[0]["content"], "add a task to buy milk");
    assert_eq!(rows[1]["id"], message_id);
    assert_eq!(
        rows[1]["content"], text,
        "the saved answer is what was streamed"
    );
    assert_eq!(rows[1]["tool_calls"][0]["name"], "add_task");
    assert_eq!(rows[1]["tool_calls"][0]["call_id"], calls[0].0.as_str());
    assert_eq!(rows[2]["call_id"], calls[0].0.as_str());
    assert_eq!(rows[2]["name"], "add_task");

    // A follow-up in the same conversation: found by name, completed, told.
    let seen = turn(&mut a, Some(seen.conversation_id), "complete the milk task").await;
    let names: Vec<String> = seen.tool_calls().into_iter().map(|c| c.1).collect();
    assert_eq!(names, ["list_tasks", "complete_task"]);
    assert!(
        seen.text().starts_with("Marked “buy milk”"),
        "{}",
        seen.text()
    );
    assert!(
        seen.frames
            .iter()
            .any(|f| matches!(f, ServerMessage::TodoUpdated { todo, .. } if todo.completed))
    );
    let todos = client.get("/api/todos?status=completed").await;
    assert_eq!(todos.todos().len(), 1);

    // Asked what it is, it says so.
    let seen = turn(&mut a, None, "who are you?").await;
    assert!(seen.text().contains("offline assistant"), "{}", seen.text());
    let metrics = client.get("/metrics").await;
    let metrics = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(metrics.contains("agent_first_token_seconds"), "metrics");
    assert!(metrics.contains("agent_tool_calls_total{tool=\"add_task\"}"));
}

#[tokio::test]
async fn a_turn_outlives_the_socket_that_asked() {
    let app = offline_app().await;
    let (client, _user, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    let ack = s
        .call(ClientMessage::ChatSend {
            text: "add call mom and list my tasks".into(),
            conversation_id: None,
        })
        .await;
    let conversation_id = conversation_of(&ack);
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = messages(&client, conversation_id).await;
        let answer = rows
            .iter()
            .find(|m| m["role"] == "assistant")
            .and_then(|m| m["content"].as_str())
            .unwrap_or("");
        if answer.contains("You have 1 task") {
            break;
        }
        assert!(Instant::now() < deadline, "answer never saved: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(client.get("/api/todos").await.todos().len(), 1);
}

#[tokio::test]
async fn chat_input_is_checked() {
    let app = spawn_app_with(|c| c.chat_rate_per_min = 3).await;
    let (_c, _user, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    let code = |m: ServerMessage| match m {
        ServerMessage::Error { code, .. } => Some(code),
        _ => None,
    };
    let send = |text: &str, conversation_id| ClientMessage::ChatSend {
        text: text.into(),
        conversation_id,
    };
    assert_eq!(
        code(s.call(send("   ", None)).await),
        Some(ErrorCode::ValidationFailed)
    );
    assert_eq!(
        code(s.call(send(&"x".repeat(4001), None)).await),
        Some(ErrorCode::ValidationFailed)
    );
    // Another user's conversation (or none at all) is not found, for send and cancel.
    let (_c2, _u2, token2) = user_with_token(&app).await;
    let mut s2 = connect(&app, &token2).await;
    let theirs = turn(&mut s2, None, "add secret plan").await.conversation_id;
    assert_eq!(
        code(s.call(send("hi", Some(theirs))).await),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        code(
            s.call(ClientMessage::ChatCancel {
                conversation_id: theirs
            })
            .await
        ),
        Some(ErrorCode::NotFound)
    );
    // The per-user rate limit (3 a minute; the refused ones above did not all count).
    let mut limited = false;
    for _ in 0..4 {
        let m = s.call(send("hello", None)).await;
        if code(m) == Some(ErrorCode::RateLimited) {
            limited = true;
            break;
        }
    }
    assert!(limited, "the fourth message in a minute is refused");
}

// ------------------------------------------------------------------------------------------
// OpenAI-compatible provider against the fake model
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn openai_tool_call_round_trip() {
    let fake = FakeOpenAi::start().await;
    fake.push(fake_openai::tool_calls(&[(
        "call_a",
        "add_task",
        r#"{"title":"buy milk","description":"2 litres"}"#,
    )]));
    fake.push(fake_openai::text(&["Added ", "“buy milk”", "."]));
    let app = openai_app(&fake, Duration::from_secs(5)).await;
    let (client, _user, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;

    let seen = turn(&mut s, None, "please add buy milk, 2 litres").await;
    assert_eq!(
        seen.tool_calls(),
        [(
            "call_a".to_owned(),
            "add_task".to_owned(),
            json!({"title": "buy milk", "description": "2 litres"})
        )]
    );
    let results = seen.tool_results();
    assert_eq!(results[0].0, "call_a");
    assert_eq!(results[0].2["todo"]["description"], "2 litres");
    assert_eq!(seen.text(), "Added “buy milk”.");
    assert_eq!(seen.done().1, FinishReason::Stop);
    assert!(
        seen.frames
            .iter()
            .any(|f| matches!(f, ServerMessage::TodoCreated { .. }))
    );

    // What the model was sent.
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].authorization.as_deref(), Some("Bearer test"));
    let first = &reqs[0].body;
    assert_eq!(first["stream"], true);
    assert_eq!(first["model"], "fake-model");
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["type"], "function");
            t["function"]["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        tools,
        [
            "add_task",
            "list_tasks",
            "complete_task",
            "update_task",
            "delete_task"
        ]
    );
    let msgs = first["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    assert_eq!(msgs.last().unwrap()["role"], "user");
    assert_eq!(
        msgs.last().unwrap()["content"],
        "please add buy milk, 2 litres"
    );
    // The second step carries the call and its result, linked by tool_call_id.
    let msgs = reqs[1].body["messages"].as_array().unwrap().clone();
    let n = msgs.len();
    assert_eq!(msgs[n - 2]["role"], "assistant");
    assert_eq!(msgs[n - 2]["tool_calls"][0]["id"], "call_a");
    assert_eq!(msgs[n - 2]["tool_calls"][0]["function"]["name"], "add_task");
    let args: Value = serde_json::from_str(
        msgs[n - 2]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args["title"], "buy milk");
    assert_eq!(msgs[n - 1]["role"], "tool");
    assert_eq!(msgs[n - 1]["tool_call_id"], "call_a");
    let result: Value = serde_json::from_str(msgs[n - 1]["content"].as_str().unwrap()).unwrap();
    assert_eq!(result["todo"]["title"], "buy milk");

    // Saved rows match what was streamed.
    let rows = messages(&client, seen.conversation_id).await;
    let roles: Vec<&str> = rows.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);
    assert_eq!(rows[1]["content"], "Added “buy milk”.");
    assert_eq!(rows[1]["tool_calls"][0]["call_id"], "call_a");
    assert_eq!(rows[2]["call_id"], "call_a");
}

#[tokio::test]
async fn openai_text_answer_and_history_on_the_next_turn() {
    let fake = FakeOpenAi::start().await;
    fake.push(fake_openai::text(&["Hel", "lo ", "there", "!"]));
    fake.push(fake_openai::text(&["Still here."]));
    let app = openai_app(&fake, Duration::from_secs(5)).await;
    let (client, _user, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;

    let seen = turn(&mut s, None, "hi").await;
    assert_eq!(seen.text(), "Hello there!");
    assert!(seen.tool_calls().is_empty());
    assert_eq!(seen.done().1, FinishReason::Stop);
    let rows = messages(&client, seen.conversation_id).await;
    assert_eq!(rows[1]["content"], "Hello there!");

    let again = turn(&mut s, Some(seen.conversation_id), "are you there?").await;
    assert_eq!(again.conversation_id, seen.conversation_id);
    assert_eq!(again.text(), "Still here.");
    let sent: Vec<(String, String)> = fake.body(1)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or("").to_owned(),
                m["content"].as_str().unwrap_or("").to_owned(),
            )
        })
        .skip(1)
        .collect();
    assert_eq!(
        sent,
        [
            ("user".to_owned(), "hi".to_owned()),
            ("assistant".to_owned(), "Hello there!".to_owned()),
            ("user".to_owned(), "are you there?".to_owned()),
        ]
    );
}

#[tokio::test]
async fn openai_two_tool_calls_in_one_turn() {
    let fake = FakeOpenAi::start().await;
    fake.push(fake_openai::tool_calls(&[
        ("call_1", "add_task", r#"{"title":"milk"}"#),
        ("call_2", "add_task", r#"{"title":"eggs"}"#),
    ]));
    fake.push(fake_openai::text(&["Added both."]));
    let app = openai_app(&fake, Duration::from_secs(5)).await;
    let (client, _user, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;

    let seen = turn(&mut s, None, "add milk and eggs").await;
    let calls = seen.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].0.as_str(), &calls[0].2),
        ("call_1", &json!({"title": "milk"}))
    );
    assert_eq!(
        (calls[1].0.as_str(), &calls[1].2),
        ("call_2", &json!({"title": "eggs"}))
    );
    let titles: Vec<String> = client
        .get("/api/todos")
        .await
        .todos()
        .into_iter()
        .map(|t| t.title)
        .collect();
    assert_eq!(titles, ["milk", "eggs"]);
    let msgs = fake.body(1)["messages"].as_array().unwrap().clone();
    let tool_ids: Vec<&str> = msgs
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["tool_call_id"].as_str())
        .collect();
    assert_eq!(tool_ids, ["call_1", "call_2"]);
    assert_eq!(seen.text(), "Added both.");
}

#[tokio::test]
async fn openai_cancel_mid_stream_drops_the_upstream_and_keeps_the_partial_answer() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::Stream(vec![
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Let me "}), None),
        chunk(json!({"content": "think"}), None),
        Ev::Stall,
    ]));
    fake.push(fake_openai::text(&["Fine."]));
    let app = openai_app(&fake, Duration::from_secs(30)).await;
    let (client, _user, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    let mut other = connect(&app, &token).await;

    let send_id = s
        .send(ClientMessage::ChatSend {
            text: "think hard".into(),
            conversation_id: None,
        })
        .await;
    let (ack, _) = s.reply_to(&send_id).await;
    let conversation_id = conversation_of(&ack);
    // Wait until both pieces have streamed.
    let mut text = String::new();
    while text != "Let me think" {
        if let ServerMessage::ChatDelta { text: t, .. } = s.recv().await {
            text.push_str(&t);
        }
    }
    // One generation per conversation.
    let busy = s
        .call(ClientMessage::ChatSend {
            text: "and another thing".into(),
            conversation_id: Some(conversation_id),
        })
        .await;
    assert!(
        matches!(
            busy,
            ServerMessage::Error {
                code: ErrorCode::Conflict,
                ..
            }
        ),
        "{busy:?}"
    );
    let started = Instant::now();
    let cancel_id = s.send(ClientMessage::ChatCancel { conversation_id }).await;
    let (ack, before) = s.reply_to(&cancel_id).await;
    assert!(matches!(ack, ServerMessage::Ack { .. }), "{ack:?}");
    // The cancel waits for the turn to end, so chat.done comes first.
    let done = before
        .iter()
        .find_map(|f| match f {
            ServerMessage::ChatDone { finish_reason, .. } => Some(*finish_reason),
            _ => None,
        })
        .expect("chat.done before the cancel's ack");
    assert_eq!(done, FinishReason::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        fake.wait_dropped(0, Duration::from_secs(2)).await,
        "the model server sees its connection dropped"
    );
    let watched = watch_until_done(&mut other).await;
    assert!(watched.iter().any(|f| matches!(
        f,
        ServerMessage::ChatDone {
            finish_reason: FinishReason::Cancelled,
            ..
        }
    )));
    let rows = messages(&client, conversation_id).await;
    assert_eq!(
        rows[1]["content"], "Let me think",
        "the partial answer is saved"
    );
    // The conversation is free again.
    let next = turn(&mut s, Some(conversation_id), "ok, quick answer").await;
    assert_eq!(next.text(), "Fine.");
}

mod pg_only {
    //! PostgreSQL only (several instances share one database through it): ignored on the
    //! default run, run by `scripts/test.sh`'s PostgreSQL pass with `pg_only -- --ignored`.

    use super::*;

    /// With several instances on one PostgreSQL, a cancel sent to another instance than the one
    /// generating still stops the turn (through the cross-instance channel).
    #[tokio::test]
    #[ignore = "needs PostgreSQL (TEST_DATABASE_URL); run with --ignored"]
    async fn a_cancel_reaches_the_instance_running_the_turn() {
        require_postgres();
        let fake = FakeOpenAi::start().await;
        fake.push(Reply::Stream(vec![
            chunk(json!({"content": "Working"}), None),
            Ev::Stall,
        ]));
        let a = openai_app(&fake, Duration::from_secs(30)).await;
        let (secret, url) = (a.app.state.config.jwt_secret.clone(), fake.url());
        let b = spawn_on(&a.database_url, move |c| {
            c.jwt_secret = secret;
            c.agent = AgentKind::OpenAi;
            c.openai_base_url = url;
            c.openai_api_key = Some("test".into());
        })
        .await;
        let (client, _user, token) = user_with_token(&a).await;
        let mut on_a = connect(&a, &token).await;
        let mut on_b = connect(&b, &token).await;
        // Let B's listeners subscribe.
        tokio::time::sleep(Duration::from_millis(300)).await;

        let ack = on_a
            .call(ClientMessage::ChatSend {
                text: "take your time".into(),
                conversation_id: None,
            })
            .await;
        let conversation_id = conversation_of(&ack);
        // B sees the stream start (through the bus), then cancels it.
        loop {
            if let ServerMessage::ChatDelta { .. } = on_b.recv().await {
                break;
            }
        }
        let ack = on_b
            .call(ClientMessage::ChatCancel { conversation_id })
            .await;
        assert!(matches!(ack, ServerMessage::Ack { .. }), "{ack:?}");
        assert!(
            fake.wait_dropped(0, Duration::from_secs(3)).await,
            "instance A dropped the upstream request"
        );
        let frames = watch_until_done(&mut on_b).await;
        assert!(
            matches!(
                frames.last(),
                Some(ServerMessage::ChatDone {
                    finish_reason: FinishReason::Cancelled,
                    ..
                })
            ),
            "{frames:?}"
        );
        let rows = messages(&client, conversation_id).await;
        assert_eq!(rows[1]["content"], "Working");
    }
}

/// Runs one turn against `fake` and returns its end.
async fn failing_turn(app: &TestApp) -> (Seen, Vec<Value>) {
    let (client, _user, token) = user_with_token(app).await;
    let mut s = connect(app, &token).await;
    let started = Instant::now();
    let seen = turn(&mut s, None, "hello?").await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "an upstream failure ends the turn promptly"
    );
    let rows = messages(&client, seen.conversation_id).await;
    (seen, rows)
}

#[tokio::test]
async fn openai_refused_connection_ends_the_turn_with_an_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = spawn_app_with(move |c| {
        c.agent = AgentKind::OpenAi;
        c.openai_base_url = format!("http://127.0.0.1:{port}/v1");
        c.openai_api_key = Some("test".into());
    })
    .await;
    let (seen, rows) = failing_turn(&app).await;
    let (_, reason, error) = seen.done();
    assert_eq!(reason, FinishReason::Error);
    assert!(error.unwrap_or_default().contains("cannot connect"));
    assert_eq!(rows[1]["content"], "");
}

#[tokio::test]
async fn openai_error_statuses_end_the_turn_with_a_readable_error() {
    let fake = FakeOpenAi::start().await;
    // 500 is retried by async-openai (3 times, backed off), then reported.
    for _ in 0..4 {
        fake.push(Reply::Status(500, "upstream exploded".into()));
    }
    fake.push(Reply::Status(
        401,
        json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                         "param": null, "code": "invalid_api_key"}})
        .to_string(),
    ));
    let app = openai_app(&fake, Duration::from_secs(5)).await;

    let (seen, _) = failing_turn(&app).await;
    let (_, reason, error) = seen.done();
    assert_eq!(reason, FinishReason::Error);
    let error = error.unwrap_or_default();
    assert!(
        error.contains("500") && error.contains("upstream exploded"),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 4);

    let (seen, _) = failing_turn(&app).await;
    let error = seen.done().2.unwrap_or_default();
    assert!(
        error.contains("401") && error.contains("Incorrect API key"),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 5, "a 4xx is not retried");
}

#[tokio::test]
async fn openai_garbage_chunk_ends_the_turn_and_keeps_what_came_before() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::Stream(vec![
        chunk(json!({"content": "Half an "}), None),
        Ev::Raw("{this is not json".into()),
        chunk(json!({"content": "answer"}), None),
        Ev::Done,
    ]));
    let app = openai_app(&fake, Duration::from_secs(5)).await;
    let (seen, rows) = failing_turn(&app).await;
    let (_, reason, error) = seen.done();
    assert_eq!(reason, FinishReason::Error);
    assert!(error.unwrap_or_default().contains("malformed"));
    assert_eq!(seen.text(), "Half an ");
    assert_eq!(rows[1]["content"], "Half an ");
}

#[tokio::test]
async fn openai_stall_past_the_chunk_timeout_ends_the_turn() {
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::Stream(vec![
        chunk(json!({"content": "Thinking"}), None),
        Ev::Stall,
    ]));
    let app = openai_app(&fake, Duration::from_millis(400)).await;
    let (seen, rows) = failing_turn(&app).await;
    let (_, reason, error) = seen.done();
    assert_eq!(reason, FinishReason::Error);
    assert!(error.unwrap_or_default().contains("went quiet"));
    assert_eq!(rows[1]["content"], "Thinking");
    assert!(fake.wait_dropped(0, Duration::from_secs(2)).await);
}

/// The server's own overhead on time to first token: `chat.send` to the first `chat.delta` on
/// the socket, minus the time the fake model took (request received → first chunk written,
/// a fixed 50 ms). 200 turns, one after the other, on one conversation.
///
/// `cargo test --release -p server --test api chat::ttft_overhead -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run it by name"]
async fn ttft_overhead() {
    const TURNS: usize = 200;
    const MODEL_DELAY: Duration = Duration::from_millis(50);
    let fake = FakeOpenAi::start().await;
    for _ in 0..TURNS {
        fake.push(Reply::Stream(vec![
            Ev::Sleep(MODEL_DELAY),
            chunk(json!({"content": "Hi"}), None),
            chunk(json!({"content": " there"}), None),
            chunk(json!({}), Some("stop")),
            Ev::Done,
        ]));
    }
    let app = openai_app(&fake, Duration::from_secs(5)).await;
    let (_client, _user, token) = user_with_token(&app).await;
    let mut s = connect(&app, &token).await;
    let mut conversation_id = None;
    let (mut overhead, mut ttft) = (Vec::new(), Vec::new());
    for i in 0..TURNS {
        let sent = Instant::now();
        let id = s
            .send(ClientMessage::ChatSend {
                text: format!("turn {i}"),
                conversation_id,
            })
            .await;
        let mut first = None;
        let mut done = false;
        let mut acked = false;
        while !(done && acked) {
            let m = s.recv().await;
            match m {
                ServerMessage::ChatDelta { .. } if first.is_none() => first = Some(Instant::now()),
                ServerMessage::ChatDone { .. } => done = true,
                ServerMessage::Ack {
                    id: Some(ref a),
                    result: AckResult::Conversation { conversation_id: c },
                } if *a == id => {
                    acked = true;
                    conversation_id = Some(c);
                }
                ServerMessage::Error { .. } => panic!("{m:?}"),
                _ => {}
            }
        }
        let first = first.expect("a delta");
        let r = &fake.requests()[i];
        let model = r.first_chunk.expect("chunk written") - r.received;
        ttft.push(first - sent);
        overhead.push((first - sent).saturating_sub(model));
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        ms(&v[i])
    };
    let db = if crate::helpers::postgres_admin_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    println!(
        "TTFT over {TURNS} turns ({db}, model delay {} ms): total p50 {:.2} ms p99 {:.2} ms; \
         server overhead p50 {:.2} ms p99 {:.2} ms (max {:.2} ms)",
        MODEL_DELAY.as_millis(),
        pct(&mut ttft, 0.5),
        pct(&mut ttft, 0.99),
        pct(&mut overhead, 0.5),
        pct(&mut overhead, 0.99),
        pct(&mut overhead, 1.0),
    );
}

/// The conversation id a `chat.send` was acked with.
fn conversation_of(ack: &ServerMessage) -> i64 {
    match ack {
        ServerMessage::Ack {
            result: AckResult::Conversation { conversation_id },
            ..
        } => *conversation_id,
        other => panic!("expected a chat.send ack, got {other:?}"),
    }
}
