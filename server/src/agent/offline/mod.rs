//! The offline provider: a deterministic assistant for plain English that needs no key and no
//! network. It is the default when no `OPENAI_API_KEY` is set, and what every test can rely on.
//!
//! It behaves like a model, through the same loop and the same tools, and is a pure function of
//! the conversation it is given:
//!
//! 1. It parses the newest user message into [`Command`]s ("add milk and eggs" is two adds).
//! 2. If a command names a task by title ("complete the milk task") or by a group ("delete all
//!    completed tasks"), its first step is a `list_tasks` call to look the tasks up, as a model
//!    would.
//! 3. The next step resolves those names against the listed tasks (fuzzy, by words) and calls
//!    the action tools; an ambiguous name gets a clarifying question instead.
//! 4. The last step reads the tool results and words the reply, streamed in small pieces.
//!
//! Which step it is in is read from the turn's own tool calls (the lookup's call id ends in
//! `_lookup`), so no state is kept between steps.
//!
//! The steps live in their own modules: `parse` (text → [`Command`]s), `plan` (commands → tool
//! calls, resolving names), `reply` (results → words, streamed in pieces).

mod command;
mod parse;
mod plan;
mod reply;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use protocol::Todo;
use serde_json::{Value, json};

use super::tools::LIST_TASKS;
use super::{AgentMessage, Provider, StepEvent, StepStream, ToolCallRequest};
pub use command::{Command, Say, Target};
pub use parse::parse;
use plan::plan;
pub use reply::pieces;
use reply::text_step;

/// The suffix of the lookup call's id.
const LOOKUP: &str = "_lookup";

/// The offline assistant. `delay` is the pause before each streamed piece, so the client sees
/// the answer arrive the way a model's does.
pub struct Offline {
    delay: Duration,
}

impl Offline {
    pub fn new(delay: Duration) -> Self {
        Self { delay }
    }
}

impl Default for Offline {
    fn default() -> Self {
        Self::new(Duration::from_millis(8))
    }
}

impl Provider for Offline {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn step(&self, messages: Vec<AgentMessage>) -> StepStream {
        let nonce: u32 = rand::random();
        let events = respond(&messages, &format!("off{nonce:08x}"));
        let delay = self.delay;
        futures_util::stream::iter(events)
            .then(move |e| async move {
                if matches!(e, StepEvent::Delta(_)) && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok(e)
            })
            .boxed()
    }
}

/// One step of the offline assistant over `messages`. `nonce` makes the call ids of this step
/// unique in the conversation (the client matches results to calls by id).
pub fn respond(messages: &[AgentMessage], nonce: &str) -> Vec<StepEvent> {
    let Some(last_user) = messages
        .iter()
        .rposition(|m| matches!(m, AgentMessage::User(_)))
    else {
        return text_step("What can I do for you? Try “add buy milk” or “what's pending?”.");
    };
    let AgentMessage::User(text) = &messages[last_user] else {
        return Vec::new();
    };
    let turn = &messages[last_user + 1..];
    let commands = parse(text);

    let mut calls = Vec::new();
    let mut results: HashMap<&str, Value> = HashMap::new();
    for m in turn {
        match m {
            AgentMessage::Assistant { tool_calls, .. } => calls.extend(tool_calls.iter()),
            AgentMessage::Tool {
                call_id, content, ..
            } => {
                results.insert(
                    call_id.as_str(),
                    serde_json::from_str(content).unwrap_or(Value::Null),
                );
            }
            AgentMessage::User(_) => {}
        }
    }
    let lookup = calls
        .iter()
        .find(|c| c.id.ends_with(LOOKUP))
        .and_then(|c| results.get(c.id.as_str()))
        .map(|r| {
            r.get("todos")
                .cloned()
                .and_then(|t| serde_json::from_value::<Vec<Todo>>(t).ok())
                .unwrap_or_default()
        });
    let actions: Vec<&&ToolCallRequest> =
        calls.iter().filter(|c| !c.id.ends_with(LOOKUP)).collect();

    let needs_lookup = commands.iter().any(Command::needs_lookup);
    if calls.is_empty() && needs_lookup {
        return vec![
            StepEvent::ToolCall(ToolCallRequest {
                id: format!("{nonce}{LOOKUP}"),
                name: LIST_TASKS.into(),
                arguments: json!({"status": "all"}).to_string(),
            }),
            StepEvent::Finish,
        ];
    }
    let todos = lookup.unwrap_or_default();
    let plan = plan(&commands, &todos);
    if actions.is_empty() && (calls.is_empty() || needs_lookup) {
        let planned: Vec<StepEvent> = plan
            .iter()
            .flat_map(|p| p.calls.iter())
            .enumerate()
            .map(|(i, (name, args))| {
                StepEvent::ToolCall(ToolCallRequest {
                    id: format!("{nonce}_{i}"),
                    name: (*name).into(),
                    arguments: args.to_string(),
                })
            })
            .collect();
        if !planned.is_empty() {
            let mut events = planned;
            events.push(StepEvent::Finish);
            return events;
        }
    }
    // The last step: word the outcome of each command, in order.
    let outcomes = actions.iter().map(|c| results.get(c.id.as_str()));
    text_step(&reply::outcome(&plan, outcomes))
}

#[cfg(test)]
mod tests;
