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
//! that is not running here goes to the others through the bus, and the instance running it
//! stops it. (The busy check stays per instance: two sends for one conversation landing on two
//! instances at the same moment can both run.)
//!
//! The parts: this file is the service's face and the registry of running turns; [`turn`] is
//! the model ↔ tools loop of one turn and what it saves; [`history`] is what the model is shown;
//! [`tools`] runs the model's tool calls through the todo service.

mod history;
mod tools;
mod turn;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use turn::Turn;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use protocol::{Conversation, ErrorCode, Message, Role};
use tokio::sync::watch;
use tracing::Instrument;

use crate::agent::Provider;
use crate::agent::offline::Offline;
use crate::agent::openai::OpenAi;
use crate::config::{AgentKind, Config};
use crate::error::{Error, Result};
use crate::fanout::bus::Bus;
use crate::service::todos::Todos;
use crate::store::Db;
use crate::store::conversations::{self, NewMessage};

pub use turn::MAX_STEPS;

/// How long `chat.cancel` waits for the turn to save its partial answer before acking.
const CANCEL_WAIT: Duration = Duration::from_secs(5);
/// Longest conversation title (taken from the first message).
const TITLE_CHARS: usize = 60;

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
        let mut cancels = bus.chat_cancels();
        let inner = Arc::new(Inner {
            db,
            bus,
            todos,
            provider,
            running: DashMap::new(),
            limiter: RateLimiter::keyed(Quota::per_minute(per_min)),
            next_turn: AtomicU64::new(1),
        });
        // Cancels that other instances received for turns running here. The task ends when
        // the bus (and so the sender) is gone.
        let weak = Arc::downgrade(&inner);
        tokio::spawn(async move {
            loop {
                match cancels.recv().await {
                    Ok(c) => match weak.upgrade() {
                        Some(inner) => {
                            inner.cancel_local(c.user_id, c.conversation_id);
                        }
                        None => return,
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "chat cancels lagged");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Self { inner }
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
        tokio::spawn(turn::run(self.inner.clone(), turn, slot, done_tx).instrument(span));
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
        self.inner.bus.cancel_chat(user_id, conversation_id).await;
        Ok(())
    }

    /// Cancels the conversation's turn if one of this user's is running, and waits until it has
    /// ended when it runs on this instance (true). With PostgreSQL, a turn not running here is
    /// cancelled on whichever instance runs it, without waiting (false).
    /// [`Chat::delete`] calls this before deleting, so the turn does not write into a
    /// conversation that is gone.
    async fn cancel_if_running(&self, user_id: i64, conversation_id: i64) -> bool {
        let Some(mut done) = self.inner.cancel_local(user_id, conversation_id) else {
            self.inner.bus.cancel_chat(user_id, conversation_id).await;
            return false;
        };
        // `changed` fails when the turn drops its sender, i.e. when it has finished.
        let _ = tokio::time::timeout(CANCEL_WAIT, done.changed()).await;
        true
    }

    /// The user's conversations, newest first.
    pub async fn conversations(&self, user_id: i64) -> Result<Vec<Conversation>> {
        Ok(conversations::list(&self.inner.db, user_id).await?)
    }

    /// A conversation's messages, oldest first; `not_found` when it is not the user's.
    pub async fn messages(&self, user_id: i64, conversation_id: i64) -> Result<Vec<Message>> {
        conversations::messages(&self.inner.db, user_id, conversation_id)
            .await?
            .ok_or_else(|| Error::not_found("conversation"))
    }

    /// Deletes a conversation, stopping its running turn first (on whichever instance runs
    /// it) so the turn does not write into a conversation that is gone.
    pub async fn delete(&self, user_id: i64, conversation_id: i64) -> Result<()> {
        self.cancel_if_running(user_id, conversation_id).await;
        if !conversations::delete(&self.inner.db, user_id, conversation_id).await? {
            return Err(Error::not_found("conversation"));
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
