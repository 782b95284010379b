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
//! server is exercised and the user's list stays small however long the run. Their send rate
//! follows the run's steps (one step for a plain run); the socket stays open across steps.
//!
//! With `--record`, each acknowledged change is written with the `seq` of the sender's own copy
//! of its event (see `record.rs`); a command's client id is `<step>.<n>`, so even an ack that
//! comes after its timeout is charged to the step that sent it.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{AckResult, ClientFrame, ClientMessage, ServerMessage};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::record::{Change, Record, Recorder};
use crate::stats::{Metric, Stats};

pub type Ws = WebSocketStream<TcpStream>;

/// Where the run is; sessions watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connecting; sockets that are up only read.
    Ramp,
    /// Steady load at the rate of this step of the schedule.
    Run(usize),
    /// No new commands; wait for what is outstanding.
    Drain,
    /// Close the socket and report what is still outstanding as timeouts.
    Stop,
}

/// What the two tabs of one user share.
#[derive(Default)]
pub struct UserShared {
    /// Fan-out key → when the command was sent, and in which step. The sender inserts, the
    /// other tab removes.
    pub pending_fanout: Mutex<HashMap<String, (Instant, usize)>>,
    /// Whether each tab has its welcome and is still open (a fan-out is expected only then).
    pub open: [AtomicBool; 2],
}

impl UserShared {
    pub fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, usize)>> {
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

/// What all sessions of a run share (one allocation, not one per socket).
pub struct RunShared {
    pub timeout: Duration,
    pub chat_text: Arc<str>,
    /// Commands per second of a chatting session (`--rate`; one turn at a time).
    pub chat_rate: f64,
    /// Commands per second of a todo session in each step.
    pub todo_rates: Vec<f64>,
    /// Appended to every todo title (`lt<user>.<tab>.<n>.<tag>`): tells this run's todos apart.
    pub tag: String,
    pub stats: Arc<Stats>,
    pub recorder: Option<Arc<Recorder>>,
    /// Set once per session when it has nothing outstanding during the drain.
    pub drained: std::sync::atomic::AtomicU64,
}

/// Where one socket connects: the server's socket URL and address, and the loopback source
/// address to bind (None: let the kernel choose).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub ws_url: tokio_tungstenite::tungstenite::http::Uri,
    pub addr: SocketAddr,
    pub source: Option<IpAddr>,
}

/// Everything one session task needs.
pub struct SessionSpec {
    pub user: usize,
    pub tab: usize,
    /// Global session number, used to spread the first send over one period.
    pub index: usize,
    pub endpoint: Endpoint,
    pub token: Arc<str>,
    pub role: Role,
    pub shared: Arc<UserShared>,
    pub run: Arc<RunShared>,
    pub phase: watch::Receiver<Phase>,
}

/// Small buffers: the client holds tens of thousands of sockets and its frames are tiny, while
/// the tungstenite default reserves 128 KiB of read buffer per socket. A bigger frame (a
/// snapshot) grows the buffer as it needs.
pub fn client_ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(Some(16 << 20))
}

/// Connect, run until the phase says stop, close. Never panics; every failure is counted.
pub async fn run(spec: SessionSpec) {
    let started = Instant::now();
    let stats = spec.run.stats.clone();
    // The handshake's state is big and needed only once: boxed, it is freed after the connect
    // instead of sizing every socket's task for the whole run (as the close below).
    let connected = tokio::time::timeout(
        spec.run.timeout,
        Box::pin(connect(&spec.endpoint, &spec.token)),
    )
    .await;
    Stats::add(&stats.connect_done, 1);
    let (ws, welcome_seq) = match connected {
        Ok(Ok(ok)) => {
            Stats::add(&stats.received, 1);
            ok
        }
        Ok(Err(kind)) => {
            stats.error(format!("connect:{kind}"));
            return;
        }
        Err(_) => {
            stats.error("connect:timeout");
            return;
        }
    };
    stats.record(Metric::Connect, started.elapsed());
    Stats::add(&stats.connected, 1);
    Stats::add(&stats.open, 1);
    spec.shared.open[spec.tab].store(true, Ordering::SeqCst);

    let mut session = Session::new(spec, welcome_seq);
    session.main_loop(ws).await;
    session.finish();
}

/// A TCP connection to `addr`, from `source` when given. The socket is bound with
/// `IP_BIND_ADDRESS_NO_PORT`, so the kernel picks the source port at connect time per
/// destination instead of reserving one per source address at bind time.
async fn open_tcp(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(source) = source {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let one: libc::c_int = 1;
            // SAFETY: a valid socket fd we own, an int option and its exact size. Failure only
            // means the port is reserved at bind time (fewer sockets per source address).
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_BIND_ADDRESS_NO_PORT,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        socket.bind(SocketAddr::new(source, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Upgrade to a socket authenticated by `token` and wait for its `welcome`; its `seq`.
pub async fn connect(endpoint: &Endpoint, token: &str) -> Result<(Ws, i64), String> {
    let mut req = endpoint
        .ws_url
        .clone()
        .into_client_request()
        .map_err(|_| "bad_url".to_string())?;
    let bearer =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| "bad_token".to_string())?;
    req.headers_mut().insert("authorization", bearer);
    let tcp = open_tcp(endpoint.addr, endpoint.source)
        .await
        .map_err(|e| format!("io_{:?}", e.kind()).to_lowercase())?;
    let (mut ws, _resp) =
        tokio_tungstenite::client_async_with_config(req, tcp, Some(client_ws_config()))
            .await
            .map_err(|e| classify_ws_error(&e))?;
    // The first frame must be `welcome`; anything else is a protocol error.
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
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
pub fn classify_ws_error(e: &tungstenite::Error) -> String {
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

pub fn close_code(frame: Option<&CloseFrame>) -> String {
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

/// A command waiting for its answer.
struct Pending {
    at: Instant,
    what: Sent,
    step: usize,
}

/// `--record`: the ack of a change and the sender's own copy of its event arrive in either
/// order; whichever comes first waits here for the other. Entries left at the end are written
/// without a seq.
#[derive(Default)]
struct SeqMatch {
    /// Own events seen before their ack: (change, todo id) → seq.
    events: HashMap<(Change, i64), i64>,
    /// Acknowledged changes waiting for their event.
    acked: HashMap<(Change, i64), Record>,
}

/// How often a session looks for commands that have timed out.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

struct Session {
    spec: SessionSpec,
    last_sweep: Instant,
    last_seq: i64,
    next_id: u64,
    /// The step of the schedule this session is sending in.
    step: usize,
    /// Client id → what was sent.
    pending_acks: HashMap<String, Pending>,
    owned: VecDeque<OwnedTodo>,
    /// Only with `--record`.
    seqs: Option<SeqMatch>,
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
    /// With the title sent.
    Add(String),
    Complete(i64),
    Delete(i64),
    Chat,
}

impl Sent {
    /// The record of this change, had it been answered by `code` (None: never answered).
    fn unresolved(&self, user: usize, code: Option<String>) -> Option<Record> {
        let (change, todo, title) = match self {
            Sent::Add(title) => (Change::Add, None, Some(title.clone())),
            Sent::Complete(id) => (Change::Complete, Some(*id), None),
            Sent::Delete(id) => (Change::Delete, Some(*id), None),
            Sent::Chat => return None,
        };
        Some(match code {
            Some(code) => Record::Failed {
                user,
                change,
                code,
                todo,
                title,
            },
            None => Record::Unknown {
                user,
                change,
                todo,
                title,
            },
        })
    }
}

/// A title is `lt<user>.<tab>.<n>.<tag>`: unique per run, and it names the sending tab.
fn token(user: usize, tab: usize, n: u64, tag: &str) -> String {
    format!("lt{user}.{tab}.{n}.{tag}")
}

/// Client ids are `<step>.<n>`.
fn command_id(step: usize, n: u64) -> String {
    format!("{step}.{n}")
}

fn parse_command_id(id: &str) -> Option<(usize, u64)> {
    let (step, n) = id.split_once('.')?;
    Some((step.parse().ok()?, n.parse().ok()?))
}

fn token_tab(title: &str) -> Option<usize> {
    title.strip_prefix("lt")?.split('.').nth(1)?.parse().ok()
}

impl Session {
    fn new(spec: SessionSpec, last_seq: i64) -> Self {
        let record = spec.run.recorder.is_some() && spec.role == Role::Todos;
        Self {
            spec,
            last_sweep: Instant::now(),
            last_seq,
            next_id: 0,
            step: 0,
            pending_acks: HashMap::new(),
            owned: VecDeque::new(),
            seqs: record.then(SeqMatch::default),
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

    fn stats(&self) -> &Stats {
        &self.spec.run.stats
    }

    fn write(&self, record: &Record) {
        if let Some(r) = &self.spec.run.recorder {
            r.write(record);
        }
    }

    fn send_interval(&self) -> Option<Interval> {
        let rate = match self.spec.role {
            Role::Chat => self.spec.run.chat_rate,
            Role::Todos => self
                .spec
                .run
                .todo_rates
                .get(self.step)
                .copied()
                .unwrap_or(0.0),
        };
        if rate <= 0.0 {
            return None;
        }
        let period = Duration::from_secs_f64(1.0 / rate);
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
        let mut ticker = None;
        if let Phase::Run(step) = phase {
            self.step = step;
            ticker = self.send_interval();
        }
        // Only used while draining, to notice timeouts and "nothing left" without a message.
        let mut drain_check: Option<Interval> = None;
        if phase == Phase::Stop {
            return Box::pin(self.close(&mut ws)).await;
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
                        Phase::Run(step) => {
                            self.step = step;
                            ticker = self.send_interval();
                        }
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
                        self.stats().error(format!("send:{kind}"));
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
                            self.stats().error(format!("disconnect:{}", classify_ws_error(&e)));
                            return;
                        }
                        None => {
                            self.stats().error("disconnect:eof");
                            return;
                        }
                    }
                }
            }
            if phase == Phase::Drain && !self.drained_reported && self.nothing_outstanding() {
                self.drained_reported = true;
                Stats::add(&self.spec.run.drained, 1);
            }
        }
        Box::pin(self.close(&mut ws)).await;
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
        self.stats().open.fetch_sub(1, Ordering::Relaxed);
        let kind = if self.closing { "timeout" } else { "lost" };
        for (_, p) in std::mem::take(&mut self.pending_acks) {
            self.unanswered(&p, &format!("{kind}:ack"));
        }
        if self.chat.take().is_some() {
            self.stats().error(format!("{kind}:chat"));
        }
        if let Some(seqs) = self.seqs.take() {
            for (_, record) in seqs.acked {
                self.write(&record);
            }
        }
        if self.spec.run.recorder.is_some() {
            self.write(&Record::Seen {
                user: self.spec.user,
                seq: self.last_seq,
            });
        }
        if !self.drained_reported {
            self.drained_reported = true;
            Stats::add(&self.spec.run.drained, 1);
        }
    }

    /// A command that will get no answer any more: count it against its step, record it as
    /// unknown.
    fn unanswered(&self, p: &Pending, kind: &str) {
        self.stats().command_error(p.step, kind);
        if self.seqs.is_some()
            && let Some(r) = p.what.unresolved(self.spec.user, None)
        {
            self.write(&r);
        }
    }

    fn sweep_timeouts(&mut self) {
        let now = Instant::now();
        // Timeouts are seconds long: a sweep every 100 ms is precise enough and keeps the
        // client's cost flat at high send rates.
        if now.duration_since(self.last_sweep) < SWEEP_EVERY {
            return;
        }
        self.last_sweep = now;
        let timeout = self.spec.run.timeout;
        let expired: Vec<String> = self
            .pending_acks
            .iter()
            .filter(|(_, p)| now.duration_since(p.at) >= timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(p) = self.pending_acks.remove(&id) {
                self.unanswered(&p, "timeout:ack");
            }
        }
        if self
            .chat
            .as_ref()
            .is_some_and(|c| now.duration_since(c.sent) >= timeout)
        {
            self.chat = None;
            self.stats().error("timeout:chat");
        }
        // Fan-out keys this tab sent that the other tab never saw.
        let prefix_c = format!("c:lt{}.{}.", self.spec.user, self.spec.tab);
        let prefix_u = format!("u:lt{}.{}.", self.spec.user, self.spec.tab);
        let prefix_d = format!("d{}:", self.spec.tab);
        let mut expired = Vec::new();
        self.spec.shared.pending().retain(|key, (sent, step)| {
            let mine = key.starts_with(&prefix_c)
                || key.starts_with(&prefix_u)
                || key.starts_with(&prefix_d);
            let keep = !mine || now.duration_since(*sent) < timeout;
            if !keep {
                expired.push(*step);
            }
            keep
        });
        for step in expired {
            self.stats().command_error(step, "timeout:fanout");
        }
    }

    /// Send the next command of this session's cycle.
    async fn send_next(&mut self, ws: &mut Ws) -> Result<(), String> {
        let now = Instant::now();
        let (msg, sent, fanout_key) = match self.spec.role {
            Role::Chat => {
                if self.chat.is_some() {
                    // One turn at a time: the previous answer is still streaming.
                    Stats::add(&self.stats().chat_busy_ticks, 1);
                    return Ok(());
                }
                (
                    ClientMessage::ChatSend {
                        text: self.spec.run.chat_text.to_string(),
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
                    let title = token(self.spec.user, tab, self.next_id + 1, &self.spec.run.tag);
                    let key = format!("c:{title}");
                    (
                        ClientMessage::TodoAdd {
                            title: title.clone(),
                            description: None,
                        },
                        Sent::Add(title),
                        Some(key),
                    )
                }
            }
        };
        self.next_id += 1;
        let id = command_id(self.step, self.next_id);
        let frame = ClientFrame {
            id: Some(id.clone()),
            msg,
        };
        let text = serde_json::to_string(&frame).map_err(|_| "serialize".to_string())?;
        if let Some(key) = fanout_key
            && self.partner_open()
        {
            self.spec.shared.pending().insert(key, (now, self.step));
            Stats::add(&self.stats().fanout_expected, 1);
        }
        if let Sent::Chat = sent {
            self.chat = Some(PendingChat {
                sent: now,
                conversation: None,
                first_token: false,
            });
            self.early.clear();
        }
        let step = self.step;
        self.pending_acks.insert(
            id,
            Pending {
                at: now,
                what: sent,
                step,
            },
        );
        ws.send(Message::text(text))
            .await
            .map_err(|e| classify_ws_error(&e))?;
        self.stats().count_sent(step);
        Ok(())
    }

    /// Handle one frame; false when the socket is finished.
    fn on_frame(&mut self, msg: Message) -> bool {
        let text = match msg {
            Message::Text(text) => text,
            Message::Close(frame) => {
                if !self.closing {
                    let code = close_code(frame.as_ref());
                    self.stats().error(format!("close:{code}"));
                }
                return false;
            }
            Message::Binary(_) => {
                self.stats().error("binary_frame");
                return true;
            }
            // tungstenite answers pings itself.
            _ => return true,
        };
        let now = Instant::now();
        Stats::add(&self.stats().received, 1);
        let msg = match serde_json::from_str::<ServerMessage>(&text) {
            Ok(m) => m,
            Err(_) => {
                self.stats().error("bad_frame");
                return true;
            }
        };
        if let Some(seq) = msg.seq() {
            Stats::add(&self.stats().events, 1);
            self.check_seq(seq);
        }
        match msg {
            ServerMessage::Ack { id, result } => self.on_ack(id, result, now),
            ServerMessage::Error { id, code, .. } => {
                let pending = id.as_ref().and_then(|id| self.pending_acks.remove(id));
                match pending {
                    Some(p) => {
                        self.stats()
                            .command_error(p.step, format!("error_frame:{code}"));
                        if self.seqs.is_some()
                            && let Some(r) =
                                p.what.unresolved(self.spec.user, Some(code.to_string()))
                        {
                            self.write(&r);
                        }
                        self.forget_failed(&p.what);
                        if let Sent::Chat = p.what {
                            self.chat = None;
                        }
                    }
                    None => self.stats().error(format!("error_frame:{code}")),
                }
            }
            ServerMessage::TodoCreated { seq, todo } => {
                if token_tab(&todo.title) == Some(self.spec.tab) {
                    self.own_event(Change::Add, todo.id, seq);
                }
                self.match_fanout(format!("c:{}", todo.title), &todo.title, now);
            }
            ServerMessage::TodoUpdated { seq, todo } => {
                if todo.completed && token_tab(&todo.title) == Some(self.spec.tab) {
                    self.own_event(Change::Complete, todo.id, seq);
                }
                self.match_fanout(format!("u:{}", todo.title), &todo.title, now);
            }
            ServerMessage::TodoDeleted { seq, todo_id } => {
                let mine = self.owned.iter().any(|t| t.id == todo_id)
                    || self
                        .seqs
                        .as_ref()
                        .is_some_and(|s| s.acked.contains_key(&(Change::Delete, todo_id)));
                if mine {
                    self.own_event(Change::Delete, todo_id, seq);
                }
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
            ServerMessage::SessionExpired => self.stats().error("session_expired"),
            _ => {}
        }
        true
    }

    fn check_seq(&mut self, seq: i64) {
        if seq == self.last_seq + 1 {
            self.last_seq = seq;
        } else if seq > self.last_seq + 1 {
            self.stats().error("seq_gap");
            self.last_seq = seq;
        } else {
            self.stats().error("seq_not_increasing");
        }
    }

    /// `--record`: this tab's own copy of the event of one of its changes.
    fn own_event(&mut self, change: Change, todo: i64, seq: i64) {
        let Some(seqs) = &mut self.seqs else { return };
        match seqs.acked.remove(&(change, todo)) {
            Some(record) => {
                let record = with_seq(record, seq);
                self.write(&record);
            }
            None => {
                seqs.events.insert((change, todo), seq);
            }
        }
    }

    /// `--record`: an acknowledged change, written now if its event came first.
    fn acked_change(&mut self, record: Record) {
        let Some(seqs) = &mut self.seqs else { return };
        let key = match &record {
            Record::Add { todo, .. } => (Change::Add, *todo),
            Record::Complete { todo, .. } => (Change::Complete, *todo),
            Record::Delete { todo, .. } => (Change::Delete, *todo),
            _ => return,
        };
        match seqs.events.remove(&key) {
            Some(seq) => {
                let record = with_seq(record, seq);
                self.write(&record);
            }
            None => {
                seqs.acked.insert(key, record);
            }
        }
    }

    fn on_ack(&mut self, id: Option<String>, result: AckResult, now: Instant) {
        let Some(p) = id.as_ref().and_then(|id| self.pending_acks.remove(id)) else {
            // An id this session issued whose ack came after it was counted as a timeout is
            // late, not a second error; anything else was never sent.
            match id.as_deref().and_then(parse_command_id) {
                Some((step, n)) if n >= 1 && n <= self.next_id => self.stats().late_ack(step),
                _ => self.stats().error("unmatched_ack"),
            }
            return;
        };
        self.stats().record_ack(p.step, now.duration_since(p.at));
        let user = self.spec.user;
        match (p.what, result) {
            (Sent::Add(_), AckResult::Todo { todo }) => {
                self.acked_change(Record::Add {
                    user,
                    todo: todo.id,
                    title: todo.title.clone(),
                    seq: None,
                });
                self.owned.push_back(OwnedTodo {
                    id: todo.id,
                    title: todo.title,
                    completed: todo.completed,
                    busy: false,
                });
            }
            (Sent::Complete(id), _) => {
                self.acked_change(Record::Complete {
                    user,
                    todo: id,
                    seq: None,
                });
                if let Some(t) = self.owned.iter_mut().find(|t| t.id == id) {
                    t.completed = true;
                    t.busy = false;
                }
            }
            (Sent::Delete(id), _) => {
                self.acked_change(Record::Delete {
                    user,
                    todo: id,
                    seq: None,
                });
                self.owned.retain(|t| t.id != id);
            }
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
            (_, _) => self.stats().error("unexpected_ack_result"),
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
            Sent::Add(_) | Sent::Chat => None,
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
        if let Some((sent, _)) = sent {
            Stats::add(&self.stats().fanout_received, 1);
            self.stats()
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
                self.stats()
                    .record(Metric::ChatDone, now.duration_since(chat.sent));
                if reason != protocol::FinishReason::Stop {
                    self.stats().error(format!("chat_done:{}", reason.as_str()));
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
                .run
                .stats
                .record(Metric::ChatFirstToken, at.duration_since(chat.sent));
        }
    }
}

/// The record with its event's seq filled in.
fn with_seq(record: Record, seq: i64) -> Record {
    match record {
        Record::Add {
            user, todo, title, ..
        } => Record::Add {
            user,
            todo,
            title,
            seq: Some(seq),
        },
        Record::Complete { user, todo, .. } => Record::Complete {
            user,
            todo,
            seq: Some(seq),
        },
        Record::Delete { user, todo, .. } => Record::Delete {
            user,
            todo,
            seq: Some(seq),
        },
        other => other,
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
        assert_eq!(token(12, 1, 7, "k3x"), "lt12.1.7.k3x");
        assert_eq!(token_tab("lt12.1.7.k3x"), Some(1));
        assert_eq!(token_tab("lt12.0.7"), Some(0));
        assert_eq!(token_tab("buy milk"), None);
    }

    #[test]
    fn command_ids_carry_their_step() {
        assert_eq!(command_id(3, 41), "3.41");
        assert_eq!(parse_command_id("3.41"), Some((3, 41)));
        assert_eq!(parse_command_id("41"), None);
        assert_eq!(parse_command_id("a.1"), None);
    }
}
