//! Chat turns with the assistant: the one loop shared by every provider.
//!
//! `chat.send` checks and saves the user's message, reserves the conversation (one generation at
//! a time per conversation) and returns at once; the turn then runs in its own task, tied to the
//! conversation and not to the socket that asked, so it completes and is saved even if that
//! socket drops. A turn is: `chat.started` → up to [`MAX_STEPS`] model steps, each streaming
//! `chat.delta` frames and possibly tool calls (`chat.tool_call` → run through the todo service →
//! `chat.tool_result`) → `chat.done`. Every frame goes to every socket of the user through the
//! bus.
//!
//! Rows: the user message; one assistant message per turn, created empty at the start (its id is
//! the `message_id` of `chat.started`/`chat.done`), which ends up holding exactly the text that
//! was streamed and every tool call made; and one tool message per call, after it. Nothing about
//! a conversation is kept in memory between turns: each turn reads its (bounded) history from the
//! database. The only state here is the registry of running turns, for `chat.cancel` and the
//! busy check. It is per instance; with several instances on one PostgreSQL, a cancel for a turn
//! that is not running here is sent to the others with `NOTIFY chat_cancel` ([`Chat::listen`]),
//! and the instance running it stops it. (The busy check stays per instance: two sends for one
//! conversation landing on two instances at the same moment can both run.)

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use futures_util::{FutureExt, StreamExt};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use protocol::{ErrorCode, FinishReason, Message, Role, ServerMessage, ToolCall};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::Instrument;

use crate::agent::offline::Offline;
use crate::agent::openai::OpenAi;
use crate::agent::{AgentMessage, Provider, StepEvent, ToolCallRequest, tools};
use crate::config::{AgentKind, Config};
use crate::error::{Error, Result};
use crate::metrics::metrics;
use crate::realtime::bus::Bus;
use crate::service::todos::Todos;
use crate::store::Db;
use crate::store::conversations::{self, NewMessage};

/// Model steps per turn (model → tools → model …). A model that still wants tools after this
/// many is stopped with an error rather than allowed to loop.
pub const MAX_STEPS: usize = 5;
/// Newest messages given to the model.
const HISTORY_MESSAGES: i64 = 40;
/// …and at most about this many characters of them (a long tool result or message counts).
const HISTORY_CHARS: usize = 48_000;
/// How long `chat.cancel` waits for the turn to save its partial answer before acking.
const CANCEL_WAIT: Duration = Duration::from_secs(5);
/// Longest conversation title (taken from the first message).
const TITLE_CHARS: usize = 60;
/// PostgreSQL channel on which a cancel reaches the instance running the turn.
const CANCEL_CHANNEL: &str = "chat_cancel";

/// The payload of a `chat_cancel` notification.
#[derive(Serialize, Deserialize)]
struct CancelNote {
    user_id: i64,
    conversation_id: i64,
}

/// The chat service; cheap to clone.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    bus: Bus,
    todos: Todos,
    provider: Arc<dyn Provider>,
    /// Conversation id → its running turn (on this instance).
    running: DashMap<i64, Running>,
    limiter: DefaultKeyedRateLimiter<i64>,
    next_turn: AtomicU64,
}

struct Running {
    user_id: i64,
    /// Which turn holds the slot, so a finished turn never frees a newer one's.
    turn: u64,
    cancel: watch::Sender<bool>,
    /// Closed (sender dropped) when the turn has saved its answer and sent `chat.done`.
    done: watch::Receiver<()>,
}

impl Chat {
    /// The chat service with the provider `config` chooses (`AGENT`).
    pub fn new(config: &Config, db: Db, bus: Bus, todos: Todos) -> anyhow::Result<Self> {
        let provider: Arc<dyn Provider> = match config.effective_agent() {
            AgentKind::OpenAi => Arc::new(OpenAi::new(config)?),
            AgentKind::Offline | AgentKind::Auto => Arc::new(Offline::default()),
        };
        Ok(Self::with_provider(config, db, bus, todos, provider))
    }

    /// The chat service with a given provider.
    pub fn with_provider(
        config: &Config,
        db: Db,
        bus: Bus,
        todos: Todos,
        provider: Arc<dyn Provider>,
    ) -> Self {
        let per_min = NonZeroU32::new(config.chat_rate_per_min).unwrap_or(NonZeroU32::MIN);
        Self {
            inner: Arc::new(Inner {
                db,
                bus,
                todos,
                provider,
                running: DashMap::new(),
                limiter: RateLimiter::keyed(Quota::per_minute(per_min)),
                next_turn: AtomicU64::new(1),
            }),
        }
    }

    /// The provider's name (`openai` or `offline`).
    pub fn provider(&self) -> &'static str {
        self.inner.provider.name()
    }

    /// Forgets idle rate-limit state; called periodically.
    pub fn housekeeping(&self) {
        self.inner.limiter.retain_recent();
    }

    /// Turns running on this instance.
    pub fn running(&self) -> usize {
        self.inner.running.len()
    }

    /// Starts a turn and returns the conversation id at once (a new conversation when
    /// `conversation_id` is `None`, titled from `text`). The answer streams to the user's
    /// sockets. Errors: `validation_failed` (text), `rate_limited`, `not_found` (not the user's
    /// conversation), `conflict` (that conversation is already answering).
    pub async fn send(
        &self,
        user_id: i64,
        conversation_id: Option<i64>,
        text: &str,
    ) -> Result<i64> {
        let started = Instant::now();
        let text = protocol::parse_chat_text(text)?;
        if let Err(not_until) = self.inner.limiter.check_key(&user_id) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(Error::api(
                ErrorCode::RateLimited,
                format!(
                    "too many chat messages; try again in {} s",
                    wait.as_secs().max(1)
                ),
            ));
        }
        let db = &self.inner.db;
        let conversation_id = match conversation_id {
            Some(id) => {
                conversations::get(db, user_id, id)
                    .await?
                    .ok_or_else(|| Error::not_found("conversation"))?
                    .id
            }
            None => {
                conversations::create(db, user_id, &title_from(&text))
                    .await?
                    .id
            }
        };

        // Reserve the conversation before writing, so two sends cannot both start a turn.
        let turn = self.inner.next_turn.fetch_add(1, Ordering::Relaxed);
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(());
        match self.inner.running.entry(conversation_id) {
            Entry::Occupied(_) => {
                return Err(Error::api(
                    ErrorCode::Conflict,
                    "this conversation is still answering; wait for it or cancel it",
                ));
            }
            Entry::Vacant(v) => {
                v.insert(Running {
                    user_id,
                    turn,
                    cancel: cancel_tx,
                    done: done_rx,
                });
            }
        }
        // From here the slot is freed when `slot` drops, whatever happens.
        let slot = Slot {
            inner: self.inner.clone(),
            conversation_id,
            turn,
        };
        conversations::append(db, conversation_id, new_message(Role::User, &text)).await?;
        let answer =
            conversations::append(db, conversation_id, new_message(Role::Assistant, "")).await?;

        let span = tracing::info_span!(
            "chat",
            user_id,
            conversation_id,
            message_id = answer.id,
            provider = self.inner.provider.name()
        );
        let turn = Turn {
            user_id,
            conversation_id,
            message_id: answer.id,
            started,
            cancel: cancel_rx,
        };
        tokio::spawn(run(self.inner.clone(), turn, slot, done_tx).instrument(span));
        Ok(conversation_id)
    }

    /// Stops the conversation's running turn: the upstream request is dropped at once, the
    /// partial answer is saved and `chat.done` says `cancelled`. Waits (briefly) until that is
    /// done. Nothing running is fine; not the user's conversation is `not_found`.
    pub async fn cancel(&self, user_id: i64, conversation_id: i64) -> Result<()> {
        if let Some(mut done) = self.inner.cancel_local(user_id, conversation_id) {
            let _ = tokio::time::timeout(CANCEL_WAIT, done.changed()).await;
            return Ok(());
        }
        if conversations::get(&self.inner.db, user_id, conversation_id)
            .await?
            .is_none()
        {
            return Err(Error::not_found("conversation"));
        }
        // Perhaps another instance runs it; its `chat.done` reaches the sockets through the bus.
        self.inner.notify_cancel(user_id, conversation_id).await;
        Ok(())
    }

    /// Cancels the conversation's turn if one of this user's is running, and waits until it has
    /// ended when it runs on this instance (true). With PostgreSQL, a turn not running here is
    /// cancelled on whichever instance runs it, without waiting (false).
    /// `DELETE /api/conversations/{id}` calls this before deleting, so the turn does not write
    /// into a conversation that is gone.
    pub async fn cancel_if_running(&self, user_id: i64, conversation_id: i64) -> bool {
        let Some(mut done) = self.inner.cancel_local(user_id, conversation_id) else {
            self.inner.notify_cancel(user_id, conversation_id).await;
            return false;
        };
        // `changed` fails when the turn drops its sender, i.e. when it has finished.
        let _ = tokio::time::timeout(CANCEL_WAIT, done.changed()).await;
        true
    }

    /// Receives other instances' cancels until the process ends. Only with PostgreSQL.
    pub async fn listen(self) {
        if !self.inner.db.is_postgres() {
            return;
        }
        let mut listener = loop {
            // Its own connection, outside the pool (see `Db::listener`).
            match self.inner.db.listener().await {
                Ok(None) => return,
                Ok(Some(mut l)) => match l.listen(CANCEL_CHANNEL).await {
                    Ok(()) => break l,
                    Err(e) => tracing::warn!(error = %e, "LISTEN chat_cancel failed; retrying"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the chat_cancel listener; retrying")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        loop {
            match listener.recv().await {
                Ok(n) => {
                    if let Ok(note) = serde_json::from_str::<CancelNote>(n.payload()) {
                        self.inner.cancel_local(note.user_id, note.conversation_id);
                    }
                }
                Err(e) => {
                    // `recv` reconnects by itself; a cancel sent meanwhile is lost (the user
                    // can press stop again).
                    tracing::warn!(error = %e, "chat_cancel listener error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

impl Inner {
    /// Signals the turn if it runs here for this user; returns its "finished" watch.
    fn cancel_local(&self, user_id: i64, conversation_id: i64) -> Option<watch::Receiver<()>> {
        let r = self.running.get(&conversation_id)?;
        if r.user_id != user_id {
            return None;
        }
        r.cancel.send_replace(true);
        Some(r.done.clone())
    }

    async fn notify_cancel(&self, user_id: i64, conversation_id: i64) {
        let Db::Postgres(pool) = &self.db else {
            return;
        };
        let Ok(payload) = serde_json::to_string(&CancelNote {
            user_id,
            conversation_id,
        }) else {
            return;
        };
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CANCEL_CHANNEL)
            .bind(payload)
            .execute(pool)
            .await
        {
            tracing::warn!(error = %e, "NOTIFY chat_cancel failed");
        }
    }
}

fn new_message(role: Role, content: &str) -> NewMessage<'_> {
    NewMessage {
        role,
        content,
        tool_calls: &[],
        call_id: None,
        name: None,
    }
}

/// A conversation title from its first message: one line, at most [`TITLE_CHARS`], cut at a word.
pub fn title_from(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= TITLE_CHARS {
        return line;
    }
    let cut: String = line.chars().take(TITLE_CHARS).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > TITLE_CHARS / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':', ' ']))
}

/// Frees the conversation's slot in the registry when dropped (also if the turn panics).
struct Slot {
    inner: Arc<Inner>,
    conversation_id: i64,
    turn: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner
            .running
            .remove_if(&self.conversation_id, |_, r| r.turn == self.turn);
    }
}

struct Turn {
    user_id: i64,
    conversation_id: i64,
    message_id: i64,
    /// When `chat.send` arrived (time to first token is measured from here).
    started: Instant,
    cancel: watch::Receiver<bool>,
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

async fn run(inner: Arc<Inner>, turn: Turn, slot: Slot, done: watch::Sender<()>) {
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

fn store_failed(e: &sqlx::Error) -> End {
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
            Err(e) => return store_failed(&e),
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
                arguments: tools::arguments_value(&c.arguments),
            }));
            if let Err(e) =
                conversations::finish_message(&self.db, t.message_id, &answer.text, &answer.calls)
                    .await
            {
                return store_failed(&e);
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
        let label = if tools::NAMES.contains(&call.name.as_str()) {
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
                    arguments: tools::arguments_value(&call.arguments),
                },
            )
            .await;
        // The user id is the session's, never one from the model.
        let result = tools::execute(&self.todos, t.user_id, &call.name, &call.arguments).await;
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
        .map_err(|e| store_failed(&e))?;
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

    /// The conversation up to this turn's user message, bounded, newest kept.
    async fn history(&self, t: &Turn) -> std::result::Result<Vec<AgentMessage>, sqlx::Error> {
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
    fn titles_are_one_short_line() {
        assert_eq!(title_from("add  buy\nmilk"), "add buy milk");
        let long =
            "please add a task to remember to call the plumber about the kitchen sink tomorrow";
        let t = title_from(long);
        assert!(t.chars().count() <= TITLE_CHARS + 1, "{t}");
        assert!(
            t.ends_with('…') && long.starts_with(t.trim_end_matches('…')),
            "{t}"
        );
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
