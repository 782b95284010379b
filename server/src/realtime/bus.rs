//! Getting committed changes to sockets, on this instance and on the others.
//!
//! Locally, the service hands each committed event to the [`Hub`] at once. With PostgreSQL,
//! several instances may share the database: each todo change also does `pg_notify` in its own
//! transaction (delivered on commit, in commit order), and chat frames and session revocations
//! are notified too. Every instance listens and delivers what other instances sent to its own
//! sockets. A notification missed while the listener reconnects is healed by the sockets
//! themselves: a socket that sees a gap in `seq` reads the missing events from the log.

use std::sync::Arc;
use std::time::Instant;

use protocol::{ServerMessage, TodoEvent};
use serde::{Deserialize, Serialize};

use super::hub::{Frame, Hub};
use crate::metrics::metrics;
use crate::store::{Db, events, todos::EVENTS_CHANNEL};

const FRAMES_CHANNEL: &str = "user_frames";
const SESSIONS_CHANNEL: &str = "session_revoked";
/// NOTIFY payloads must stay under 8000 bytes; bigger chat frames stay local.
const MAX_NOTIFY_BYTES: usize = 7000;

#[derive(Clone)]
pub struct Bus {
    hub: Arc<Hub>,
    db: Db,
    /// This instance's id, so it can skip its own notifications.
    origin: Arc<str>,
}

#[derive(Serialize, Deserialize)]
struct EventNote {
    user_id: i64,
    seq: i64,
    origin: String,
}

#[derive(Serialize, Deserialize)]
struct FrameNote {
    user_id: i64,
    origin: String,
    frame: String,
}

#[derive(Serialize, Deserialize)]
struct SessionNote {
    user_id: i64,
    session_id: i64,
    origin: String,
}

impl Bus {
    pub fn new(hub: Arc<Hub>, db: Db) -> Self {
        let id: u64 = rand::random();
        Self {
            hub,
            db,
            origin: format!("{id:016x}").into(),
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A todo change was committed with this `seq`: serialise once, fan out locally. (Other
    /// instances learn of it from the NOTIFY sent in the transaction.)
    pub fn event_committed(&self, user_id: i64, seq: i64, event: TodoEvent) {
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

    /// Listens for other instances' notifications until the process ends. Only with PostgreSQL.
    pub async fn listen(self) {
        if !self.db.is_postgres() {
            return;
        }
        let mut listener = loop {
            match self.db.listener().await {
                Ok(None) => return,
                Ok(Some(mut l)) => match l
                    .listen_all([EVENTS_CHANNEL, FRAMES_CHANNEL, SESSIONS_CHANNEL])
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
                let Ok(n) = serde_json::from_str::<EventNote>(payload) else {
                    return;
                };
                if *n.origin == *self.origin || !self.hub.has_user(n.user_id) {
                    return;
                }
                let started = Instant::now();
                match events::get(&self.db, n.user_id, n.seq).await {
                    Ok(Some(ev)) => {
                        let frame = Frame::from(ev.into_message(n.seq).to_json());
                        self.hub.publish_event(n.user_id, n.seq, frame);
                        metrics()
                            .fanout_lag
                            .with_label_values(&["remote"])
                            .observe(started.elapsed().as_secs_f64());
                    }
                    // Pruned already: the sockets' gap check will send a snapshot.
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "reading a remote event"),
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
