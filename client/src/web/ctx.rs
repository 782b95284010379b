//! What the signed-in views share: the page route, the state signals, banners, and the wiring
//! from socket frames to the state modules (`Ctx::on_socket`). Kept apart from `app.rs` so
//! that the views (`auth`, `todos`, `chat`) import it without importing the root that draws
//! them.

use protocol::{
    ClientFrame, ConversationsResponse, MessagesResponse, ServerMessage, StatusFilter, User,
};
use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;

use super::api;
use super::drafts::{self, OPEN_CONVERSATION};
use super::socket::{ConnStatus, Socket, SocketEvent};
use crate::state::chat::{ChatEffect, ChatState};
use crate::state::todos::TodoState;

/// Which page shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `GET /api/auth/verify` in flight.
    Checking,
    /// The login form, with why we are here (session ended, logged out).
    Login(Option<String>),
    Register,
    App(User),
}

/// What a banner's Retry button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    Conversations,
    Messages(i64),
    Todos,
    /// Load the page again (a newer server speaks another protocol version).
    Reload,
}

/// A problem shown above everything (500/503, 403, unreachable server).
#[derive(Debug, Clone, PartialEq)]
pub struct Banner {
    pub text: String,
    pub retry: Option<Retry>,
}

/// Everything the signed-in views share. All fields are signals (Copy), so is `Ctx`.
#[derive(Clone, Copy)]
pub struct Ctx {
    pub route: Signal<Route>,
    pub todos: Signal<TodoState>,
    pub chat: Signal<ChatState>,
    pub status: Signal<ConnStatus>,
    pub banner: Signal<Option<Banner>>,
    pub notice: Signal<Option<String>>,
    pub todo_draft: Signal<String>,
    pub chat_draft: Signal<String>,
    pub filter: Signal<StatusFilter>,
    /// The Devices view is open instead of the todos and the chat.
    pub devices_open: Signal<bool>,
    /// A logout is in flight (its buttons are disabled).
    pub logging_out: Signal<bool>,
    socket: Signal<Option<Socket>>,
    scope: NodeHandle,
}

impl Ctx {
    /// The signed-in state, with its socket opened; the socket closes with the current scope
    /// (logout, leaving the app).
    pub fn start(
        route: Signal<Route>,
        todo_draft: Signal<String>,
        chat_draft: Signal<String>,
    ) -> Ctx {
        let ctx = Ctx {
            route,
            todos: create_signal(TodoState::new()),
            chat: create_signal(ChatState::new()),
            status: create_signal(ConnStatus::Connecting),
            banner: create_signal(None),
            notice: create_signal(None),
            todo_draft,
            chat_draft,
            filter: create_signal(StatusFilter::All),
            devices_open: create_signal(false),
            logging_out: create_signal(false),
            socket: create_signal(None),
            scope: use_current_scope(),
        };
        let socket = Socket::new(move |event| ctx.on_socket(event));
        ctx.socket.set(Some(socket.clone()));
        socket.start();
        on_cleanup(move || socket.stop());
        ctx.remember_open_conversation();
        ctx
    }

    /// A reload reopens the conversation this tab was in (kept in `sessionStorage`).
    fn remember_open_conversation(&self) {
        let ctx = *self;
        if let Ok(id) = drafts::load(OPEN_CONVERSATION).parse::<i64>() {
            ctx.chat.update(|c| c.open_conversation(id));
            ctx.load_messages(id);
        }
        let open = create_selector(move || ctx.chat.with(|c| c.open()));
        create_effect(move || {
            let id = open.get().map(|id| id.to_string()).unwrap_or_default();
            drafts::save(OPEN_CONVERSATION, &id);
        });
    }

    /// Log out this device, or every device; the login page then says so.
    pub fn log_out(&self, everywhere: bool) {
        let ctx = *self;
        ctx.logging_out.set(true);
        self.spawn(async move {
            match api::logout(everywhere).await {
                Ok(()) => {
                    drafts::clear();
                    ctx.route.set(Route::Login(Some(if everywhere {
                        "You have signed out on every device.".into()
                    } else {
                        "You have logged out.".into()
                    })));
                }
                Err(e) => {
                    ctx.logging_out.set(false);
                    ctx.fail(&e, None);
                }
            }
        });
    }

    /// Send frames produced by the state modules. A frame that cannot go out now stays
    /// pending in the state and is sent again after the resume.
    pub fn send(&self, frames: Vec<ClientFrame>) {
        if frames.is_empty() {
            return;
        }
        self.socket.with_untracked(|s| {
            if let Some(s) = s {
                for f in &frames {
                    s.send(f);
                }
            }
        });
    }

    /// Send one frame; `false` when the socket is not open.
    pub fn send_now(&self, frame: &ClientFrame) -> bool {
        self.socket
            .with_untracked(|s| s.as_ref().is_some_and(|s| s.send(frame)))
    }

    /// Run a future tied to the signed-in scope: it is dropped on logout.
    pub fn spawn(&self, fut: impl std::future::Future<Output = ()> + 'static) {
        // The signals die with the scope: after logout there is nothing to run the task for
        // (and registering its cleanup on a disposed scope would panic).
        if !self.todos.is_alive() {
            return;
        }
        self.scope.run_in(|| spawn_local_scoped(fut));
    }

    /// Show a problem; `Retry` says what the banner's button does again.
    pub fn fail(&self, err: &api::HttpError, retry: Option<Retry>) {
        // 401s are handled by the session logic (refresh, then the login page).
        if err.status == 401 {
            return;
        }
        // 403 is not transient: no retry button, no loop.
        let retry = if err.status == 403 { None } else { retry };
        self.banner.set(Some(Banner {
            text: err.describe(),
            retry,
        }));
    }

    pub fn run_chat_effects(&self, effects: Vec<ChatEffect>) {
        for effect in effects {
            match effect {
                ChatEffect::ReloadConversations => self.load_conversations(),
                ChatEffect::ReloadMessages(id) => self.load_messages(id),
                ChatEffect::Notice {
                    message,
                    restore_input,
                } => {
                    self.notice.set(Some(message));
                    if let Some(text) = restore_input
                        && self.chat_draft.with_untracked(String::is_empty)
                    {
                        self.chat_draft.set(text);
                    }
                }
            }
        }
    }

    pub fn load_conversations(&self) {
        let ctx = *self;
        self.spawn(async move {
            match api::json::<ConversationsResponse>("GET", "/api/conversations", None).await {
                Ok(r) => ctx.chat.update(|c| c.set_conversations(r.conversations)),
                Err(e) => ctx.fail(&e, Some(Retry::Conversations)),
            }
        });
    }

    pub fn load_messages(&self, id: i64) {
        let ctx = *self;
        self.spawn(async move {
            let path = format!("/api/conversations/{id}/messages");
            match api::json::<MessagesResponse>("GET", &path, None).await {
                Ok(r) => ctx.chat.update(|c| c.set_history(id, r.messages)),
                Err(e) if e.status == 404 => {
                    ctx.chat.update(|c| c.remove_conversation(id));
                    ctx.notice
                        .set(Some("That conversation no longer exists.".into()));
                }
                Err(e) => ctx.fail(&e, Some(Retry::Messages(id))),
            }
        });
    }

    pub fn retry(&self, what: Retry) {
        self.banner.set(None);
        match what {
            Retry::Conversations => self.load_conversations(),
            Retry::Messages(id) => self.load_messages(id),
            Retry::Todos => {
                let frames = self.todos.update(|t| t.resync());
                self.send(frames);
            }
            Retry::Reload => {
                if let Some(w) = web_sys::window() {
                    let _ = w.location().reload();
                }
            }
        }
    }

    fn on_socket(&self, event: SocketEvent) {
        if !self.todos.is_alive() {
            return;
        }
        match event {
            SocketEvent::Status(s) => self.status.set(s),
            SocketEvent::Disconnected => self.todos.update(|t| t.on_disconnect()),
            SocketEvent::SessionEnded => {
                let ctx = *self;
                self.spawn(async move {
                    // 4001 also means "access token expired": a refresh may fix it.
                    if api::refresh().await {
                        ctx.socket.with_untracked(|s| {
                            if let Some(s) = s {
                                s.reconnect_now();
                            }
                        });
                    } else {
                        ctx.route.set(Route::Login(Some(
                            "Your session has ended. Please log in again.".into(),
                        )));
                    }
                });
            }
            SocketEvent::Frame(msg) => self.on_frame(msg),
        }
    }

    fn on_frame(&self, msg: ServerMessage) {
        use ServerMessage as S;
        match msg {
            S::Welcome {
                seq,
                protocol: version,
                ..
            } => {
                if version != protocol::PROTOCOL_VERSION {
                    // index.html is never cached, so a reload fetches the matching client.
                    self.banner.set(Some(Banner {
                        text: "The server was updated: reload to get the new version.".into(),
                        retry: Some(Retry::Reload),
                    }));
                }
                let resumed = self.todos.with_untracked(|t| t.loaded());
                let frames = self.todos.update(|t| t.on_welcome(seq));
                self.send(frames);
                let effects = if resumed {
                    self.chat.update(|c| c.on_reconnected())
                } else {
                    vec![ChatEffect::ReloadConversations]
                };
                self.run_chat_effects(effects);
            }
            S::Ack {
                id: Some(id),
                result,
            } => {
                if let Some(effects) = self.chat.update(|c| c.on_ack(&id, &result)) {
                    self.run_chat_effects(effects);
                } else {
                    let frames = self.todos.update(|t| t.on_ack(&id, &result));
                    self.send(frames);
                }
            }
            S::Error {
                id: Some(id),
                code,
                message,
            } => {
                if let Some(effects) = self.chat.update(|c| c.on_error(&id, code, &message)) {
                    self.run_chat_effects(effects);
                    return;
                }
                let (notice, frames) = self.todos.update(|t| t.on_error(&id, code, &message));
                self.send(frames);
                if let Some(n) = notice {
                    if let Some(text) = n.restore_input
                        && self.todo_draft.with_untracked(String::is_empty)
                    {
                        self.todo_draft.set(text);
                    }
                    if n.needs_resync {
                        self.banner.set(Some(Banner {
                            text: n.message,
                            retry: Some(Retry::Todos),
                        }));
                    } else {
                        self.notice.set(Some(n.message));
                    }
                }
            }
            S::Error {
                id: None, message, ..
            } => self.notice.set(Some(message)),
            S::TodoCreated { .. }
            | S::TodoUpdated { .. }
            | S::TodoDeleted { .. }
            | S::TodoSnapshot { .. } => {
                let frames = self.todos.update(|t| t.on_event(&msg));
                self.send(frames);
            }
            S::ChatStarted { .. }
            | S::ChatDelta { .. }
            | S::ChatToolCall { .. }
            | S::ChatToolResult { .. }
            | S::ChatDone { .. } => {
                let effects = self.chat.update(|c| c.on_frame(&msg));
                self.run_chat_effects(effects);
            }
            // The close with 4001 follows and is handled there.
            S::SessionExpired | S::Pong { .. } | S::Ack { id: None, .. } => {}
        }
    }
}
