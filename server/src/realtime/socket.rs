//! One task per socket: authenticate the upgrade, then read → dispatch → answer, while
//! forwarding the user's events in `seq` order.
//!
//! The upgrade is taken from hyper directly (not `warp::ws`) so the socket's buffers can be
//! sized: tungstenite's default 128 KiB read buffer per socket would alone be twice the
//! 64 KiB-per-idle-socket budget.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use http::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use protocol::{
    AckResult, ClientFrame, ClientMessage, ErrorCode, PROTOCOL_VERSION, ServerMessage, TodoEvent,
    UpdateTodo, close,
};
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::Instrument;
use warp::reply::Response;

use super::hub::{Frame, Kick, Outbound};
use crate::app::AppState;
use crate::auth::Authenticated;
use crate::error::{Error, Result};
use crate::http::Request;
use crate::http::guard::authenticate;
use crate::metrics::metrics;
use crate::store::users;

/// Most events replayed on `hello` before a snapshot is sent instead.
const MAX_REPLAY: i64 = 1000;
/// Rate-limit refusals in a row before the socket is closed with 4029.
const RATE_STRIKES: u32 = 20;
/// A write that takes longer than this means the peer stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an event may wait for an earlier one before the log is read.
const GAP_WAIT: Duration = Duration::from_millis(500);
/// Events buffered behind a gap before the log is read at once.
const MAX_PENDING: usize = 256;

type Io = hyper_util::rt::TokioIo<warp::hyper::upgrade::Upgraded>;
type Ws = WebSocketStream<Io>;

/// `GET /ws`: 401 without a valid session, 400 if it is not a WebSocket handshake, else 101.
pub async fn upgrade(state: &AppState, req: Request) -> Result<Response> {
    let who = authenticate(state, &req.headers).await?;
    let header_has = |name, want: &str| {
        req.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(want))
    };
    let key = req.header(SEC_WEBSOCKET_KEY).map(str::to_owned);
    let (Some(key), true, true, true, Some(on_upgrade)) = (
        key,
        header_has(UPGRADE, "websocket"),
        header_has(CONNECTION, "upgrade"),
        req.header("sec-websocket-version") == Some("13"),
        req.upgrade,
    ) else {
        return Err(Error::bad_request(
            "expected a WebSocket upgrade (version 13)",
        ));
    };
    let user = state.auth.user(who.user_id).await?;
    let state2 = state.clone();
    let span = tracing::info_span!("ws", user_id = who.user_id, session_id = who.session_id);
    tokio::spawn(
        async move {
            let upgraded = match on_upgrade.await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(error = %e, "upgrade failed");
                    return;
                }
            };
            let config = WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(0)
                .max_write_buffer_size(1 << 20)
                .max_message_size(Some(state2.config.ws_max_message_bytes))
                .max_frame_size(Some(state2.config.ws_max_message_bytes));
            let ws = WebSocketStream::from_raw_socket(
                hyper_util::rt::TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            run(state2, who, user, ws).await;
        }
        .instrument(span),
    );
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut resp = super::super::http::reply::no_content();
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok(resp)
}

/// How a socket's loop ended.
enum End {
    /// The peer closed or vanished.
    Gone,
    /// We close with this code and reason.
    Close(u16, &'static str),
}

struct Conn {
    state: AppState,
    who: Authenticated,
    sink: futures_util::stream::SplitSink<Ws, Message>,
    /// The last todo event `seq` this socket has been sent.
    last_seq: i64,
    /// Events that arrived ahead of a gap, waiting for the missing one (in-process publication
    /// happens after commit, so two commits can overtake each other on the way here).
    pending: BTreeMap<i64, Frame>,
    /// When the current gap opened; past `GAP_WAIT` the log is read instead.
    gap_since: Option<Instant>,
    strikes: u32,
}

async fn run(state: AppState, who: Authenticated, user: protocol::User, ws: Ws) {
    let mut reg = state
        .bus
        .hub()
        .register(who.user_id, who.session_id, state.config.ws_send_queue);
    let (sink, mut stream) = ws.split();
    let mut conn = Conn {
        state: state.clone(),
        who,
        sink,
        last_seq: 0,
        pending: BTreeMap::new(),
        gap_since: None,
        strikes: 0,
    };
    tracing::debug!("socket open");

    // Registered first, then the seq read: an event committed in between arrives through the
    // hub with a higher seq and is sent; none can fall between the two.
    let end = match users::last_seq(&state.db, who.user_id).await {
        Ok(seq) => {
            conn.last_seq = seq;
            let welcome = ServerMessage::Welcome {
                user,
                session_id: who.session_id,
                seq,
                protocol: PROTOCOL_VERSION,
            };
            if conn.send(&welcome).await.is_err() {
                End::Gone
            } else {
                conn.serve(&mut stream, &mut reg).await
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "socket: cannot read seq");
            End::Close(close::INTERNAL, "database unavailable")
        }
    };
    let reason = match end {
        End::Gone => "peer",
        End::Close(code, why) => {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: why.into(),
            };
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                conn.sink.send(Message::Close(Some(frame))),
            )
            .await;
            why
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.sink.close()).await;
    metrics()
        .ws_closed
        .with_label_values(&[close_label(reason)])
        .inc();
    tracing::debug!(reason, "socket closed");
}

fn close_label(reason: &str) -> &'static str {
    match reason {
        "peer" => "peer",
        "session expired" => "session_expired",
        "too slow" => "too_slow",
        "frame too large" => "too_large",
        "rate limited" => "rate_limited",
        "server shutting down" => "shutdown",
        "idle" => "idle",
        _ => "other",
    }
}

impl Conn {
    async fn serve(
        &mut self,
        stream: &mut futures_util::stream::SplitStream<Ws>,
        reg: &mut super::hub::Registration,
    ) -> End {
        let cfg = self.state.config.clone();
        let session_end = Instant::now()
            + (self.who.session_expires_at - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
        let mut last_heard = Instant::now();
        let mut ping_at = Instant::now() + cfg.ws_ping_interval;
        let kill = reg.kill.clone();
        // The command being executed. While it runs, events keep flowing out, and no further
        // frame is read: the client's commands run one at a time, in order, and a client that
        // floods us is held back by TCP rather than by our memory.
        let mut inflight: Option<Command> = None;
        loop {
            tokio::select! {
                // Order matters: a kick first; then the running command, which must keep being
                // polled even while events pour in; then outgoing events; then new frames.
                biased;
                why = kill.kicked() => {
                    // Shutting down: the running command finishes and is acked first.
                    if let (Kick::Shutdown, Some(cmd)) = (why, inflight.take())
                        && let Ok((id, result)) = tokio::time::timeout(Duration::from_secs(5), cmd).await
                    {
                        let _ = self.send(&reply_for(id, result)).await;
                    }
                    return self.kicked(why).await;
                }
                () = sleep_until(session_end) => return self.kicked(Kick::SessionExpired).await,
                (id, result) = async {
                    match inflight.as_mut() {
                        Some(cmd) => cmd.await,
                        None => std::future::pending().await,
                    }
                }, if inflight.is_some() => {
                    inflight = None;
                    if self.send(&reply_for(id, result)).await.is_err() { return End::Gone }
                }
                out = reg.rx.recv() => {
                    let Some(out) = out else { return End::Gone };
                    if self.forward(out).await.is_err() { return End::Gone }
                }
                msg = stream.next(), if inflight.is_none() => {
                    last_heard = Instant::now();
                    ping_at = last_heard + cfg.ws_ping_interval;
                    match msg {
                        None | Some(Ok(Message::Close(_))) => return End::Gone,
                        Some(Ok(Message::Text(text))) => match self.on_text(text.as_str()).await {
                            Step::Continue => {}
                            Step::Run(cmd) => inflight = Some(cmd),
                            Step::End(end) => return end,
                        },
                        Some(Ok(Message::Binary(_))) => {
                            let e = ServerMessage::Error {
                                id: None,
                                code: ErrorCode::BadRequest,
                                message: "binary frames are not supported; send JSON text".into(),
                            };
                            if self.send(&e).await.is_err() { return End::Gone }
                        }
                        Some(Ok(_)) => {} // ping (answered by tungstenite), pong, raw frame
                        Some(Err(tungstenite::Error::Capacity(_))) => {
                            return End::Close(close::TOO_BIG, "frame too large");
                        }
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "socket read error");
                            return End::Gone;
                        }
                    }
                }
                () = sleep_until(self.gap_since.map_or(ping_at, |t| t + GAP_WAIT)), if self.gap_since.is_some() => {
                    if self.catch_up().await.is_err() { return End::Gone }
                }
                () = sleep_until(ping_at) => {
                    if last_heard.elapsed() >= cfg.ws_idle_timeout {
                        return End::Close(close::GOING_AWAY, "idle");
                    }
                    ping_at = Instant::now() + cfg.ws_ping_interval.min(cfg.ws_idle_timeout);
                    if self.write(Message::Ping(Default::default())).await.is_err() { return End::Gone }
                }
            }
        }
    }

    async fn kicked(&mut self, why: Kick) -> End {
        match why {
            Kick::SessionExpired => {
                let _ = self.send(&ServerMessage::SessionExpired).await;
                End::Close(close::SESSION_EXPIRED, "session expired")
            }
            Kick::TooSlow => End::Close(close::POLICY, "too slow"),
            Kick::Shutdown => End::Close(close::GOING_AWAY, "server shutting down"),
        }
    }

    async fn write(&mut self, msg: Message) -> std::result::Result<(), ()> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.sink.send(msg)).await {
            Ok(Ok(())) => {
                metrics().ws_messages_out.inc();
                Ok(())
            }
            _ => Err(()),
        }
    }

    async fn send(&mut self, msg: &ServerMessage) -> std::result::Result<(), ()> {
        self.write(Message::Text(msg.to_json().into())).await
    }

    async fn send_frame(&mut self, frame: Frame) -> std::result::Result<(), ()> {
        self.write(Message::Text(frame)).await
    }

    /// Sends what the hub handed over; todo events strictly in `seq` order.
    async fn forward(&mut self, out: Outbound) -> std::result::Result<(), ()> {
        match out {
            Outbound::Frame(f) => self.send_frame(f).await,
            Outbound::Event { seq, .. } if seq <= self.last_seq => Ok(()), // already sent (replay)
            Outbound::Event { seq, frame } if seq == self.last_seq + 1 => {
                self.last_seq = seq;
                self.send_frame(frame).await?;
                self.drain_pending().await
            }
            Outbound::Event { seq, frame } => {
                self.pending.insert(seq, frame);
                self.gap_since.get_or_insert_with(Instant::now);
                if self.pending.len() > MAX_PENDING {
                    self.catch_up().await?;
                }
                Ok(())
            }
        }
    }

    /// Sends the buffered events that now follow on.
    async fn drain_pending(&mut self) -> std::result::Result<(), ()> {
        while let Some(frame) = self.pending.remove(&(self.last_seq + 1)) {
            self.last_seq += 1;
            self.send_frame(frame).await?;
        }
        self.pending.retain(|seq, _| *seq > self.last_seq);
        self.gap_since = if self.pending.is_empty() {
            None
        } else {
            self.gap_since.or(Some(Instant::now()))
        };
        Ok(())
    }

    /// The gap did not close by itself (a notification from another instance was missed, or
    /// too much is buffered): read the missing events from the log, or send a snapshot when
    /// the log no longer reaches back.
    async fn catch_up(&mut self) -> std::result::Result<(), ()> {
        match self
            .state
            .todos
            .events_after(self.who.user_id, self.last_seq, MAX_REPLAY)
            .await
        {
            Ok(Some(events)) => self.send_events(events).await?,
            Ok(None) => self.send_snapshot().await?,
            Err(e) => {
                tracing::warn!(error = %e.to_api(), "socket: cannot read the event log");
                return Err(());
            }
        }
        self.gap_since = None;
        self.drain_pending().await
    }

    async fn send_events(&mut self, events: Vec<(i64, TodoEvent)>) -> std::result::Result<(), ()> {
        for (seq, ev) in events {
            if seq == self.last_seq + 1 {
                self.last_seq = seq;
                self.send(&ev.into_message(seq)).await?;
            }
        }
        Ok(())
    }

    async fn send_snapshot(&mut self) -> std::result::Result<(), ()> {
        match self.state.todos.snapshot(self.who.user_id).await {
            Ok((seq, todos)) => {
                self.last_seq = self.last_seq.max(seq);
                self.send(&ServerMessage::TodoSnapshot {
                    seq,
                    todos,
                    more: false,
                })
                .await
            }
            Err(e) => {
                tracing::warn!(error = %e.to_api(), "socket: cannot read a snapshot");
                Err(())
            }
        }
    }

    /// Handles one text frame: answers it at once, or hands back the command to run.
    async fn on_text(&mut self, text: &str) -> Step {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return self
                    .reply_error(None, Error::bad_request(format!("not JSON: {e}")))
                    .await;
            }
        };
        let id = value.get("id").and_then(|v| v.as_str()).map(str::to_owned);
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .to_owned();
        let frame: ClientFrame = match serde_json::from_value(value) {
            Ok(f) => f,
            Err(e) => {
                let msg = if protocol::CLIENT_TYPES.contains(&kind.as_str()) {
                    format!("bad {kind} message: {e}")
                } else if kind.is_empty() {
                    "a message needs a \"type\"".to_owned()
                } else {
                    format!("unknown message type {kind:?}")
                };
                return self.reply_error(id, Error::bad_request(msg)).await;
            }
        };
        metrics()
            .ws_messages_in
            .with_label_values(&[frame.msg.kind()])
            .inc();
        if self.state.ws_limiter.check_key(&self.who.user_id).is_err() {
            self.strikes += 1;
            if self.strikes >= RATE_STRIKES {
                return Step::End(End::Close(close::RATE_LIMITED, "rate limited"));
            }
            let e = Error::api(ErrorCode::RateLimited, "too many messages; slow down");
            return self.reply_error(id, e).await;
        }
        self.strikes = 0;
        match frame.msg {
            ClientMessage::Ping => self.reply(ServerMessage::Pong { id }).await,
            // Resume writes the replay itself, in order, before anything else goes out.
            ClientMessage::Hello { last_seq } => {
                let resumed = self.resume(last_seq).await;
                let result = resumed.map(|()| AckResult::Resumed { seq: self.last_seq });
                self.reply(reply_for(id, result)).await
            }
            msg => {
                let state = self.state.clone();
                let user_id = self.who.user_id;
                // Its own task: a transaction must never wait on this socket's writes.
                let task = tokio::spawn(async move { execute(&state, user_id, msg).await });
                Step::Run(Box::pin(async move {
                    let result = task.await.unwrap_or_else(|e| {
                        Err(Error::Internal(anyhow::anyhow!("command task: {e}")))
                    });
                    (id, result)
                }))
            }
        }
    }

    async fn reply_error(&mut self, id: Option<String>, e: Error) -> Step {
        self.reply(reply_for(id, Err(e))).await
    }

    /// Sends an answer; a failed write ends the socket.
    async fn reply(&mut self, msg: ServerMessage) -> Step {
        match self.send(&msg).await {
            Ok(()) => Step::Continue,
            Err(()) => Step::End(End::Gone),
        }
    }

    /// `hello {last_seq}`: replays what the client missed, or a snapshot when the log no longer
    /// reaches back (or the client claims a future seq, e.g. after a database reset).
    async fn resume(&mut self, last_seq: Option<i64>) -> Result<()> {
        let Some(client_seq) = last_seq else {
            return Ok(());
        };
        let latest = users::last_seq(&self.state.db, self.who.user_id).await?;
        let too_far = latest - client_seq > MAX_REPLAY;
        if client_seq < 0 || client_seq > latest || too_far {
            self.send_snapshot()
                .await
                .map_err(|()| Error::Internal(anyhow::anyhow!("socket closed")))?;
            return Ok(());
        }
        match self
            .state
            .todos
            .events_after(self.who.user_id, client_seq, MAX_REPLAY)
            .await?
        {
            Some(events) => {
                // Replay from the client's point, even what this socket already sent live.
                self.last_seq = client_seq;
                self.send_events(events).await
            }
            None => self.send_snapshot().await,
        }
        .map_err(|()| Error::Internal(anyhow::anyhow!("socket closed")))?;
        // Anything committed after the log read arrives through the hub as usual.
        Ok(())
    }
}

/// A command running for a socket: the client's id and the result to ack.
type Command = std::pin::Pin<
    Box<dyn std::future::Future<Output = (Option<String>, Result<AckResult>)> + Send>,
>;

/// What to do after reading a frame.
enum Step {
    Continue,
    Run(Command),
    End(End),
}

/// Runs one todo or chat command through the services, for the ack.
async fn execute(state: &AppState, user_id: i64, msg: ClientMessage) -> Result<AckResult> {
    let todos = &state.todos;
    Ok(match msg {
        // Paging is added with the socket's size limits; the whole list answers for now.
        ClientMessage::TodoList { status, .. } => AckResult::Todos {
            todos: todos.list(user_id, status.unwrap_or_default()).await?,
            next_after: None,
        },
        ClientMessage::TodoAdd { title, description } => AckResult::Todo {
            todo: todos
                .create(user_id, &title, description.as_deref())
                .await?,
        },
        ClientMessage::TodoUpdate {
            todo_id,
            title,
            description,
            completed,
        } => {
            let patch = UpdateTodo {
                title,
                description,
                completed,
            };
            AckResult::Todo {
                todo: todos.update(user_id, todo_id, &patch).await?,
            }
        }
        ClientMessage::TodoComplete { todo_id } => {
            let patch = UpdateTodo {
                completed: Some(true),
                ..Default::default()
            };
            AckResult::Todo {
                todo: todos.update(user_id, todo_id, &patch).await?,
            }
        }
        ClientMessage::TodoDelete { todo_id } => {
            todos.delete(user_id, todo_id).await?;
            AckResult::Deleted { todo_id }
        }
        ClientMessage::ChatSend {
            text,
            conversation_id,
        } => AckResult::Conversation {
            conversation_id: state.chat.send(user_id, conversation_id, &text).await?,
        },
        ClientMessage::ChatCancel { conversation_id } => {
            state.chat.cancel(user_id, conversation_id).await?;
            AckResult::Conversation { conversation_id }
        }
        // Answered inline by the socket loop.
        ClientMessage::Ping | ClientMessage::Hello { .. } => AckResult::Empty {},
    })
}

/// The `ack` or `error` answering a command.
fn reply_for(id: Option<String>, result: Result<AckResult>) -> ServerMessage {
    match result {
        Ok(result) => ServerMessage::Ack { id, result },
        Err(e) => {
            let api = e.to_api();
            ServerMessage::Error {
                id,
                code: api.code,
                message: api.message,
            }
        }
    }
}
