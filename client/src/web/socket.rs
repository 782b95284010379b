//! The one WebSocket of the app: connect, parse frames, heartbeat, reconnect with jittered
//! backoff. What the frames mean is decided by the caller (`app.rs`, through `state`).
//!
//! Authentication is the `access_token` cookie sent with the upgrade. A browser does not expose
//! the status of a refused upgrade, so a socket that closes before its `welcome` makes us ask
//! `GET /api/auth/verify` (which refreshes on 401) before trying again: a dead session leads to
//! the login page instead of an endless reconnect loop.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use protocol::{ClientFrame, ServerMessage, close};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::api;
use crate::state::backoff;

/// The indicator in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStatus {
    Connecting,
    Connected,
    Reconnecting,
    Offline,
}

impl ConnStatus {
    pub fn label(self) -> &'static str {
        match self {
            ConnStatus::Connecting => "connecting",
            ConnStatus::Connected => "connected",
            ConnStatus::Reconnecting => "reconnecting",
            ConnStatus::Offline => "offline",
        }
    }
}

/// What the socket reports to the app.
pub enum SocketEvent {
    Status(ConnStatus),
    Frame(ServerMessage),
    /// The connection is gone (a reconnect is scheduled).
    Disconnected,
    /// Closed with 4001 (session revoked or expired) or refused for lack of a session.
    SessionEnded,
}

/// Send a heartbeat `ping` this often (ms) ...
const HEARTBEAT_MS: i32 = 20_000;
/// ... and treat the connection as dead when nothing arrived for this long (ms): a dead TCP
/// connection can otherwise look open for minutes.
const SILENCE_MS: f64 = 50_000.0;
/// After this many failed attempts the indicator says "offline" rather than "reconnecting".
const OFFLINE_AFTER: u32 = 3;

/// A JS event handler owned by Rust (dropped = unusable from JS).
type Listener = Closure<dyn FnMut(web_sys::Event)>;

struct Inner {
    ws: Option<WebSocket>,
    stopped: bool,
    attempt: u32,
    welcomed: bool,
    last_frame_ms: f64,
    reconnect_timer: Option<i32>,
    heartbeat: Option<(i32, Closure<dyn FnMut()>)>,
    handlers: Vec<Listener>,
    /// Window listeners (`online`/`offline`), removed by `stop`.
    listeners: Vec<(&'static str, Listener)>,
    on_event: Rc<dyn Fn(SocketEvent)>,
}

/// A handle to the app's socket. Cloning shares it.
#[derive(Clone)]
pub struct Socket(Rc<RefCell<Inner>>);

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn ws_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

impl Socket {
    pub fn new(on_event: impl Fn(SocketEvent) + 'static) -> Self {
        Socket(Rc::new(RefCell::new(Inner {
            ws: None,
            stopped: false,
            attempt: 0,
            welcomed: false,
            last_frame_ms: now_ms(),
            reconnect_timer: None,
            heartbeat: None,
            handlers: Vec::new(),
            listeners: Vec::new(),
            on_event: Rc::new(on_event),
        })))
    }

    fn emit(&self, event: SocketEvent) {
        // After `stop` the app's views are gone: a late callback (a verify that was in flight)
        // must not reach them.
        let f = {
            let inner = self.0.borrow();
            if inner.stopped {
                return;
            }
            inner.on_event.clone()
        };
        f(event);
    }

    /// Open the connection and keep it open until `stop`.
    pub fn start(&self) {
        self.start_heartbeat();
        self.watch_network();
        self.connect();
    }

    /// The browser knows when the network comes back: reconnect then instead of waiting out
    /// the backoff; and say "offline" at once when it goes away.
    fn watch_network(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let weak = self.weak();
        let online = Listener::new(move |_| {
            if let Some(socket) = Socket::from_weak(&weak) {
                let idle = socket.0.borrow().ws.is_none();
                if idle {
                    socket.reconnect_now();
                }
            }
        });
        let weak = self.weak();
        let offline = Listener::new(move |_| {
            if let Some(socket) = Socket::from_weak(&weak) {
                let idle = socket.0.borrow().ws.is_none();
                if idle {
                    socket.emit(SocketEvent::Status(ConnStatus::Offline));
                }
            }
        });
        let _ = window.add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
        let _ =
            window.add_event_listener_with_callback("offline", offline.as_ref().unchecked_ref());
        self.0.borrow_mut().listeners = vec![("online", online), ("offline", offline)];
    }

    /// Send a frame; `false` when the socket is not open (the caller keeps the command).
    pub fn send(&self, frame: &ClientFrame) -> bool {
        let inner = self.0.borrow();
        let Some(ws) = inner.ws.as_ref() else {
            return false;
        };
        if ws.ready_state() != WebSocket::OPEN {
            return false;
        }
        match serde_json::to_string(frame) {
            Ok(text) => ws.send_with_str(&text).is_ok(),
            Err(_) => false,
        }
    }

    /// Close for good (logout, leaving the app).
    pub fn stop(&self) {
        let mut inner = self.0.borrow_mut();
        inner.stopped = true;
        let window = web_sys::window();
        if let (Some(w), Some(t)) = (&window, inner.reconnect_timer.take()) {
            w.clear_timeout_with_handle(t);
        }
        if let (Some(w), Some((id, _))) = (&window, inner.heartbeat.take()) {
            w.clear_interval_with_handle(id);
        }
        if let Some(ws) = inner.ws.take() {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            ws.set_onerror(None);
            let _ = ws.close_with_code(close::NORMAL);
        }
        if let Some(w) = &window {
            for (event, listener) in &inner.listeners {
                let _ =
                    w.remove_event_listener_with_callback(event, listener.as_ref().unchecked_ref());
            }
        }
        inner.listeners.clear();
        // Nothing may call into these closures any more (handlers detached above).
        inner.handlers.clear();
    }

    /// Reconnect now (after the session was refreshed), skipping the backoff.
    pub fn reconnect_now(&self) {
        {
            let mut inner = self.0.borrow_mut();
            if inner.stopped {
                return;
            }
            inner.attempt = 0;
            if let (Some(w), Some(t)) = (web_sys::window(), inner.reconnect_timer.take()) {
                w.clear_timeout_with_handle(t);
            }
        }
        self.schedule(0);
    }

    fn weak(&self) -> Weak<RefCell<Inner>> {
        Rc::downgrade(&self.0)
    }

    fn from_weak(weak: &Weak<RefCell<Inner>>) -> Option<Socket> {
        weak.upgrade().map(Socket)
    }

    fn connect(&self) {
        let Some(url) = ws_url() else {
            return;
        };
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(_) => {
                self.on_closed(1006);
                return;
            }
        };
        let attempt = {
            let mut inner = self.0.borrow_mut();
            if inner.stopped {
                let _ = ws.close();
                return;
            }
            inner.welcomed = false;
            inner.last_frame_ms = now_ms();
            // Old handlers belong to a socket that has closed; they are not running now
            // (connect only runs from a timer), so they can be dropped.
            inner.handlers.clear();
            inner.attempt
        };
        self.emit(SocketEvent::Status(if attempt == 0 {
            ConnStatus::Connecting
        } else if attempt > OFFLINE_AFTER {
            ConnStatus::Offline
        } else {
            ConnStatus::Reconnecting
        }));

        let weak = self.weak();
        let on_message = Listener::new(move |e: web_sys::Event| {
            let Some(socket) = Socket::from_weak(&weak) else {
                return;
            };
            let Some(text) = e
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            else {
                return;
            };
            socket.0.borrow_mut().last_frame_ms = now_ms();
            match serde_json::from_str::<ServerMessage>(&text) {
                Ok(msg) => {
                    if matches!(msg, ServerMessage::Welcome { .. }) {
                        {
                            let mut inner = socket.0.borrow_mut();
                            inner.welcomed = true;
                            inner.attempt = 0;
                        }
                        socket.emit(SocketEvent::Status(ConnStatus::Connected));
                    }
                    socket.emit(SocketEvent::Frame(msg));
                }
                // A frame type this build does not know: newer server, ignore it.
                Err(e) => web_sys::console::warn_1(&format!("unknown frame: {e}").into()),
            }
        });
        let weak = self.weak();
        let on_close = Listener::new(move |e: web_sys::Event| {
            let code = e.dyn_ref::<CloseEvent>().map(|c| c.code()).unwrap_or(1006);
            if let Some(socket) = Socket::from_weak(&weak) {
                socket.on_closed(code);
            }
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut inner = self.0.borrow_mut();
        inner.handlers.push(on_message);
        inner.handlers.push(on_close);
        inner.ws = Some(ws);
    }

    fn on_closed(&self, code: u16) {
        let (stopped, welcomed) = {
            let mut inner = self.0.borrow_mut();
            inner.ws = None;
            (inner.stopped, inner.welcomed)
        };
        if stopped {
            return;
        }
        self.emit(SocketEvent::Disconnected);
        if code == close::SESSION_EXPIRED {
            // The app refreshes (then calls `reconnect_now`) or shows the login page.
            self.emit(SocketEvent::SessionEnded);
            return;
        }
        if welcomed {
            self.schedule_backoff();
            return;
        }
        // Refused before the welcome: maybe the access token expired. Ask the REST side, which
        // refreshes the cookie when it can.
        let socket = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match api::verify().await {
                Ok(None) => socket.emit(SocketEvent::SessionEnded),
                // A session, or the server unreachable: try again later.
                _ => socket.schedule_backoff(),
            }
        });
    }

    fn schedule_backoff(&self) {
        let attempt = {
            let mut inner = self.0.borrow_mut();
            if inner.stopped {
                return;
            }
            inner.attempt = inner.attempt.saturating_add(1);
            inner.attempt
        };
        let delay = backoff::delay_ms(attempt - 1, js_sys::Math::random());
        let browser_offline = web_sys::window().is_some_and(|w| !w.navigator().on_line());
        self.emit(SocketEvent::Status(
            if attempt > OFFLINE_AFTER || browser_offline {
                ConnStatus::Offline
            } else {
                ConnStatus::Reconnecting
            },
        ));
        self.schedule(delay);
    }

    fn schedule(&self, delay_ms: u32) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let weak = self.weak();
        let callback = Closure::once_into_js(move || {
            if let Some(socket) = Socket::from_weak(&weak) {
                socket.0.borrow_mut().reconnect_timer = None;
                socket.connect();
            }
        });
        if let Ok(id) = window.set_timeout_with_callback_and_timeout_and_arguments_0(
            callback.unchecked_ref(),
            delay_ms.min(i32::MAX as u32) as i32,
        ) {
            self.0.borrow_mut().reconnect_timer = Some(id);
        }
    }

    fn start_heartbeat(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let weak = self.weak();
        let tick = Closure::<dyn FnMut()>::new(move || {
            let Some(socket) = Socket::from_weak(&weak) else {
                return;
            };
            let (silent, ws) = {
                let inner = socket.0.borrow();
                (
                    now_ms() - inner.last_frame_ms > SILENCE_MS,
                    inner.ws.clone(),
                )
            };
            match ws {
                // A dead connection may take minutes to report its close: give up on it now.
                Some(ws) if silent => {
                    ws.set_onmessage(None);
                    ws.set_onclose(None);
                    let _ = ws.close();
                    socket.on_closed(1006);
                }
                Some(_) => {
                    socket.send(&ClientFrame {
                        id: None,
                        msg: protocol::ClientMessage::Ping,
                    });
                }
                None => {}
            }
        });
        if let Ok(id) = window.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            HEARTBEAT_MS,
        ) {
            self.0.borrow_mut().heartbeat = Some((id, tick));
        }
    }
}
