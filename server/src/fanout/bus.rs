//! The one channel between instances, and the local delivery of what goes through it.
//!
//! Four kinds of message travel here: committed todo events, chat frames, chat cancels and
//! session revocations. Locally, the service hands each committed event to the [`Hub`] at once. With PostgreSQL,
//! several instances may share the database: after commit, each event's `(user, seq)` goes to
//! a notifier task that sends them in batches with one `pg_notify` (a NOTIFY inside every todo
//! transaction would serialise all commits behind PostgreSQL's notification lock: measured, 1,000
//! commands/s could not be kept up with). Chat frames, chat cancels and session revocations are
//! notified too. Every instance listens on one connection ([`Bus::listen`]) and delivers what
//! other instances sent to its own sockets, reading the events from the log; chat cancels go to
//! the chat service, which subscribes with [`Bus::chat_cancels`]. Batches may interleave out of `seq` order, and a notification can be
//! missed while the listener reconnects: the sockets heal both (they hold an event that overtakes
//! a gap for a moment, then read the log).

use std::sync::Arc;
use std::time::Instant;

use protocol::{ServerMessage, TodoEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::hub::{Frame, Hub};
use crate::metrics::metrics;
use crate::store::{Db, events};

/// The channel carrying batches of committed todo events: `{"origin", "events": [[user, seq], …]}`.
pub const EVENTS_CHANNEL: &str = "todo_events";
/// Events waiting for the notifier before new ones are dropped (sockets heal from the log).
const NOTIFY_QUEUE: usize = 65_536;
/// Events in one NOTIFY: 150 `[user, seq]` pairs of 19-digit ids stay under the 8000-byte limit.
const NOTIFY_BATCH: usize = 150;

const FRAMES_CHANNEL: &str = "user_frames";
const SESSIONS_CHANNEL: &str = "session_revoked";
const CANCELS_CHANNEL: &str = "chat_cancel";
/// Cancels buffered for the chat service before the oldest is dropped (a dropped cancel can be
/// sent again with Stop).
const CANCELS_QUEUE: usize = 1024;
/// NOTIFY payloads must stay under 8000 bytes; bigger chat frames stay local.
const MAX_NOTIFY_BYTES: usize = 7000;

#[derive(Clone)]
pub struct Bus {
    hub: Arc<Hub>,
    db: Db,
    /// This instance's id, so it can skip its own notifications.
    origin: Arc<str>,
    /// Committed `(user, seq)` on their way to the notifier task (PostgreSQL only).
    notes: Option<tokio::sync::mpsc::Sender<(i64, i64)>>,
    /// Chat cancels other instances sent, for the chat service.
    cancels: broadcast::Sender<ChatCancel>,
}

/// Another instance asks whoever runs this conversation's turn to stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatCancel {
    pub user_id: i64,
    pub conversation_id: i64,
}

#[derive(Serialize, Deserialize)]
struct EventsNote {
    origin: String,
    events: Vec<(i64, i64)>,
}

#[derive(Serialize, Deserialize)]
struct FrameNote {
    user_id: i64,
    origin: String,
    frame: String,
}

#[derive(Serialize, Deserialize)]
struct CancelNote {
    #[serde(flatten)]
    cancel: ChatCancel,
    origin: String,
}

#[derive(Serialize, Deserialize)]
struct SessionNote {
    user_id: i64,
    session_id: i64,
    origin: String,
}

impl Bus {
    /// On PostgreSQL this starts the notifier task (it ends when the last `Bus` is dropped).
    pub fn new(hub: Arc<Hub>, db: Db) -> Self {
        let id: u64 = rand::random();
        let origin: Arc<str> = format!("{id:016x}").into();
        let notes = match &db {
            Db::Postgres(pool) => {
                let (tx, rx) = tokio::sync::mpsc::channel(NOTIFY_QUEUE);
                tokio::spawn(notifier(pool.clone(), origin.clone(), rx));
                Some(tx)
            }
            Db::Sqlite(_) => None,
        };
        Self {
            hub,
            db,
            origin,
            notes,
            cancels: broadcast::channel(CANCELS_QUEUE).0,
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// A todo change was committed with this `seq`: serialise once, fan out locally, and queue
    /// it for the other instances.
    pub fn event_committed(&self, user_id: i64, seq: i64, event: TodoEvent) {
        if let Some(notes) = &self.notes
            && notes.try_send((user_id, seq)).is_err()
        {
            tracing::warn!(
                user_id,
                seq,
                "notifier queue full: other instances will catch up from the log"
            );
        }
        let started = Instant::now();
        let frame = Frame::from(event.into_message(seq).to_json());
        self.hub.publish_event(user_id, seq, frame);
        metrics().events_published.inc();
        metrics()
            .fanout_lag
            .with_label_values(&["local"])
            .observe(started.elapsed().as_secs_f64());
    }

    /// A frame for every socket of the user, on every instance (chat streaming).
    pub async fn to_user(&self, user_id: i64, msg: &ServerMessage) {
        let frame = msg.to_json();
        if let Db::Postgres(pool) = &self.db
            && frame.len() <= MAX_NOTIFY_BYTES
        {
            let note = FrameNote {
                user_id,
                origin: self.origin.to_string(),
                frame: frame.clone(),
            };
            notify(pool, FRAMES_CHANNEL, &note).await;
        }
        self.hub.send_to_user(user_id, frame.into());
    }

    /// A session was revoked: close its sockets here and on every instance.
    pub async fn session_revoked(&self, user_id: i64, session_id: i64) {
        self.hub.expire_session(user_id, session_id);
        if let Db::Postgres(pool) = &self.db {
            let note = SessionNote {
                user_id,
                session_id,
                origin: self.origin.to_string(),
            };
            notify(pool, SESSIONS_CHANNEL, &note).await;
        }
    }

    /// Asks the other instances to stop this conversation's turn (the caller has already
    /// checked that it does not run here).
    pub async fn cancel_chat(&self, user_id: i64, conversation_id: i64) {
        if let Db::Postgres(pool) = &self.db {
            let note = CancelNote {
                cancel: ChatCancel {
                    user_id,
                    conversation_id,
                },
                origin: self.origin.to_string(),
            };
            notify(pool, CANCELS_CHANNEL, &note).await;
        }
    }

    /// The chat cancels other instances send, for the chat service to act on.
    pub fn chat_cancels(&self) -> broadcast::Receiver<ChatCancel> {
        self.cancels.subscribe()
    }

    /// Listens for other instances' notifications until the process ends. Only with PostgreSQL.
    pub async fn listen(self) {
        if !self.db.is_postgres() {
            return;
        }
        let mut listener = loop {
            match self.db.listener().await {
                Ok(None) => return,
                Ok(Some(mut l)) => match l
                    .listen_all([
                        EVENTS_CHANNEL,
                        FRAMES_CHANNEL,
                        SESSIONS_CHANNEL,
                        CANCELS_CHANNEL,
                    ])
                    .await
                {
                    Ok(()) => break l,
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed; retrying"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot open the LISTEN connection; retrying"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        };
        tracing::info!(origin = %self.origin, "listening for other instances' changes");
        loop {
            // `recv` reconnects by itself after a lost connection (notifications sent
            // meanwhile are lost; sockets heal gaps from the log on the next event).
            match listener.recv().await {
                Ok(n) => self.on_notification(n.channel(), n.payload()).await,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection error");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
    }

    async fn on_notification(&self, channel: &str, payload: &str) {
        match channel {
            EVENTS_CHANNEL => {
                let Ok(n) = serde_json::from_str::<EventsNote>(payload) else {
                    return;
                };
                if *n.origin == *self.origin {
                    return;
                }
                // Only users with a socket here, and all their events in one query: at 1,000
                // events/s a read per event would queue up behind the listener.
                let wanted: Vec<(i64, i64)> = n
                    .events
                    .into_iter()
                    .filter(|(u, _)| self.hub.has_user(*u))
                    .collect();
                if wanted.is_empty() {
                    return;
                }
                let started = Instant::now();
                match events::get_many(&self.db, &wanted).await {
                    Ok(found) => {
                        // Missing ones were pruned already: the sockets' gap check sends a snapshot.
                        for (user_id, seq, ev) in found {
                            let frame = Frame::from(ev.into_message(seq).to_json());
                            self.hub.publish_event(user_id, seq, frame);
                        }
                        metrics()
                            .fanout_lag
                            .with_label_values(&["remote"])
                            .observe(started.elapsed().as_secs_f64());
                    }
                    Err(e) => tracing::warn!(error = %e, "reading remote events"),
                }
            }
            FRAMES_CHANNEL => {
                let Ok(n) = serde_json::from_str::<FrameNote>(payload) else {
                    return;
                };
                if *n.origin != *self.origin {
                    self.hub.send_to_user(n.user_id, n.frame.into());
                }
            }
            CANCELS_CHANNEL => {
                let Ok(n) = serde_json::from_str::<CancelNote>(payload) else {
                    return;
                };
                if *n.origin != *self.origin {
                    // No subscriber (no chat service) is fine.
                    let _ = self.cancels.send(n.cancel);
                }
            }
            SESSIONS_CHANNEL => {
                let Ok(n) = serde_json::from_str::<SessionNote>(payload) else {
                    return;
                };
                if *n.origin != *self.origin {
                    self.hub.expire_session(n.user_id, n.session_id);
                }
            }
            _ => {}
        }
    }
}

async fn notify<T: Serialize>(pool: &sqlx::PgPool, channel: &str, note: &T) {
    let Ok(payload) = serde_json::to_string(note) else {
        return;
    };
    if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(pool)
        .await
    {
        tracing::warn!(error = %e, channel, "NOTIFY failed");
    }
}

/// Sends committed events to the other instances: whatever has queued up since the last
/// NOTIFY goes in the next one (up to [`NOTIFY_BATCH`]), so under load one NOTIFY carries many
/// events and idle it carries one without delay.
async fn notifier(
    pool: sqlx::PgPool,
    origin: Arc<str>,
    mut rx: tokio::sync::mpsc::Receiver<(i64, i64)>,
) {
    let mut batch = Vec::with_capacity(NOTIFY_BATCH);
    while rx.recv_many(&mut batch, NOTIFY_BATCH).await > 0 {
        let note = EventsNote {
            origin: origin.to_string(),
            events: std::mem::take(&mut batch),
        };
        notify(&pool, EVENTS_CHANNEL, &note).await;
    }
}
