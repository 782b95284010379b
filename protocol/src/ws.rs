//! WebSocket frames: one JSON object per text frame, tagged by `"type"`.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::rest::{StatusFilter, Todo, User};

/// A client frame: the optional correlation `id` and the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub msg: ClientMessage,
}

/// Client → server messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientMessage {
    /// Resume: replay every todo event after `last_seq` (or a snapshot when it is too old).
    #[serde(rename = "hello")]
    Hello {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seq: Option<i64>,
    },
    #[serde(rename = "ping")]
    Ping,
    /// One page of the user's todos, oldest first: those with an id greater than `after`, at
    /// most `limit` ([`TODO_PAGE_MAX`] by default and at most); the ack says `next_after` when
    /// more remain.
    #[serde(rename = "todo.list")]
    TodoList {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<StatusFilter>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    #[serde(rename = "todo.add")]
    TodoAdd {
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    #[serde(rename = "todo.update")]
    TodoUpdate {
        todo_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        completed: Option<bool>,
    },
    #[serde(rename = "todo.complete")]
    TodoComplete { todo_id: i64 },
    #[serde(rename = "todo.delete")]
    TodoDelete { todo_id: i64 },
    #[serde(rename = "chat.send")]
    ChatSend {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<i64>,
    },
    #[serde(rename = "chat.cancel")]
    ChatCancel { conversation_id: i64 },
}

impl ClientMessage {
    /// The `type` string of this message.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Hello { .. } => "hello",
            ClientMessage::Ping => "ping",
            ClientMessage::TodoList { .. } => "todo.list",
            ClientMessage::TodoAdd { .. } => "todo.add",
            ClientMessage::TodoUpdate { .. } => "todo.update",
            ClientMessage::TodoComplete { .. } => "todo.complete",
            ClientMessage::TodoDelete { .. } => "todo.delete",
            ClientMessage::ChatSend { .. } => "chat.send",
            ClientMessage::ChatCancel { .. } => "chat.cancel",
        }
    }
}

/// The default and largest page of `todo.list` (and the size of one `todo.snapshot` part).
pub const TODO_PAGE_MAX: u32 = 500;

/// Every `type` a client may send, for error messages and documentation.
pub const CLIENT_TYPES: &[&str] = &[
    "hello",
    "ping",
    "todo.list",
    "todo.add",
    "todo.update",
    "todo.complete",
    "todo.delete",
    "chat.send",
    "chat.cancel",
];

/// The `result` of an `ack`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AckResult {
    Todo {
        todo: Todo,
    },
    /// A page of `todo.list`; `next_after` (the last todo's id) when more remain.
    Todos {
        todos: Vec<Todo>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_after: Option<i64>,
    },
    Deleted {
        todo_id: i64,
    },
    Conversation {
        conversation_id: i64,
    },
    /// `hello`: the user's latest `seq` once the replay has been sent.
    Resumed {
        seq: i64,
    },
    Empty {},
}

/// How a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Cancelled,
    Error,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Server → client messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    /// The first frame after the upgrade.
    #[serde(rename = "welcome")]
    Welcome {
        user: User,
        session_id: i64,
        /// The user's latest event number.
        seq: i64,
        protocol: u32,
    },
    #[serde(rename = "pong")]
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    #[serde(rename = "ack")]
    Ack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        result: AckResult,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        code: ErrorCode,
        message: String,
    },
    #[serde(rename = "todo.created")]
    TodoCreated { seq: i64, todo: Todo },
    #[serde(rename = "todo.updated")]
    TodoUpdated { seq: i64, todo: Todo },
    #[serde(rename = "todo.deleted")]
    TodoDeleted { seq: i64, todo_id: i64 },
    /// All the user's todos as of `seq`. A big list comes as several frames with the same
    /// `seq`, oldest todos first; every part but the last has `more: true`.
    #[serde(rename = "todo.snapshot")]
    TodoSnapshot {
        seq: i64,
        todos: Vec<Todo>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        more: bool,
    },
    #[serde(rename = "chat.started")]
    ChatStarted {
        conversation_id: i64,
        message_id: i64,
    },
    #[serde(rename = "chat.delta")]
    ChatDelta { conversation_id: i64, text: String },
    #[serde(rename = "chat.tool_call")]
    ChatToolCall {
        conversation_id: i64,
        call_id: String,
        name: String,
        arguments: serde_json::Value,
    },
    #[serde(rename = "chat.tool_result")]
    ChatToolResult {
        conversation_id: i64,
        call_id: String,
        name: String,
        result: serde_json::Value,
    },
    #[serde(rename = "chat.done")]
    ChatDone {
        conversation_id: i64,
        message_id: i64,
        finish_reason: FinishReason,
        /// A readable reason when `finish_reason` is `error`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Sent right before the server closes the socket with 4001.
    #[serde(rename = "session.expired")]
    SessionExpired,
}

impl ServerMessage {
    /// The todo event's `seq`, for the frames that carry one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            ServerMessage::TodoCreated { seq, .. }
            | ServerMessage::TodoUpdated { seq, .. }
            | ServerMessage::TodoDeleted { seq, .. }
            | ServerMessage::TodoSnapshot { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// Serialize to the JSON text of one frame.
    pub fn to_json(&self) -> String {
        // A ServerMessage is built only from strings, numbers, bools and JSON values: it
        // always serializes.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// A todo change as kept in the per-user event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TodoEvent {
    Created { todo: Todo },
    Updated { todo: Todo },
    Deleted { todo_id: i64 },
}

impl TodoEvent {
    /// The frame that carries this event with its `seq`.
    pub fn into_message(self, seq: i64) -> ServerMessage {
        match self {
            TodoEvent::Created { todo } => ServerMessage::TodoCreated { seq, todo },
            TodoEvent::Updated { todo } => ServerMessage::TodoUpdated { seq, todo },
            TodoEvent::Deleted { todo_id } => ServerMessage::TodoDeleted { seq, todo_id },
        }
    }
}
