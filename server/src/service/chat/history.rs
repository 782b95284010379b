//! What the model is shown: the conversation's saved rows up to this turn, as provider
//! messages, bounded (newest kept), well-formed (no tool call without its result).

use std::collections::HashSet;

use protocol::{Message, Role};

use super::Inner;
use super::turn::Turn;
use crate::agent::{AgentMessage, ToolCallRequest, tools};
use crate::error::Result;
use crate::store::conversations;

/// Newest messages given to the model.
const HISTORY_MESSAGES: i64 = 40;
/// …and at most about this many characters of them (a long tool result or message counts).
const HISTORY_CHARS: usize = 48_000;

impl Inner {
    /// The conversation up to this turn's user message, bounded, newest kept.
    pub(super) async fn history(&self, t: &Turn) -> Result<Vec<AgentMessage>> {
        let rows = conversations::recent_messages(
            &self.db,
            t.conversation_id,
            t.message_id,
            HISTORY_MESSAGES,
        )
        .await?;
        Ok(bound(to_agent_messages(rows), HISTORY_CHARS))
    }
}

/// Saved rows as provider messages. Tool calls without a saved result (a turn cut short) are
/// left out with any result without its call, because OpenAI-compatible servers reject a call
/// with no answer; empty assistant rows (a turn that produced nothing) are skipped.
fn to_agent_messages(rows: Vec<Message>) -> Vec<AgentMessage> {
    let answered: HashSet<String> = rows
        .iter()
        .filter(|m| m.role == Role::Tool)
        .filter_map(|m| m.call_id.clone())
        .collect();
    let mut asked: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        match m.role {
            Role::User => out.push(AgentMessage::User(m.content)),
            Role::Assistant => {
                let tool_calls: Vec<ToolCallRequest> = m
                    .tool_calls
                    .into_iter()
                    .filter(|c| answered.contains(&c.call_id))
                    .map(|c| ToolCallRequest {
                        arguments: tools::arguments_text(&c.arguments),
                        id: c.call_id,
                        name: c.name,
                    })
                    .collect();
                if m.content.is_empty() && tool_calls.is_empty() {
                    continue;
                }
                asked.extend(tool_calls.iter().map(|c| c.id.clone()));
                out.push(AgentMessage::Assistant {
                    content: m.content,
                    tool_calls,
                });
            }
            Role::Tool => {
                let Some(call_id) = m.call_id else { continue };
                if asked.contains(&call_id) {
                    out.push(AgentMessage::Tool {
                        call_id,
                        name: m.name.unwrap_or_default(),
                        content: m.content,
                    });
                }
            }
        }
    }
    out
}

fn size(m: &AgentMessage) -> usize {
    match m {
        AgentMessage::User(t) => t.len(),
        AgentMessage::Assistant {
            content,
            tool_calls,
        } => {
            content.len()
                + tool_calls
                    .iter()
                    .map(|c| c.arguments.len() + c.name.len())
                    .sum::<usize>()
        }
        AgentMessage::Tool { content, .. } => content.len(),
    }
}

/// Drops the oldest messages until the rest fit in `max_chars` (the newest message always
/// stays), then drops up to the first user message so the window never starts in the middle
/// of a turn (a tool result without its call).
fn bound(mut messages: Vec<AgentMessage>, max_chars: usize) -> Vec<AgentMessage> {
    let mut total: usize = messages.iter().map(size).sum();
    let mut start = 0;
    while total > max_chars && start + 1 < messages.len() {
        total -= size(&messages[start]);
        start += 1;
    }
    while start + 1 < messages.len() && !matches!(messages[start], AgentMessage::User(_)) {
        start += 1;
    }
    messages.drain(..start);
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ToolCall;
    use serde_json::json;

    fn msg(id: i64, role: Role, content: &str) -> Message {
        Message {
            id,
            role,
            content: content.into(),
            created_at: chrono::Utc::now(),
            tool_calls: Vec::new(),
            call_id: None,
            name: None,
        }
    }

    #[test]
    fn unanswered_calls_and_orphan_results_are_left_out() {
        let mut a = msg(2, Role::Assistant, "");
        a.tool_calls = vec![
            ToolCall {
                call_id: "c1".into(),
                name: "add_task".into(),
                arguments: json!({"title": "x"}),
            },
            ToolCall {
                call_id: "c2".into(),
                name: "list_tasks".into(),
                arguments: json!({}),
            },
        ];
        let mut r1 = msg(3, Role::Tool, "{}");
        r1.call_id = Some("c1".into());
        let mut orphan = msg(4, Role::Tool, "{}");
        orphan.call_id = Some("zz".into());
        let rows = vec![
            msg(1, Role::User, "hi"),
            a,
            r1,
            orphan,
            msg(5, Role::Assistant, ""),
            msg(6, Role::User, "again"),
        ];
        let out = to_agent_messages(rows);
        assert_eq!(out.len(), 4, "{out:?}");
        match &out[1] {
            AgentMessage::Assistant { tool_calls, .. } => {
                assert_eq!(tool_calls.len(), 1);
                assert_eq!(tool_calls[0].arguments, r#"{"title":"x"}"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn history_is_bounded_from_the_oldest_and_starts_with_a_user_message() {
        let m = vec![
            AgentMessage::User("a".repeat(50)),
            AgentMessage::Assistant {
                content: "b".repeat(50),
                tool_calls: vec![],
            },
            AgentMessage::User("c".repeat(10)),
            AgentMessage::Assistant {
                content: "d".repeat(10),
                tool_calls: vec![],
            },
            AgentMessage::User("e".repeat(10)),
        ];
        let out = bound(m.clone(), 1000);
        assert_eq!(out.len(), 5);
        let out = bound(m.clone(), 40);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], AgentMessage::User("c".repeat(10)));
        let out = bound(m, 5);
        assert_eq!(out, vec![AgentMessage::User("e".repeat(10))]);
    }
}
