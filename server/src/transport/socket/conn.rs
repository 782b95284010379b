//! One task per socket: read → run → answer, while forwarding the user's events in `seq`
//! order (holding back an event that overtakes a gap, reading the log when a gap stays open).

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{
    AckResult, ClientFrame, ClientMessage, ErrorCode, PROTOCOL_VERSION, ServerMessage, TodoEvent,
    close,
};
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use super::commands::{execute, reply_for};
use crate::error::{Error, Result};
use crate::fanout::hub::{Frame, Kick, Outbound, Registration};
use crate::metrics::metrics;
use crate::state::AppState;
use crate::transport::request::Caller;

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
pub(super) type Ws = WebSocketStream<Io>;

/// How a socket's loop ended.
enum End {
    /// The peer closed or vanished.
    Gone,
    /// We close with this code and reason.
    Close(u16, &'static str),
}

struct Conn {
    state: AppState,
    who: Caller,
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

pub(super) async fn run(state: AppState, who: Caller, user: protocol::User, ws: Ws) {
    let mut reg = state
        .hub
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
    let end = match state.todos.latest_seq(who.user_id).await {
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
        reg: &mut Registration,
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
        let latest = self.state.todos.latest_seq(self.who.user_id).await?;
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
