use protocol::{AckResult, ClientMessage, ErrorCode, FinishReason, Message, ServerMessage};
use serde_json::json;

use super::{ChatEffect, ChatItem, ChatState, ChipStatus, chip};

fn msg(v: serde_json::Value) -> Message {
    serde_json::from_value(v).unwrap()
}

fn user(id: i64, text: &str) -> Message {
    msg(json!({"id": id, "role": "user", "content": text, "created_at": "2026-01-01T00:00:00Z"}))
}

#[test]
fn a_new_chat_streams_and_becomes_the_open_conversation() {
    let mut c = ChatState::new();
    let frame = c.send("  add buy milk ").unwrap();
    assert_eq!(
        frame.msg,
        ClientMessage::ChatSend {
            text: "add buy milk".into(),
            conversation_id: None
        }
    );
    assert!(c.generating(), "waiting for the ack counts as answering");
    assert!(c.send("again").is_err());
    // The stream may start before the ack names the conversation.
    let effects = c.on_frame(&ServerMessage::ChatStarted {
        conversation_id: 4,
        message_id: 11,
    });
    assert_eq!(effects, [ChatEffect::ReloadConversations]);
    let effects = c
        .on_ack(
            frame.id.as_deref().unwrap(),
            &AckResult::Conversation { conversation_id: 4 },
        )
        .unwrap();
    assert_eq!(effects, [ChatEffect::ReloadConversations]);
    assert_eq!(c.open(), Some(4));
    c.on_frame(&ServerMessage::ChatToolCall {
        conversation_id: 4,
        call_id: "k1".into(),
        name: "add_task".into(),
        arguments: json!({"title": "buy milk"}),
    });
    c.on_frame(&ServerMessage::ChatDelta {
        conversation_id: 4,
        text: "Added ".into(),
    });
    c.on_frame(&ServerMessage::ChatToolResult {
        conversation_id: 4,
        call_id: "k1".into(),
        name: "add_task".into(),
        result: json!({"todo": {"id": 3, "title": "Buy milk"}}),
    });
    c.on_frame(&ServerMessage::ChatDelta {
        conversation_id: 4,
        text: "“Buy milk”.".into(),
    });
    let items = c.items();
    assert!(
        matches!(&items[0], ChatItem::User { text, pending: false, .. } if text == "add buy milk")
    );
    match &items[1] {
        ChatItem::Assistant {
            text,
            chips,
            streaming,
            ..
        } => {
            assert_eq!(text, "Added “Buy milk”.");
            assert_eq!(chips[0].label, "added: Buy milk");
            assert_eq!(chips[0].status, ChipStatus::Done);
            assert!(*streaming);
        }
        other => panic!("{other:?}"),
    }
    assert!(c.cancel().is_some());
    let effects = c.on_frame(&ServerMessage::ChatDone {
        conversation_id: 4,
        message_id: 11,
        finish_reason: FinishReason::Stop,
        error: None,
    });
    assert_eq!(
        effects,
        [
            ChatEffect::ReloadMessages(4),
            ChatEffect::ReloadConversations
        ]
    );
    assert!(!c.generating());
    // The saved history replaces the stream and the local copy of what was sent.
    c.set_history(
        4,
        vec![
            user(10, "add buy milk"),
            msg(json!({"id": 11, "role": "assistant", "content": "Added “Buy milk”.",
                "created_at": "2026-01-01T00:00:01Z",
                "tool_calls": [{"call_id": "k1", "name": "add_task", "arguments": {"title": "buy milk"}}]})),
            msg(json!({"id": 12, "role": "tool", "content": "{\"todo\":{\"id\":3,\"title\":\"Buy milk\"}}",
                "created_at": "2026-01-01T00:00:01Z", "call_id": "k1", "name": "add_task"})),
        ],
    );
    let items = c.items();
    assert_eq!(items.len(), 2, "{items:?}");
    match &items[1] {
        ChatItem::Assistant {
            chips, streaming, ..
        } => {
            assert_eq!(chips[0].label, "added: Buy milk");
            assert!(!streaming);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_error_finish_is_shown_clearly_and_a_refused_send_gives_the_text_back() {
    let mut c = ChatState::new();
    c.open_conversation(2);
    let f = c.send("hello").unwrap();
    c.on_ack(
        f.id.as_deref().unwrap(),
        &AckResult::Conversation { conversation_id: 2 },
    );
    c.on_frame(&ServerMessage::ChatStarted {
        conversation_id: 2,
        message_id: 5,
    });
    c.on_frame(&ServerMessage::ChatDone {
        conversation_id: 2,
        message_id: 5,
        finish_reason: FinishReason::Error,
        error: Some("model unreachable".into()),
    });
    let items = c.items();
    assert_eq!(
        items.len(),
        2,
        "no empty bubble for an answer that never started: {items:?}"
    );
    let last = c.items().pop().unwrap();
    assert!(
        matches!(&last, ChatItem::Outcome { text, error: true, .. } if text.contains("model unreachable")),
        "{last:?}"
    );

    c.set_history(
        2,
        vec![
            user(4, "hello"),
            msg(json!({"id": 5, "role": "assistant", "content": "", "created_at": "2026-01-01T00:00:00Z"})),
        ],
    );
    assert!(
        !c.items()
            .iter()
            .any(|i| matches!(i, ChatItem::Assistant { .. })),
        "the saved empty answer is not drawn either"
    );
    let f = c.send("again").unwrap();
    let effects = c
        .on_error(f.id.as_deref().unwrap(), ErrorCode::Conflict, "busy")
        .unwrap();
    assert!(matches!(
        &effects[0],
        ChatEffect::Notice { restore_input: Some(t), .. } if t == "again"
    ));
    assert!(c.on_error("not-ours", ErrorCode::Conflict, "x").is_none());
    assert!(c.send("   ").is_err());
}

#[test]
fn another_tabs_stream_is_kept_per_conversation() {
    let mut c = ChatState::new();
    c.open_conversation(1);
    let effects = c.on_frame(&ServerMessage::ChatStarted {
        conversation_id: 9,
        message_id: 3,
    });
    assert_eq!(effects, [ChatEffect::ReloadConversations]);
    c.on_frame(&ServerMessage::ChatDelta {
        conversation_id: 9,
        text: "hi".into(),
    });
    assert!(c.items().is_empty(), "not the open conversation");
    assert!(!c.generating());
    c.open_conversation(9);
    assert!(c.generating());
    assert!(matches!(&c.items()[0], ChatItem::Assistant { text, .. } if text == "hi"));
    c.remove_conversation(9);
    assert_eq!(c.open(), None);
    assert!(c.items().is_empty());
}

#[test]
fn chips_read_well() {
    let running = chip("a", "add_task", &json!({"title": "Buy milk"}), None);
    assert_eq!(running.label, "adding: Buy milk…");
    assert_eq!(running.status, ChipStatus::Running);
    let done = chip(
        "b",
        "complete_task",
        &json!({"task_id": 3}),
        Some(&json!({"todo": {"id": 3, "title": "Milk"}})),
    );
    assert_eq!(done.label, "completed: Milk");
    let deleted = chip(
        "c",
        "delete_task",
        &json!({"task_id": 3}),
        Some(&json!({"deleted": true})),
    );
    assert_eq!(deleted.label, "deleted: #3");
    let listed = chip(
        "d",
        "list_tasks",
        &json!({}),
        Some(&json!({"todos": [1, 2]})),
    );
    assert_eq!(listed.label, "listed 2 tasks");
    let failed = chip(
        "e",
        "complete_task",
        &json!({"task_id": 99}),
        Some(&json!({"error": {"code": "not_found", "message": "no task 99"}})),
    );
    assert_eq!(failed.status, ChipStatus::Failed);
    assert_eq!(failed.label, "complete_task failed: no task 99");
}
