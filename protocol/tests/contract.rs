//! The contract's JSON spelled out literally: a rename of any field or `type` fails here.

use protocol::*;
use serde_json::{Value, json};

fn t0() -> chrono::DateTime<chrono::Utc> {
    "2026-01-02T03:04:05Z".parse().unwrap()
}

fn todo() -> Todo {
    Todo {
        id: 7,
        title: "Buy milk".into(),
        description: String::new(),
        completed: false,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn todo_json() -> Value {
    json!({"id": 7, "title": "Buy milk", "description": "", "completed": false,
           "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"})
}

fn client(v: Value) -> ClientFrame {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

#[test]
fn client_messages_parse_from_the_contract_json() {
    let cases = [
        (
            json!({"type": "hello", "last_seq": 4}),
            ClientMessage::Hello { last_seq: Some(4) },
        ),
        (
            json!({"type": "hello"}),
            ClientMessage::Hello { last_seq: None },
        ),
        (json!({"type": "ping"}), ClientMessage::Ping),
        (
            json!({"type": "todo.list", "status": "pending"}),
            ClientMessage::TodoList {
                status: Some(StatusFilter::Pending),
                after: None,
                limit: None,
            },
        ),
        (
            json!({"type": "todo.list"}),
            ClientMessage::TodoList {
                status: None,
                after: None,
                limit: None,
            },
        ),
        (
            json!({"type": "todo.list", "after": 500, "limit": 100}),
            ClientMessage::TodoList {
                status: None,
                after: Some(500),
                limit: Some(100),
            },
        ),
        (
            json!({"type": "todo.add", "title": "a", "description": "b"}),
            ClientMessage::TodoAdd {
                title: "a".into(),
                description: Some("b".into()),
            },
        ),
        (
            json!({"type": "todo.update", "todo_id": 3, "completed": true}),
            ClientMessage::TodoUpdate {
                todo_id: 3,
                title: None,
                description: None,
                completed: Some(true),
            },
        ),
        (
            json!({"type": "todo.complete", "todo_id": 3}),
            ClientMessage::TodoComplete { todo_id: 3 },
        ),
        (
            json!({"type": "todo.delete", "todo_id": 3}),
            ClientMessage::TodoDelete { todo_id: 3 },
        ),
        (
            json!({"type": "chat.send", "text": "hi"}),
            ClientMessage::ChatSend {
                text: "hi".into(),
                conversation_id: None,
            },
        ),
        (
            json!({"type": "chat.send", "text": "hi", "conversation_id": 2}),
            ClientMessage::ChatSend {
                text: "hi".into(),
                conversation_id: Some(2),
            },
        ),
        (
            json!({"type": "chat.cancel", "conversation_id": 2}),
            ClientMessage::ChatCancel { conversation_id: 2 },
        ),
    ];
    assert_eq!(cases.len(), CLIENT_TYPES.len() + 4);
    for (v, want) in cases {
        let mut with_id = v.clone();
        with_id["id"] = json!("c1");
        let f = client(with_id.clone());
        assert_eq!(f.id.as_deref(), Some("c1"));
        assert_eq!(f.msg, want);
        assert!(CLIENT_TYPES.contains(&f.msg.kind()));
        // And back: what a Rust client sends is the contract's JSON.
        assert_eq!(serde_json::to_value(&f).unwrap(), with_id);
        assert_eq!(client(v).id, None);
    }
}

#[test]
fn unknown_types_and_missing_fields_are_errors() {
    for bad in [
        json!({"type": "nope"}),
        json!({"type": "todo.add"}),
        json!({"title": "x"}),
        json!({"type": "todo.delete", "todo_id": "x"}),
    ] {
        assert!(serde_json::from_value::<ClientFrame>(bad).is_err());
    }
}

#[test]
fn server_messages_serialize_to_the_contract_json() {
    let user = User {
        id: 1,
        email: "a@b.co".into(),
        name: None,
        created_at: t0(),
    };
    let user_json =
        json!({"id": 1, "email": "a@b.co", "name": null, "created_at": "2026-01-02T03:04:05Z"});
    let cases = [
        (
            ServerMessage::Welcome {
                user,
                session_id: 9,
                seq: 4,
                protocol: PROTOCOL_VERSION,
            },
            json!({"type": "welcome", "user": user_json, "session_id": 9, "seq": 4, "protocol": 1}),
        ),
        (
            ServerMessage::Pong {
                id: Some("p".into()),
            },
            json!({"type": "pong", "id": "p"}),
        ),
        (
            ServerMessage::Ack {
                id: Some("a".into()),
                result: AckResult::Todo { todo: todo() },
            },
            json!({"type": "ack", "id": "a", "result": {"todo": todo_json()}}),
        ),
        (
            ServerMessage::Ack {
                id: Some("a".into()),
                result: AckResult::Todos {
                    todos: vec![todo()],
                    next_after: None,
                },
            },
            json!({"type": "ack", "id": "a", "result": {"todos": [todo_json()]}}),
        ),
        (
            ServerMessage::Ack {
                id: Some("a".into()),
                result: AckResult::Conversation { conversation_id: 5 },
            },
            json!({"type": "ack", "id": "a", "result": {"conversation_id": 5}}),
        ),
        (
            ServerMessage::Ack {
                id: None,
                result: AckResult::Empty {},
            },
            json!({"type": "ack", "result": {}}),
        ),
        (
            ServerMessage::Error {
                id: Some("x".into()),
                code: ErrorCode::BadRequest,
                message: "m".into(),
            },
            json!({"type": "error", "id": "x", "code": "bad_request", "message": "m"}),
        ),
        (
            ServerMessage::TodoCreated {
                seq: 1,
                todo: todo(),
            },
            json!({"type": "todo.created", "seq": 1, "todo": todo_json()}),
        ),
        (
            ServerMessage::TodoUpdated {
                seq: 2,
                todo: todo(),
            },
            json!({"type": "todo.updated", "seq": 2, "todo": todo_json()}),
        ),
        (
            ServerMessage::TodoDeleted { seq: 3, todo_id: 7 },
            json!({"type": "todo.deleted", "seq": 3, "todo_id": 7}),
        ),
        (
            ServerMessage::TodoSnapshot {
                seq: 3,
                todos: vec![],
                more: false,
            },
            json!({"type": "todo.snapshot", "seq": 3, "todos": []}),
        ),
        (
            ServerMessage::TodoSnapshot {
                seq: 3,
                todos: vec![],
                more: true,
            },
            json!({"type": "todo.snapshot", "seq": 3, "todos": [], "more": true}),
        ),
        (
            ServerMessage::Ack {
                id: Some("p".into()),
                result: AckResult::Todos {
                    todos: vec![],
                    next_after: Some(500),
                },
            },
            json!({"type": "ack", "id": "p", "result": {"todos": [], "next_after": 500}}),
        ),
        (
            ServerMessage::ChatStarted {
                conversation_id: 1,
                message_id: 2,
            },
            json!({"type": "chat.started", "conversation_id": 1, "message_id": 2}),
        ),
        (
            ServerMessage::ChatDelta {
                conversation_id: 1,
                text: "he".into(),
            },
            json!({"type": "chat.delta", "conversation_id": 1, "text": "he"}),
        ),
        (
            ServerMessage::ChatToolCall {
                conversation_id: 1,
                call_id: "c".into(),
                name: "add_task".into(),
                arguments: json!({"title": "x"}),
            },
            json!({"type": "chat.tool_call", "conversation_id": 1, "call_id": "c", "name": "add_task", "arguments": {"title": "x"}}),
        ),
        (
            ServerMessage::ChatToolResult {
                conversation_id: 1,
                call_id: "c".into(),
                name: "add_task".into(),
                result: json!({"ok": true}),
            },
            json!({"type": "chat.tool_result", "conversation_id": 1, "call_id": "c", "name": "add_task", "result": {"ok": true}}),
        ),
        (
            ServerMessage::ChatDone {
                conversation_id: 1,
                message_id: 2,
                finish_reason: FinishReason::Cancelled,
                error: None,
            },
            json!({"type": "chat.done", "conversation_id": 1, "message_id": 2, "finish_reason": "cancelled"}),
        ),
        (
            ServerMessage::SessionExpired,
            json!({"type": "session.expired"}),
        ),
    ];
    for (msg, want) in cases {
        assert_eq!(serde_json::to_value(&msg).unwrap(), want);
        assert_eq!(serde_json::from_value::<ServerMessage>(want).unwrap(), msg);
    }
}

#[test]
fn error_codes_pair_with_their_statuses() {
    let all = [
        ("bad_request", 400),
        ("unauthenticated", 401),
        ("invalid_credentials", 401),
        ("forbidden_origin", 403),
        ("not_found", 404),
        ("method_not_allowed", 405),
        ("request_timeout", 408),
        ("email_taken", 409),
        ("conflict", 409),
        ("quota_exceeded", 409),
        ("payload_too_large", 413),
        ("validation_failed", 422),
        ("rate_limited", 429),
        ("internal", 500),
        ("unavailable", 503),
    ];
    for (s, status) in all {
        let code: ErrorCode = serde_json::from_value(json!(s)).unwrap();
        assert_eq!(code.as_str(), s);
        assert_eq!(code.status(), status);
    }
    // Every code is in the list above.
    assert_eq!(
        <ErrorCode as strum::VariantArray>::VARIANTS.len(),
        all.len()
    );
    let body = ErrorBody {
        error: ApiError::new(ErrorCode::NotFound, "todo not found"),
    };
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"error": {"code": "not_found", "message": "todo not found"}})
    );
}

/// The enums' `as_str` (and `parse`) are the strings serde writes.
#[test]
fn enum_strings_are_the_wire_strings() {
    for (role, s) in [
        (Role::User, "user"),
        (Role::Assistant, "assistant"),
        (Role::Tool, "tool"),
    ] {
        assert_eq!((role.as_str(), Role::parse(s)), (s, Some(role)));
        assert_eq!(serde_json::to_value(role).unwrap(), json!(s));
    }
    assert_eq!(Role::parse("User"), None);
    for (status, s) in [
        (StatusFilter::All, "all"),
        (StatusFilter::Pending, "pending"),
        (StatusFilter::Completed, "completed"),
    ] {
        assert_eq!((status.as_str(), s.parse().ok()), (s, Some(status)));
        assert_eq!(serde_json::to_value(status).unwrap(), json!(s));
    }
    for (reason, s) in [
        (FinishReason::Stop, "stop"),
        (FinishReason::Cancelled, "cancelled"),
        (FinishReason::Error, "error"),
    ] {
        assert_eq!(reason.as_str(), s);
        assert_eq!(serde_json::to_value(reason).unwrap(), json!(s));
    }
}

#[test]
fn todo_events_become_frames() {
    let ev = TodoEvent::Deleted { todo_id: 7 };
    let stored = serde_json::to_value(&ev).unwrap();
    assert_eq!(stored, json!({"kind": "deleted", "todo_id": 7}));
    assert_eq!(ev.into_message(5).seq(), Some(5));
}

#[test]
fn sessions_list_is_spelled_as_the_contract_says() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let body = SessionsResponse {
        sessions: vec![SessionInfo {
            id: 7,
            created_at: at,
            last_seen_at: at,
            user_agent: Some("curl/8".into()),
            ip: Some("127.0.0.1".into()),
            current: true,
        }],
    };
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"sessions": [{"id": 7, "created_at": "2026-01-02T03:04:05Z",
            "last_seen_at": "2026-01-02T03:04:05Z", "user_agent": "curl/8",
            "ip": "127.0.0.1", "current": true}]})
    );
}
