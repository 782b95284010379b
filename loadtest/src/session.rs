//! One socket ("tab") of one user: connect, wait for `welcome`, then send commands at the
//! configured rate and time every answer.
//!
//! What is matched to what:
//! - an `ack` (or `error`) to the command with the same client `id`, on the same socket;
//! - a `todo.*` event on the *other* tab to the command that caused it, through a key the
//!   sender puts in the user's shared table before sending: the todo's title (a unique token
//!   naming user, tab and command number) for `todo.created` / `todo.updated`, the todo id for
//!   `todo.deleted`;
//! - `chat.delta` / `chat.done` to a `chat.send` by the conversation id its `ack` carries
//!   (deltas that overtake the ack are remembered briefly).
//!
//! Todo sessions cycle add → complete → delete on their own todos, so every write path of the
//! server is exercised and the user's list stays small however long the run.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{AckResult, ClientFrame, ClientMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::stats::{Metric, Stats};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where the run is; sessions watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connecting; sockets that are up only read.
    Ramp,
    /// Steady load: send at the rate.
    Run,
    /// No new commands; wait for what is outstanding.
    Drain,
    /// Close the socket and report what is still outstanding as timeouts.
    Stop,
}

/// What the two tabs of one user share.
#[derive(Default)]
pub struct UserShared {
    /// Fan-out key → when the command was sent. The sender inserts, the other tab removes.
    pub pending_fanout: Mutex<HashMap<String, Instant>>,
    /// Whether each tab has its welcome and is still open (a fan-out is expected only then).
    pub open: [AtomicBool; 2],
}

impl UserShared {
    pub fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.pending_fanout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// What a session does during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Todos,
    Chat,
}

/// Everything one session task needs.
pub struct SessionSpec {
    pub user: usize,
    pub tab: usize,
    /// Global session number, used to spread the first send over one period.
    pub index: usize,
    pub ws_url: tokio_tungstenite::tungstenite::http::Uri,
    pub token: String,
    pub role: Role,
    pub rate: f64,
    pub timeout: Duration,
    pub chat_text: Arc<str>,
    pub shared: Arc<UserShared>,
    pub stats: Arc<Stats>,
    pub phase: watch::Receiver<Phase>,
    /// Set once when this session has nothing outstanding during the drain.
    pub drained: Arc<std::sync::atomic::AtomicU64>,
}

/// Small buffers: the client holds thousands of sockets and its frames are tiny, while the
/// tungstenite default reserves 128 KiB of read buffer per socket.
pub fn client_ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(16 << 20))
}

/// Connect, run until the phase says stop, close. Never panics; every failure is counted.
pub async fn run(spec: SessionSpec) {
    let started = Instant::now();
    let connected = tokio::time::timeout(spec.timeout, connect(&spec)).await;
    Stats::add(&spec.stats.connect_done, 1);
    let (ws, welcome_seq) = match connected {
        Ok(Ok(ok)) => ok,
        Ok(Err(kind)) => {
            spec.stats.error(format!("connect:{kind}"));
            return;
        }
        Err(_) => {
            spec.stats.error("connect:timeout");
            return;
        }
    };
    spec.stats.record(Metric::Connect, started.elapsed());
    Stats::add(&spec.stats.connected, 1);
    Stats::add(&spec.stats.open, 1);
    spec.shared.open[spec.tab].store(true, Ordering::SeqCst);

    let mut session = Session::new(spec, welcome_seq);
    session.main_loop(ws).await;
    session.finish();
}

async fn connect(spec: &SessionSpec) -> Result<(Ws, i64), String> {
    let mut req = spec
        .ws_url
        .clone()
        .into_client_request()
        .map_err(|_| "bad_url".to_string())?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", spec.token))
        .map_err(|_| "bad_token".to_string())?;
    req.headers_mut().insert("authorization", bearer);
    let (mut ws, _resp) =
        tokio_tungstenite::connect_async_with_config(req, Some(client_ws_config()), true)
            .await
            .map_err(|e| classify_ws_error(&e))?;
    // The first frame must be `welcome`; anything else is a protocol error.
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                Stats::add(&spec.stats.received, 1);
                return match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(ServerMessage::Welcome { seq, .. }) => Ok((ws, seq)),
                    Ok(ServerMessage::Error { code, .. }) => Err(format!("error_frame_{code}")),
                    Ok(_) => Err("first_frame_not_welcome".to_string()),
                    Err(_) => Err("bad_welcome".to_string()),
                };
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed_{}", close_code(frame.as_ref())));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(classify_ws_error(&e)),
            None => return Err("eof_before_welcome".to_string()),
        }
    }
}

/// A short, stable name for a tungstenite error, usable as an error-kind key.
fn classify_ws_error(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(resp) => format!("http_{}", resp.status().as_u16()),
        tungstenite::Error::Io(io) => format!("io_{:?}", io.kind()).to_lowercase(),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            "closed".to_string()
        }
        tungstenite::Error::Protocol(p) => {
            // The variants' Debug names are short (`ResetWithoutClosingHandshake`).
            let s = format!("{p:?}");
            format!(
                "protocol_{}",
                s.split(['(', ' ', '{']).next().unwrap_or("other")
            )
        }
        tungstenite::Error::Capacity(_) => "capacity".to_string(),
        tungstenite::Error::Utf8(_) => "utf8".to_string(),
        _ => "other".to_string(),
    }
}

fn close_code(frame: Option<&CloseFrame>) -> String {
    frame
        .map(|f| u16::from(f.code).to_string())
        .unwrap_or_else(|| "none".to_string())
}

struct PendingChat {
    sent: Instant,
    conversation: Option<i64>,
    first_token: bool,
}

/// A todo this session created and is cycling through complete → delete.
struct OwnedTodo {
    id: i64,
    title: String,
    completed: bool,
    /// A complete or delete for it is in flight: pick another todo (or add one) meanwhile,
    /// so a slow server still gets the full offered rate (open loop).
    busy: bool,
}

struct Session {
    spec: SessionSpec,
    last_seq: i64,
    next_id: u64,
    /// Client id → (sent at, what it was).
    pending_acks: HashMap<String, (Instant, Sent)>,
    owned: VecDeque<OwnedTodo>,
    chat: Option<PendingChat>,
    /// Chat frames of conversations whose id this session does not know yet (they overtook
    /// the ack; the other tab's conversations stream here too). Bounded; cleared at the ack.
    early: Vec<EarlyChat>,
    drained_reported: bool,
    closing: bool,
}

struct EarlyChat {
    conversation: i64,
    first_delta: Option<Instant>,
    done: Option<(Instant, protocol::FinishReason)>,
}

#[derive(Debug, Clone)]
enum Sent {
    Add,
    Complete(i64),
    Delete(i64),
    Chat,
}

/// A title is `lt<user>.<tab>.<n>`: unique per run, and it names the sending tab.
fn token(user: usize, tab: usize, n: u64) -> String {
    format!("lt{user}.{tab}.{n}")
}

fn token_tab(title: &str) -> Option<usize> {
    title.strip_prefix("lt")?.split('.').nth(1)?.parse().ok()
}

impl Session {
    fn new(spec: SessionSpec, last_seq: i64) -> Self {
        Self {
            spec,
            last_seq,
            next_id: 0,
            pending_acks: HashMap::new(),
            owned: VecDeque::new(),
            chat: None,
            early: Vec::new(),
            drained_reported: false,
            closing: false,
        }
    }

    fn other_tab(&self) -> usize {
        1 - self.spec.tab
    }

    fn partner_open(&self) -> bool {
        self.spec.shared.open[self.other_tab()].load(Ordering::SeqCst)
    }

    fn nothing_outstanding(&self) -> bool {
        self.pending_acks.is_empty() && self.chat.is_none()
    }

    fn send_interval(&self) -> Option<Interval> {
        if self.spec.rate <= 0.0 {
            return None;
        }
        let period = Duration::from_secs_f64(1.0 / self.spec.rate);
        // Spread the sessions' first sends evenly over one period (golden-ratio sequence) so
        // the server sees a steady stream, not a thundering herd every period.
        let frac = (self.spec.index as f64 * 0.618_033_988_75).fract();
        let mut iv = tokio::time::interval_at(Instant::now() + period.mul_f64(frac), period);
        // A client that falls behind must not then burst to catch up: that would measure
        // its own backlog, not the server.
        iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Some(iv)
    }

    async fn main_loop(&mut self, mut ws: Ws) {
        let mut phase_rx = self.spec.phase.clone();
        let mut phase = *phase_rx.borrow_and_update();
        let mut ticker = if phase == Phase::Run {
            self.send_interval()
        } else {
            None
        };
        // Only used while draining, to notice timeouts and "nothing left" without a message.
        let mut drain_check: Option<Interval> = None;
        if phase == Phase::Stop {
            return self.close(&mut ws).await;
        }
        loop {
            tokio::select! {
                changed = phase_rx.changed() => {
                    if changed.is_err() {
                        phase = Phase::Stop;
                    } else {
                        phase = *phase_rx.borrow_and_update();
                    }
                    match phase {
                        Phase::Ramp => {}
                        Phase::Run => ticker = self.send_interval(),
                        Phase::Drain => {
                            ticker = None;
                            drain_check = Some(tokio::time::interval(Duration::from_millis(100)));
                        }
                        Phase::Stop => break,
                    }
                }
                _ = tick(&mut ticker) => {
                    self.sweep_timeouts();
                    if let Err(kind) = self.send_next(&mut ws).await {
                        self.spec.stats.error(format!("send:{kind}"));
                        return;
                    }
                }
                _ = tick(&mut drain_check) => {
                    self.sweep_timeouts();
                }
                frame = ws.next() => {
                    match frame {
                        Some(Ok(msg)) => {
                            if !self.on_frame(msg) {
                                return;
                            }
                        }
                        Some(Err(e)) => {
                            self.spec.stats.error(format!("disconnect:{}", classify_ws_error(&e)));
                            return;
                        }
                        None => {
                            self.spec.stats.error("disconnect:eof");
                            return;
                        }
                    }
                }
            }
            if phase == Phase::Drain && !self.drained_reported && self.nothing_outstanding() {
                self.drained_reported = true;
                Stats::add(&self.spec.drained, 1);
            }
        }
        self.close(&mut ws).await;
    }

    /// Close with 1000 and wait briefly for the server's close frame, so the server sees a
    /// clean close rather than a reset.
    async fn close(&mut self, ws: &mut Ws) {
        self.closing = true;
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "load test over".into(),
        };
        let bounded = tokio::time::timeout(Duration::from_secs(2), async {
            if ws.close(Some(frame)).await.is_err() {
                return;
            }
            // Bounded by the timeout and by the stream ending after the close handshake.
            while let Some(Ok(msg)) = ws.next().await {
                if !self.on_frame(msg) {
                    break;
                }
            }
        });
        let _ = bounded.await;
    }

    /// What is still outstanding when the session ends counts as timeouts (or as lost when
    /// the socket died first).
    fn finish(&mut self) {
        self.spec.shared.open[self.spec.tab].store(false, Ordering::SeqCst);
        self.spec.stats.open.fetch_sub(1, Ordering::Relaxed);
        let kind = if self.closing { "timeout" } else { "lost" };
        for _ in self.pending_acks.drain() {
            self.spec.stats.error(format!("{kind}:ack"));
        }
        if self.chat.take().is_some() {
            self.spec.stats.error(format!("{kind}:chat"));
        }
        if !self.drained_reported {
            self.drained_reported = true;
            Stats::add(&self.spec.drained, 1);
        }
    }

    fn sweep_timeouts(&mut self) {
        let now = Instant::now();
        let timeout = self.spec.timeout;
        let before = self.pending_acks.len();
        self.pending_acks
            .retain(|_, (sent, _)| now.duration_since(*sent) < timeout);
        for _ in self.pending_acks.len()..before {
            self.spec.stats.error("timeout:ack");
        }
        if self
            .chat
            .as_ref()
            .is_some_and(|c| now.duration_since(c.sent) >= timeout)
        {
            self.chat = None;
            self.spec.stats.error("timeout:chat");
        }
        // Fan-out keys this tab sent that the other tab never saw.
        let prefix_c = format!("c:lt{}.{}.", self.spec.user, self.spec.tab);
        let prefix_u = format!("u:lt{}.{}.", self.spec.user, self.spec.tab);
        let prefix_d = format!("d{}:", self.spec.tab);
        let mut expired = 0;
        self.spec.shared.pending().retain(|key, sent| {
            let mine = key.starts_with(&prefix_c)
                || key.starts_with(&prefix_u)
                || key.starts_with(&prefix_d);
            let keep = !mine || now.duration_since(*sent) < timeout;
            if !keep {
                expired += 1;
            }
            keep
        });
        for _ in 0..expired {
            self.spec.stats.error("timeout:fanout");
        }
    }

    fn next_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// Send the next command of this session's cycle.
    async fn send_next(&mut self, ws: &mut Ws) -> Result<(), String> {
        let now = Instant::now();
        let (msg, sent, fanout_key) = match self.spec.role {
            Role::Chat => {
                if self.chat.is_some() {
                    // One turn at a time: the previous answer is still streaming.
                    Stats::add(&self.spec.stats.chat_busy_ticks, 1);
                    return Ok(());
                }
                (
                    ClientMessage::ChatSend {
                        text: self.spec.chat_text.to_string(),
                        conversation_id: None,
                    },
                    Sent::Chat,
                    None,
                )
            }
            Role::Todos => {
                let tab = self.spec.tab;
                if let Some(t) = self.owned.iter_mut().find(|t| !t.busy && !t.completed) {
                    t.busy = true;
                    let key = format!("u:{}", t.title);
                    (
                        ClientMessage::TodoComplete { todo_id: t.id },
                        Sent::Complete(t.id),
                        Some(key),
                    )
                } else if let Some(t) = self.owned.iter_mut().find(|t| !t.busy) {
                    t.busy = true;
                    (
                        ClientMessage::TodoDelete { todo_id: t.id },
                        Sent::Delete(t.id),
                        Some(format!("d{tab}:{}", t.id)),
                    )
                } else {
                    let title = token(self.spec.user, tab, self.next_id + 1);
                    let key = format!("c:{title}");
                    (
                        ClientMessage::TodoAdd {
                            title,
                            description: None,
                        },
                        Sent::Add,
                        Some(key),
                    )
                }
            }
        };
        let id = self.next_id();
        let frame = ClientFrame {
            id: Some(id.clone()),
            msg,
        };
        let text = serde_json::to_string(&frame).map_err(|_| "serialize".to_string())?;
        if let Some(key) = fanout_key
            && self.partner_open()
        {
            self.spec.shared.pending().insert(key, now);
            Stats::add(&self.spec.stats.fanout_expected, 1);
        }
        if let Sent::Chat = sent {
            self.chat = Some(PendingChat {
                sent: now,
                conversation: None,
                first_token: false,
            });
            self.early.clear();
        }
        self.pending_acks.insert(id, (now, sent));
        ws.send(Message::text(text))
            .await
            .map_err(|e| classify_ws_error(&e))?;
        Stats::add(&self.spec.stats.sent, 1);
        Ok(())
    }

    /// Handle one frame; false when the socket is finished.
    fn on_frame(&mut self, msg: Message) -> bool {
        let text = match msg {
            Message::Text(text) => text,
            Message::Close(frame) => {
                if !self.closing {
                    let code = close_code(frame.as_ref());
                    self.spec.stats.error(format!("close:{code}"));
                }
                return false;
            }
            Message::Binary(_) => {
                self.spec.stats.error("binary_frame");
                return true;
            }
            // tungstenite answers pings itself.
            _ => return true,
        };
        let now = Instant::now();
        Stats::add(&self.spec.stats.received, 1);
        let msg = match serde_json::from_str::<ServerMessage>(&text) {
            Ok(m) => m,
            Err(_) => {
                self.spec.stats.error("bad_frame");
                return true;
            }
        };
        if let Some(seq) = msg.seq() {
            Stats::add(&self.spec.stats.events, 1);
            self.check_seq(seq);
        }
        match msg {
            ServerMessage::Ack { id, result } => self.on_ack(id, result, now),
            ServerMessage::Error { id, code, .. } => {
                self.spec.stats.error(format!("error_frame:{code}"));
                if let Some(id) = id
                    && let Some((_, sent)) = self.pending_acks.remove(&id)
                {
                    self.forget_failed(&sent);
                    if let Sent::Chat = sent {
                        self.chat = None;
                    }
                }
            }
            ServerMessage::TodoCreated { todo, .. } => {
                self.match_fanout(format!("c:{}", todo.title), &todo.title, now);
            }
            ServerMessage::TodoUpdated { todo, .. } => {
                self.match_fanout(format!("u:{}", todo.title), &todo.title, now);
            }
            ServerMessage::TodoDeleted { todo_id, .. } => {
                let key = format!("d{}:{todo_id}", self.other_tab());
                self.take_fanout(&key, now);
            }
            ServerMessage::ChatDelta {
                conversation_id, ..
            } => self.on_chat_delta(conversation_id, now),
            ServerMessage::ChatDone {
                conversation_id,
                finish_reason,
                ..
            } => self.on_chat_done(conversation_id, finish_reason, now),
            ServerMessage::SessionExpired => self.spec.stats.error("session_expired"),
            _ => {}
        }
        true
    }

    fn check_seq(&mut self, seq: i64) {
        if seq == self.last_seq + 1 {
            self.last_seq = seq;
        } else if seq > self.last_seq + 1 {
            self.spec.stats.error("seq_gap");
            self.last_seq = seq;
        } else {
            self.spec.stats.error("seq_not_increasing");
        }
    }

    fn on_ack(&mut self, id: Option<String>, result: AckResult, now: Instant) {
        let Some((sent_at, sent)) = id.as_ref().and_then(|id| self.pending_acks.remove(id)) else {
            // An id this session issued whose ack came after it was counted as a timeout is
            // late, not a second error; anything else was never sent.
            let issued = id
                .and_then(|id| id.parse::<u64>().ok())
                .is_some_and(|n| n >= 1 && n <= self.next_id);
            if issued {
                Stats::add(&self.spec.stats.late_acks, 1);
            } else {
                self.spec.stats.error("unmatched_ack");
            }
            return;
        };
        Stats::add(&self.spec.stats.acks, 1);
        self.spec
            .stats
            .record(Metric::Ack, now.duration_since(sent_at));
        match (sent, result) {
            (Sent::Add, AckResult::Todo { todo }) => self.owned.push_back(OwnedTodo {
                id: todo.id,
                title: todo.title,
                completed: todo.completed,
                busy: false,
            }),
            (Sent::Complete(id), _) => {
                if let Some(t) = self.owned.iter_mut().find(|t| t.id == id) {
                    t.completed = true;
                    t.busy = false;
                }
            }
            (Sent::Delete(id), _) => self.owned.retain(|t| t.id != id),
            (Sent::Chat, AckResult::Conversation { conversation_id }) => {
                if let Some(chat) = &mut self.chat {
                    chat.conversation = Some(conversation_id);
                }
                let early = std::mem::take(&mut self.early);
                if let Some(e) = early
                    .into_iter()
                    .find(|e| e.conversation == conversation_id)
                {
                    if let Some(at) = e.first_delta {
                        self.first_token(at);
                    }
                    if let Some((at, reason)) = e.done {
                        self.on_chat_done(conversation_id, reason, at);
                    }
                }
            }
            (_, _) => self.spec.stats.error("unexpected_ack_result"),
        }
    }

    /// A command that failed will not produce an event: stop expecting one, and forget a todo
    /// the server no longer knows.
    fn forget_failed(&mut self, sent: &Sent) {
        let tab = self.spec.tab;
        let key = match sent {
            Sent::Complete(id) => {
                let key = self
                    .owned
                    .iter()
                    .find(|t| t.id == *id)
                    .map(|t| format!("u:{}", t.title));
                self.owned.retain(|t| t.id != *id);
                key
            }
            Sent::Delete(id) => {
                self.owned.retain(|t| t.id != *id);
                Some(format!("d{tab}:{id}"))
            }
            Sent::Add | Sent::Chat => None,
        };
        if let Some(key) = key {
            self.spec.shared.pending().remove(&key);
        }
    }

    fn match_fanout(&mut self, key: String, title: &str, now: Instant) {
        // Only events caused by the other tab are fan-out; our own copy is just counted.
        if token_tab(title) == Some(self.other_tab()) {
            self.take_fanout(&key, now);
        }
    }

    fn take_fanout(&mut self, key: &str, now: Instant) {
        let sent = self.spec.shared.pending().remove(key);
        if let Some(sent) = sent {
            Stats::add(&self.spec.stats.fanout_received, 1);
            self.spec
                .stats
                .record(Metric::Fanout, now.duration_since(sent));
        }
    }

    fn on_chat_delta(&mut self, conversation_id: i64, now: Instant) {
        let Some(chat) = &self.chat else { return };
        if chat.first_token {
            return;
        }
        match chat.conversation {
            Some(c) if c == conversation_id => self.first_token(now),
            Some(_) => {}
            None => {
                if let Some(e) = self.early_entry(conversation_id) {
                    e.first_delta.get_or_insert(now);
                }
            }
        }
    }

    fn on_chat_done(&mut self, conversation_id: i64, reason: protocol::FinishReason, now: Instant) {
        let Some(chat) = &self.chat else { return };
        match chat.conversation {
            Some(c) if c == conversation_id => {
                self.spec
                    .stats
                    .record(Metric::ChatDone, now.duration_since(chat.sent));
                if reason != protocol::FinishReason::Stop {
                    self.spec
                        .stats
                        .error(format!("chat_done:{}", reason.as_str()));
                }
                self.chat = None;
            }
            Some(_) => {}
            None => {
                if let Some(e) = self.early_entry(conversation_id) {
                    e.done.get_or_insert((now, reason));
                }
            }
        }
    }

    /// The early-chat record of a conversation, created if there is room (at most 16).
    fn early_entry(&mut self, conversation: i64) -> Option<&mut EarlyChat> {
        let pos = match self
            .early
            .iter()
            .position(|e| e.conversation == conversation)
        {
            Some(pos) => pos,
            None if self.early.len() < 16 => {
                self.early.push(EarlyChat {
                    conversation,
                    first_delta: None,
                    done: None,
                });
                self.early.len() - 1
            }
            None => return None,
        };
        self.early.get_mut(pos)
    }

    fn first_token(&mut self, at: Instant) {
        if let Some(chat) = &mut self.chat
            && !chat.first_token
        {
            chat.first_token = true;
            self.spec
                .stats
                .record(Metric::ChatFirstToken, at.duration_since(chat.sent));
        }
    }
}

async fn tick(iv: &mut Option<Interval>) {
    match iv {
        Some(iv) => {
            iv.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_tab() {
        assert_eq!(token(12, 1, 7), "lt12.1.7");
        assert_eq!(token_tab("lt12.1.7"), Some(1));
        assert_eq!(token_tab("lt12.0.7"), Some(0));
        assert_eq!(token_tab("buy milk"), None);
    }
}
