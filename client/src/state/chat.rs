//! The chat panel: the conversation list (REST), the open conversation's saved messages (REST),
//! and the live answers streaming over the socket (`chat.*` frames).
//!
//! A generation belongs to its conversation, not to this tab: a second tab receives the same
//! frames, so streams are kept per conversation id, whichever is open. When one finishes, the
//! saved messages are fetched again (the server's copy is the truth; the streamed text equals
//! it) and the stream is dropped. What the user sent is shown at once and kept until the saved
//! history contains it.

use std::collections::BTreeMap;

use protocol::{
    AckResult, ClientFrame, ClientMessage, Conversation, ErrorCode, FinishReason, Message, Role,
    ServerMessage, parse_chat_text,
};
use serde_json::Value;

/// A tool call as a compact chip: "added: Buy milk".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Chip {
    pub call_id: String,
    pub label: String,
    pub status: ChipStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChipStatus {
    Running,
    Done,
    Failed,
}

impl ChipStatus {
    pub fn class(self) -> &'static str {
        match self {
            ChipStatus::Running => "chip running",
            ChipStatus::Done => "chip done",
            ChipStatus::Failed => "chip failed",
        }
    }
}

/// One bubble of the open conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChatItem {
    User {
        key: String,
        text: String,
        /// Sent, not yet saved.
        pending: bool,
    },
    Assistant {
        key: String,
        text: String,
        chips: Vec<Chip>,
        /// Still streaming.
        streaming: bool,
    },
    /// How the last answer ended, when it did not end normally.
    Outcome {
        key: String,
        text: String,
        error: bool,
    },
}

impl ChatItem {
    /// What identifies the bubble on the page: the item itself, except that an assistant
    /// bubble's text is left out, so a streaming answer keeps its bubble and only its text is
    /// drawn again (`web::markdown`), instead of the bubble being rebuilt on every delta.
    pub fn identity(&self) -> ChatItem {
        match self {
            ChatItem::Assistant {
                key,
                chips,
                streaming,
                ..
            } => ChatItem::Assistant {
                key: key.clone(),
                text: String::new(),
                chips: chips.clone(),
                streaming: *streaming,
            },
            other => other.clone(),
        }
    }

    /// The text of the assistant bubble `key` among `items` (empty when it is gone).
    pub fn assistant_text(items: &[ChatItem], key: &str) -> String {
        items
            .iter()
            .find_map(|i| match i {
                ChatItem::Assistant { key: k, text, .. } if k == key => Some(text.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// What the UI must do after a frame or an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEffect {
    /// Fetch `GET /api/conversations` again (a new one, a new title, a new order).
    ReloadConversations,
    /// Fetch the messages of this conversation (it is open and its answer finished).
    ReloadMessages(i64),
    /// Tell the user, and put `restore_input` back into the message box.
    Notice {
        message: String,
        restore_input: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Stream {
    message_id: Option<i64>,
    text: String,
    chips: Vec<(String, String, Value, Option<Value>)>,
    finished: Option<FinishReason>,
}

#[derive(Debug, Clone, PartialEq)]
struct LocalSend {
    req_id: String,
    /// `None` until the ack of a new conversation names it.
    conversation_id: Option<i64>,
    text: String,
    acked: bool,
}

/// The chat state. See the module documentation.
#[derive(Debug, Default)]
pub struct ChatState {
    pub conversations: Vec<Conversation>,
    open: Option<i64>,
    history: Vec<Message>,
    sends: Vec<LocalSend>,
    streams: BTreeMap<i64, Stream>,
    /// The last abnormal end per conversation: (reason, readable error).
    outcomes: BTreeMap<i64, (FinishReason, Option<String>)>,
    next_req: u64,
}

impl ChatState {
    pub fn new() -> Self {
        Self::default()
    }

    /// The open conversation (`None`: a new chat, created by the first message).
    pub fn open(&self) -> Option<i64> {
        self.open
    }

    /// Open a conversation; the caller then loads its messages.
    pub fn open_conversation(&mut self, id: i64) {
        if self.open != Some(id) {
            self.open = Some(id);
            self.history.clear();
        }
    }

    /// Start a new chat (nothing is created until the first message).
    pub fn new_chat(&mut self) {
        self.open = None;
        self.history.clear();
    }

    pub fn set_conversations(&mut self, conversations: Vec<Conversation>) {
        self.conversations = conversations;
    }

    /// A conversation was deleted (here over REST, or elsewhere).
    pub fn remove_conversation(&mut self, id: i64) {
        self.conversations.retain(|c| c.id != id);
        self.streams.remove(&id);
        self.outcomes.remove(&id);
        self.sends.retain(|s| s.conversation_id != Some(id));
        if self.open == Some(id) {
            self.new_chat();
        }
    }

    /// The saved messages of a conversation arrived.
    pub fn set_history(&mut self, conversation_id: i64, messages: Vec<Message>) {
        if self.open != Some(conversation_id) {
            return;
        }
        // Sent messages now saved are shown from the history.
        self.sends.retain(|s| {
            !(s.acked
                && s.conversation_id == Some(conversation_id)
                && messages
                    .iter()
                    .any(|m| m.role == Role::User && m.content.trim() == s.text))
        });
        if self
            .streams
            .get(&conversation_id)
            .is_some_and(|s| s.finished.is_some())
        {
            self.streams.remove(&conversation_id);
        }
        self.history = messages;
    }

    /// Whether the assistant is answering in the open conversation (the Stop button shows).
    pub fn generating(&self) -> bool {
        let streaming = self
            .open
            .and_then(|id| self.streams.get(&id))
            .is_some_and(|s| s.finished.is_none());
        let new_chat_waiting = self
            .sends
            .iter()
            .any(|s| !s.acked && s.conversation_id == self.open);
        streaming || new_chat_waiting
    }

    /// Send a message in the open conversation (or start one).
    pub fn send(&mut self, raw: &str) -> Result<ClientFrame, String> {
        let text = parse_chat_text(raw).map_err(|e| {
            e.message
                .strip_prefix("text: ")
                .unwrap_or(&e.message)
                .to_owned()
        })?;
        if self.generating() {
            return Err("The assistant is still answering: wait, or press Stop.".into());
        }
        self.next_req += 1;
        let req_id = format!("c{}", self.next_req);
        self.outcomes.remove(&self.open.unwrap_or(-1));
        self.sends.push(LocalSend {
            req_id: req_id.clone(),
            conversation_id: self.open,
            text: text.clone(),
            acked: false,
        });
        Ok(ClientFrame {
            id: Some(req_id),
            msg: ClientMessage::ChatSend {
                text,
                conversation_id: self.open,
            },
        })
    }

    /// Stop the answer of the open conversation.
    pub fn cancel(&mut self) -> Option<ClientFrame> {
        let id = self.open?;
        self.streams.get(&id).filter(|s| s.finished.is_none())?;
        Some(ClientFrame {
            id: None,
            msg: ClientMessage::ChatCancel {
                conversation_id: id,
            },
        })
    }

    /// An `ack`; `None` when it is not one of ours.
    pub fn on_ack(&mut self, req_id: &str, result: &AckResult) -> Option<Vec<ChatEffect>> {
        let send = self.sends.iter_mut().find(|s| s.req_id == req_id)?;
        send.acked = true;
        let mut effects = Vec::new();
        if let AckResult::Conversation { conversation_id } = result {
            let was_new = send.conversation_id.is_none();
            send.conversation_id = Some(*conversation_id);
            // The user is still looking at the new chat they started: it becomes this one.
            if was_new && self.open.is_none() {
                self.open = Some(*conversation_id);
            }
            if was_new {
                effects.push(ChatEffect::ReloadConversations);
            }
        }
        Some(effects)
    }

    /// An `error` for one of our sends; `None` when it is not one of ours.
    pub fn on_error(
        &mut self,
        req_id: &str,
        code: ErrorCode,
        message: &str,
    ) -> Option<Vec<ChatEffect>> {
        let pos = self.sends.iter().position(|s| s.req_id == req_id)?;
        let send = self.sends.remove(pos);
        let message = match code {
            ErrorCode::Conflict => "The assistant is still answering in this conversation.".into(),
            ErrorCode::RateLimited => "Too many messages: wait a moment.".into(),
            ErrorCode::NotFound => "That conversation no longer exists.".into(),
            _ => format!("Message not sent: {message}"),
        };
        Some(vec![ChatEffect::Notice {
            message,
            restore_input: Some(send.text),
        }])
    }

    /// A `chat.*` frame.
    pub fn on_frame(&mut self, msg: &ServerMessage) -> Vec<ChatEffect> {
        let mut effects = Vec::new();
        match msg {
            ServerMessage::ChatStarted {
                conversation_id,
                message_id,
            } => {
                self.outcomes.remove(conversation_id);
                self.streams.insert(
                    *conversation_id,
                    Stream {
                        message_id: Some(*message_id),
                        ..Stream::default()
                    },
                );
                if !self.conversations.iter().any(|c| c.id == *conversation_id) {
                    // Started in another tab, or our new chat: the list must show it.
                    effects.push(ChatEffect::ReloadConversations);
                }
            }
            ServerMessage::ChatDelta {
                conversation_id,
                text,
            } => self
                .streams
                .entry(*conversation_id)
                .or_default()
                .text
                .push_str(text),
            ServerMessage::ChatToolCall {
                conversation_id,
                call_id,
                name,
                arguments,
            } => self
                .streams
                .entry(*conversation_id)
                .or_default()
                .chips
                .push((call_id.clone(), name.clone(), arguments.clone(), None)),
            ServerMessage::ChatToolResult {
                conversation_id,
                call_id,
                name,
                result,
            } => {
                let stream = self.streams.entry(*conversation_id).or_default();
                match stream.chips.iter_mut().find(|c| c.0 == *call_id) {
                    Some(chip) => chip.3 = Some(result.clone()),
                    None => stream.chips.push((
                        call_id.clone(),
                        name.clone(),
                        Value::Null,
                        Some(result.clone()),
                    )),
                }
            }
            ServerMessage::ChatDone {
                conversation_id,
                finish_reason,
                error,
                ..
            } => {
                self.streams.entry(*conversation_id).or_default().finished = Some(*finish_reason);
                if *finish_reason != FinishReason::Stop {
                    self.outcomes
                        .insert(*conversation_id, (*finish_reason, error.clone()));
                }
                if self.open == Some(*conversation_id) {
                    effects.push(ChatEffect::ReloadMessages(*conversation_id));
                } else {
                    self.streams.remove(conversation_id);
                }
                effects.push(ChatEffect::ReloadConversations);
            }
            _ => {}
        }
        effects
    }

    /// The socket dropped: a stream in progress may have ended unseen. The answer is saved by
    /// the server anyway, so reload the open conversation when we are back.
    pub fn on_reconnected(&mut self) -> Vec<ChatEffect> {
        let mut effects = vec![ChatEffect::ReloadConversations];
        self.streams.retain(|_, s| s.finished.is_some());
        if let Some(id) = self.open {
            effects.push(ChatEffect::ReloadMessages(id));
        }
        effects
    }

    /// The bubbles of the open conversation, oldest first.
    pub fn items(&self) -> Vec<ChatItem> {
        let mut items = Vec::new();
        let live_id = self
            .open
            .and_then(|id| self.streams.get(&id))
            .and_then(|s| s.message_id);
        // Tool results by call id, to complete the chips of the assistant messages.
        let results: BTreeMap<&str, Value> = self
            .history
            .iter()
            .filter(|m| m.role == Role::Tool)
            .filter_map(|m| {
                let value = serde_json::from_str(&m.content).unwrap_or(Value::Null);
                Some((m.call_id.as_deref()?, value))
            })
            .collect();
        for m in &self.history {
            if Some(m.id) == live_id {
                continue;
            }
            match m.role {
                Role::User => items.push(ChatItem::User {
                    key: format!("m{}", m.id),
                    text: m.content.clone(),
                    pending: false,
                }),
                // An answer that failed before its first word was saved empty: the outcome
                // line below says what happened, an empty bubble would not.
                Role::Assistant if m.content.is_empty() && m.tool_calls.is_empty() => {}
                Role::Assistant => {
                    let chips = m
                        .tool_calls
                        .iter()
                        .map(|c| {
                            chip(
                                &c.call_id,
                                &c.name,
                                &c.arguments,
                                results.get(c.call_id.as_str()),
                            )
                        })
                        .collect();
                    items.push(ChatItem::Assistant {
                        key: format!("m{}", m.id),
                        text: m.content.clone(),
                        chips,
                        streaming: false,
                    });
                }
                Role::Tool => {}
            }
        }
        for s in self.sends.iter().filter(|s| s.conversation_id == self.open) {
            items.push(ChatItem::User {
                key: s.req_id.clone(),
                text: s.text.clone(),
                pending: !s.acked,
            });
        }
        if let Some(stream) = self
            .open
            .and_then(|id| self.streams.get(&id))
            .filter(|s| s.finished.is_none() || !s.text.is_empty() || !s.chips.is_empty())
        {
            items.push(ChatItem::Assistant {
                key: format!("live{}", stream.message_id.unwrap_or(0)),
                text: stream.text.clone(),
                chips: stream
                    .chips
                    .iter()
                    .map(|(id, name, args, result)| chip(id, name, args, result.as_ref()))
                    .collect(),
                streaming: stream.finished.is_none(),
            });
        }
        if let Some((reason, error)) = self.open.and_then(|id| self.outcomes.get(&id)) {
            let (text, error) = match reason {
                FinishReason::Error => (
                    format!(
                        "The assistant could not finish: {}",
                        error.as_deref().unwrap_or("something went wrong")
                    ),
                    true,
                ),
                FinishReason::Cancelled => ("Stopped.".to_owned(), false),
                FinishReason::Stop => (String::new(), false),
            };
            items.push(ChatItem::Outcome {
                key: format!("outcome-{}", reason.as_str()),
                text,
                error,
            });
        }
        items
    }
}

/// A chip for one tool call; `result` is `None` while the call runs.
pub fn chip(call_id: &str, name: &str, args: &Value, result: Option<&Value>) -> Chip {
    let status = match result {
        None => ChipStatus::Running,
        Some(r) if r.get("error").is_some() => ChipStatus::Failed,
        Some(_) => ChipStatus::Done,
    };
    Chip {
        call_id: call_id.to_owned(),
        label: chip_label(name, args, result, status),
        status,
    }
}

fn chip_label(name: &str, args: &Value, result: Option<&Value>, status: ChipStatus) -> String {
    let todo = result.and_then(|r| r.get("todo"));
    let title = todo
        .and_then(|t| t.get("title"))
        .or_else(|| result.and_then(|r| r.get("title")))
        .or_else(|| args.get("title"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = args
        .get("task_id")
        .or_else(|| todo.and_then(|t| t.get("id")))
        .and_then(Value::as_i64);
    let what = title
        .or_else(|| id.map(|id| format!("#{id}")))
        .unwrap_or_default();
    let (running, done) = match name {
        "add_task" => ("adding", "added"),
        "complete_task" => ("completing", "completed"),
        "update_task" => ("updating", "updated"),
        "delete_task" => ("deleting", "deleted"),
        "list_tasks" => ("listing tasks", "listed"),
        other => (other, other),
    };
    match status {
        ChipStatus::Running if name == "list_tasks" => format!("{running}…"),
        ChipStatus::Running => format!("{running}: {what}…"),
        ChipStatus::Failed => {
            let err = result
                .and_then(|r| r.get("error"))
                .map(|e| {
                    e.get("message")
                        .and_then(Value::as_str)
                        .or_else(|| e.as_str())
                        .unwrap_or("failed")
                        .to_owned()
                })
                .unwrap_or_default();
            format!("{name} failed: {err}")
        }
        ChipStatus::Done if name == "list_tasks" => {
            let n = result
                .and_then(|r| r.get("todos").or_else(|| r.get("tasks")))
                .and_then(Value::as_array)
                .map(Vec::len);
            match n {
                Some(1) => "listed 1 task".to_owned(),
                Some(n) => format!("listed {n} tasks"),
                None => "listed tasks".to_owned(),
            }
        }
        ChipStatus::Done if what.is_empty() => done.to_owned(),
        ChipStatus::Done => format!("{done}: {what}"),
    }
}

#[cfg(test)]
mod tests;
