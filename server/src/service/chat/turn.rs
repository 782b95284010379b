//! One turn: `chat.started` → up to [`MAX_STEPS`] model steps, each streaming `chat.delta` and
//! possibly tool calls (`chat.tool_call` → run → `chat.tool_result`) → `chat.done`; and what it
//! saves: the assistant row ends up holding exactly the streamed text and every call made, one
//! tool row per call, written before its result goes out.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{FutureExt, StreamExt};
use protocol::{FinishReason, Role, ServerMessage, ToolCall};
use tokio::sync::watch;

use super::{Inner, Slot};
use crate::agent::{AgentMessage, StepEvent, ToolCallRequest, tools as specs};
use crate::error::Error;
use crate::metrics::metrics;
use crate::store::conversations::{self, NewMessage};

/// Model steps per turn (model → tools → model …). A model that still wants tools after this
/// many is stopped with an error rather than allowed to loop.
pub const MAX_STEPS: usize = 5;

pub(super) struct Turn {
    pub(super) user_id: i64,
    pub(super) conversation_id: i64,
    pub(super) message_id: i64,
    /// When `chat.send` arrived (time to first token is measured from here).
    pub(super) started: Instant,
    pub(super) cancel: watch::Receiver<bool>,
}

/// What the turn has produced so far: exactly what was streamed.
#[derive(Default)]
struct Answer {
    text: String,
    calls: Vec<ToolCall>,
    first_token: bool,
}

/// How a turn ended.
enum End {
    Stop,
    Cancelled,
    Failed { kind: &'static str, message: String },
}

pub(super) async fn run(inner: Arc<Inner>, turn: Turn, slot: Slot, done: watch::Sender<()>) {
    let (user_id, conversation_id, message_id) =
        (turn.user_id, turn.conversation_id, turn.message_id);
    inner
        .bus
        .to_user(
            user_id,
            &ServerMessage::ChatStarted {
                conversation_id,
                message_id,
            },
        )
        .await;
    let mut answer = Answer::default();
    let end = match AssertUnwindSafe(inner.generate(&turn, &mut answer))
        .catch_unwind()
        .await
    {
        Ok(end) => end,
        Err(_) => {
            tracing::error!("the chat turn panicked");
            End::Failed {
                kind: "internal",
                message: "internal error".into(),
            }
        }
    };
    // A cancel wins over whatever the interrupted work reported (e.g. a conversation deleted
    // under a running turn makes its writes fail).
    let end = if *turn.cancel.borrow() {
        End::Cancelled
    } else {
        end
    };
    let saved =
        conversations::finish_message(&inner.db, message_id, &answer.text, &answer.calls).await;
    let (finish_reason, error) = match (end, saved) {
        (End::Cancelled, _) => (FinishReason::Cancelled, None),
        (End::Stop, Ok(())) => (FinishReason::Stop, None),
        (End::Stop, Err(e)) => {
            tracing::warn!(error = %e, "saving the answer");
            metrics().agent_errors.with_label_values(&["store"]).inc();
            (
                FinishReason::Error,
                Some("the answer could not be saved".to_owned()),
            )
        }
        (End::Failed { kind, message }, saved) => {
            if let Err(e) = saved {
                tracing::warn!(error = %e, "saving the partial answer");
            }
            tracing::info!(kind, %message, "turn failed");
            metrics().agent_errors.with_label_values(&[kind]).inc();
            (FinishReason::Error, Some(message))
        }
    };
    // Free the conversation before saying it is done: a client may send the next message as
    // soon as it sees `chat.done`.
    drop(slot);
    inner
        .bus
        .to_user(
            user_id,
            &ServerMessage::ChatDone {
                conversation_id,
                message_id,
                finish_reason,
                error,
            },
        )
        .await;
    tracing::debug!(
        finish_reason = finish_reason.as_str(),
        elapsed_ms = turn.started.elapsed().as_millis() as u64,
        "turn finished"
    );
    drop(done);
}

/// Resolves when the turn is cancelled (never, if the registry entry is gone).
async fn cancelled(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn store_failed(e: impl Into<Error>) -> End {
    let e: Error = e.into();
    tracing::warn!(error = %e, "chat turn: database");
    End::Failed {
        kind: "store",
        message: "the conversation could not be saved".into(),
    }
}

impl Inner {
    /// The model ↔ tools loop.
    async fn generate(&self, t: &Turn, answer: &mut Answer) -> End {
        let mut messages = match self.history(t).await {
            Ok(m) => m,
            Err(e) => return store_failed(e),
        };
        let mut cancel = t.cancel.clone();
        let provider = self.provider.name();
        for _ in 0..MAX_STEPS {
            let step_start = answer.text.len();
            let mut calls: Vec<ToolCallRequest> = Vec::new();
            let mut stream = self.provider.step(messages.clone());
            loop {
                let event = tokio::select! {
                    biased;
                    // Returning drops `stream`, which closes the upstream request at once.
                    () = cancelled(&mut cancel) => return End::Cancelled,
                    e = stream.next() => e,
                };
                match event {
                    None | Some(Ok(StepEvent::Finish)) => break,
                    Some(Ok(StepEvent::Delta(text))) => {
                        if !answer.first_token {
                            answer.first_token = true;
                            metrics()
                                .agent_first_token
                                .with_label_values(&[provider])
                                .observe(t.started.elapsed().as_secs_f64());
                        }
                        metrics().agent_tokens.inc();
                        answer.text.push_str(&text);
                        self.bus
                            .to_user(
                                t.user_id,
                                &ServerMessage::ChatDelta {
                                    conversation_id: t.conversation_id,
                                    text,
                                },
                            )
                            .await;
                    }
                    Some(Ok(StepEvent::ToolCall(call))) => calls.push(call),
                    Some(Err(e)) => {
                        return End::Failed {
                            kind: e.kind.as_str(),
                            message: e.message,
                        };
                    }
                }
            }
            drop(stream);
            if calls.is_empty() {
                return End::Stop;
            }
            // The calls are on the assistant row before their results are, so the saved
            // conversation is well-formed at every moment.
            answer.calls.extend(calls.iter().map(|c| ToolCall {
                call_id: c.id.clone(),
                name: c.name.clone(),
                arguments: specs::arguments_value(&c.arguments),
            }));
            if let Err(e) =
                conversations::finish_message(&self.db, t.message_id, &answer.text, &answer.calls)
                    .await
            {
                return store_failed(e);
            }
            messages.push(AgentMessage::Assistant {
                content: answer.text[step_start..].to_owned(),
                tool_calls: calls.clone(),
            });
            // Tools run to completion even if a cancel arrives meanwhile: a todo change is
            // never cut between its commit and its event.
            for call in calls {
                if let Err(end) = self.run_tool(t, &call, &mut messages).await {
                    return end;
                }
            }
            if *cancel.borrow() {
                return End::Cancelled;
            }
        }
        End::Failed {
            kind: "step_limit",
            message: format!("the assistant stopped after {MAX_STEPS} steps without finishing"),
        }
    }

    async fn run_tool(
        &self,
        t: &Turn,
        call: &ToolCallRequest,
        messages: &mut Vec<AgentMessage>,
    ) -> std::result::Result<(), End> {
        let label = if specs::NAMES.contains(&call.name.as_str()) {
            call.name.as_str()
        } else {
            "unknown"
        };
        metrics().agent_tool_calls.with_label_values(&[label]).inc();
        self.bus
            .to_user(
                t.user_id,
                &ServerMessage::ChatToolCall {
                    conversation_id: t.conversation_id,
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: specs::arguments_value(&call.arguments),
                },
            )
            .await;
        // The user id is the session's, never one from the model.
        let result =
            super::tools::execute(&self.todos, t.user_id, &call.name, &call.arguments).await;
        let content = result.to_string();
        conversations::append(
            &self.db,
            t.conversation_id,
            NewMessage {
                role: Role::Tool,
                content: &content,
                tool_calls: &[],
                call_id: Some(&call.id),
                name: Some(&call.name),
            },
        )
        .await
        .map_err(store_failed)?;
        self.bus
            .to_user(
                t.user_id,
                &ServerMessage::ChatToolResult {
                    conversation_id: t.conversation_id,
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    result,
                },
            )
            .await;
        messages.push(AgentMessage::Tool {
            call_id: call.id.clone(),
            name: call.name.clone(),
            content,
        });
        Ok(())
    }
}
