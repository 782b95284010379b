//! The todo list as the socket tells it, plus the commands this tab sent that are not yet
//! acknowledged.
//!
//! Two layers, so a rejected command needs no undo logic:
//! - `confirmed`: the server's truth, changed only by `todo.*` events (in `seq` order), the
//!   `todo.list` answer, a `todo.snapshot`, and acks that carry a todo at least as new.
//! - `pending`: commands in flight, drawn on top of `confirmed` (a pending add is a row of its
//!   own, a pending update shows its new values, a pending delete is greyed). An ack or an `error`
//!   frame removes the command; on an error the row falls back to `confirmed` by itself — that is
//!   the "revert" — and a [`Notice`] says why.
//!
//! Sync and resume: the first `welcome` of a page starts a `todo.list`; events that arrive before
//! its answer are applied and kept, and replayed on top of the list when it lands, because the
//! list may predate them. `last_seq` is the newest event applied; after a reconnect the next
//! `welcome` is answered with `hello {last_seq}`, the server replays what was missed (or sends a
//! snapshot), and only then are the commands that were cut off sent again. An event with a seq
//! already seen is a duplicate and ignored; one that skips a seq triggers one `hello` to fill the
//! gap. This module does no I/O: it returns the frames to send, so it runs in native unit tests.
//!
//! Big lists (contract, "Big lists over the socket"): a `todo.list` answer with `next_after` is one
//! page; the next page is asked for at once and the list is applied when the last page arrives.
//! A `todo.snapshot` may come in parts with the same `seq`, all but the last with `more: true`;
//! the parts are collected and applied together with the last one, so the list never shows half a
//! snapshot. A list that fits in one page works exactly as before.

use std::collections::{BTreeMap, BTreeSet};

use protocol::{AckResult, ClientFrame, ClientMessage, ErrorCode, StatusFilter, Todo, TodoTitle};

/// A command sent (or to be sent) and not acknowledged yet.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    req_id: String,
    op: PendingOp,
    state: SendState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendState {
    /// Waiting for a usable connection.
    Queued,
    /// On the wire; an ack or error will come unless the connection drops.
    InFlight,
    /// Was in flight when the connection dropped: the server may or may not have applied it.
    Uncertain,
}

#[derive(Debug, Clone, PartialEq)]
enum PendingOp {
    Add {
        temp_id: i64,
        title: String,
    },
    Update {
        todo_id: i64,
        title: Option<String>,
        completed: Option<bool>,
    },
    Delete {
        todo_id: i64,
    },
}

/// What the UI draws for one row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TodoView {
    /// The todo's id; negative for an add the server has not confirmed yet.
    pub id: i64,
    pub title: String,
    pub completed: bool,
    /// A command on this row is not acknowledged yet.
    pub pending: bool,
    /// A delete of this row is not acknowledged yet.
    pub deleting: bool,
}

/// Something the user should be told, e.g. why a change was undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub message: String,
    /// Text the user typed that did not make it (a rejected add), to give back to the input.
    pub restore_input: Option<String>,
    /// The list could not be loaded: offer a retry (which calls `resync`).
    pub needs_resync: bool,
}

/// How the initial list or a resume is going.
#[derive(Debug, Clone, PartialEq)]
enum Sync {
    /// No welcome yet on this page.
    Idle,
    /// `todo.list` sent (for the page after `pages`' last id); events seen since, to re-apply
    /// on top of the whole answer.
    Listing {
        req_id: String,
        seen: Vec<Event>,
        /// The pages received so far, oldest todos first.
        pages: Vec<Todo>,
    },
    /// `hello {last_seq}` sent after a reconnect or a gap.
    Resuming { req_id: String },
    /// Up to date; new commands go out at once.
    Live,
}

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Upsert(Todo),
    Delete(i64),
}

/// The client's todo state. See the module documentation.
#[derive(Debug)]
pub struct TodoState {
    confirmed: BTreeMap<i64, Todo>,
    /// Ids deleted on the server: a late ack or a stale event must not bring them back.
    deleted: BTreeSet<i64>,
    last_seq: Option<i64>,
    sync: Sync,
    /// Whether the socket is open (commands are sent only while it is and sync is done).
    connected: bool,
    /// Whether the list has been loaded once (before that the UI shows "loading").
    loaded: bool,
    pending: Vec<Pending>,
    /// Confirmed ids when the connection dropped, to recognise adds that did go through.
    known_at_drop: BTreeSet<i64>,
    /// The parts of a multi-part `todo.snapshot` received so far: (its seq, its todos).
    snapshot_parts: Option<(i64, Vec<Todo>)>,
    next_req: u64,
    next_temp: i64,
}

impl Default for TodoState {
    fn default() -> Self {
        Self::new()
    }
}

impl TodoState {
    pub fn new() -> Self {
        Self {
            confirmed: BTreeMap::new(),
            deleted: BTreeSet::new(),
            last_seq: None,
            sync: Sync::Idle,
            connected: false,
            loaded: false,
            pending: Vec::new(),
            known_at_drop: BTreeSet::new(),
            snapshot_parts: None,
            next_req: 0,
            next_temp: 0,
        }
    }

    /// The newest event applied (what `hello` resumes from).
    pub fn last_seq(&self) -> Option<i64> {
        self.last_seq
    }

    /// Whether the first list has arrived.
    pub fn loaded(&self) -> bool {
        self.loaded
    }

    /// Commands not acknowledged yet.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    fn req_id(&mut self, prefix: &str) -> String {
        self.next_req += 1;
        format!("{prefix}{}", self.next_req)
    }

    // --- connection lifecycle -------------------------------------------------------------

    /// A `welcome` arrived on a fresh socket. Returns the frames to send.
    pub fn on_welcome(&mut self, seq: i64) -> Vec<ClientFrame> {
        self.connected = true;
        match self.last_seq {
            // Resume: ask for what we missed; queued commands wait for the replay.
            Some(last) if self.loaded => self.start_resume(last),
            _ => {
                // First sync of this page: everything after `seq` arrives as events.
                self.last_seq = Some(seq);
                self.resync()
            }
        }
    }

    fn start_resume(&mut self, last: i64) -> Vec<ClientFrame> {
        let req_id = self.req_id("hello");
        self.sync = Sync::Resuming {
            req_id: req_id.clone(),
        };
        vec![ClientFrame {
            id: Some(req_id),
            msg: ClientMessage::Hello {
                last_seq: Some(last),
            },
        }]
    }

    /// Load the whole list again on the open socket (after a failed list or resume).
    pub fn resync(&mut self) -> Vec<ClientFrame> {
        if !self.connected {
            return Vec::new();
        }
        self.list_page(None, Vec::new(), Vec::new())
    }

    /// Ask for the page after `after` (the first page: `None`), keeping what came so far.
    fn list_page(
        &mut self,
        after: Option<i64>,
        seen: Vec<Event>,
        pages: Vec<Todo>,
    ) -> Vec<ClientFrame> {
        let req_id = self.req_id("list");
        self.sync = Sync::Listing {
            req_id: req_id.clone(),
            seen,
            pages,
        };
        vec![ClientFrame {
            id: Some(req_id),
            msg: ClientMessage::TodoList {
                status: Some(StatusFilter::All),
                after,
                limit: None,
            },
        }]
    }

    /// The socket closed. Commands on the wire become uncertain: after the resume we will see
    /// whether they were applied.
    pub fn on_disconnect(&mut self) {
        self.connected = false;
        if matches!(self.sync, Sync::Listing { .. }) {
            // The list never came: the next welcome starts over.
            self.sync = Sync::Idle;
            if !self.loaded {
                self.last_seq = None;
            }
        } else if self.loaded {
            self.sync = Sync::Idle;
        }
        self.known_at_drop = self.confirmed.keys().copied().collect();
        // A snapshot cut off between its parts is sent again whole after the resume.
        self.snapshot_parts = None;
        for p in &mut self.pending {
            if p.state == SendState::InFlight {
                p.state = SendState::Uncertain;
            }
        }
    }

    /// Whether new commands can go out right now.
    fn live(&self) -> bool {
        self.connected && self.sync == Sync::Live
    }

    /// Settle commands cut off by a disconnect, then hand out every queued frame.
    fn after_sync(&mut self) -> Vec<ClientFrame> {
        self.sync = Sync::Live;
        let fresh: Vec<&Todo> = self
            .confirmed
            .values()
            .filter(|t| !self.known_at_drop.contains(&t.id))
            .collect();
        let mut claimed = BTreeSet::new();
        let mut done = Vec::new();
        for p in &self.pending {
            if p.state != SendState::Uncertain {
                continue;
            }
            if let PendingOp::Add { title, .. } = &p.op {
                // An add the server applied before the drop shows up as a todo we did not
                // know, with that title: count it as acknowledged rather than add it twice.
                if let Some(t) = fresh
                    .iter()
                    .find(|t| t.title == *title && !claimed.contains(&t.id))
                {
                    claimed.insert(t.id);
                    done.push(p.req_id.clone());
                }
            }
        }
        self.pending.retain(|p| !done.contains(&p.req_id));
        // Updates and deletes are idempotent: send them again.
        for p in &mut self.pending {
            if p.state == SendState::Uncertain {
                p.state = SendState::Queued;
            }
        }
        self.take_queued()
    }

    /// Frames of queued commands, if they may be sent now; marks them in flight.
    pub fn take_queued(&mut self) -> Vec<ClientFrame> {
        if !self.live() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for p in &mut self.pending {
            if p.state == SendState::Queued {
                p.state = SendState::InFlight;
                out.push(ClientFrame {
                    id: Some(p.req_id.clone()),
                    msg: p.op.message(),
                });
            }
        }
        out
    }

    // --- commands from the UI --------------------------------------------------------------

    /// Add a todo. Validates like the server; on success the row shows at once as pending.
    pub fn add(&mut self, raw_title: &str) -> Result<Vec<ClientFrame>, String> {
        let title = TodoTitle::parse(raw_title).map_err(|e| e.message)?;
        self.next_temp -= 1;
        let op = PendingOp::Add {
            temp_id: self.next_temp,
            title: title.into_inner(),
        };
        Ok(self.push(op))
    }

    /// Flip a todo between done and not done.
    pub fn toggle(&mut self, todo_id: i64) -> Vec<ClientFrame> {
        let Some(current) = self.view_of(todo_id) else {
            return Vec::new();
        };
        self.push(PendingOp::Update {
            todo_id,
            title: None,
            completed: Some(!current.completed),
        })
    }

    /// Rename a todo. An unchanged title sends nothing.
    pub fn rename(&mut self, todo_id: i64, raw_title: &str) -> Result<Vec<ClientFrame>, String> {
        let title = TodoTitle::parse(raw_title).map_err(|e| e.message)?;
        match self.view_of(todo_id) {
            Some(current) if current.title != title.as_str() => Ok(self.push(PendingOp::Update {
                todo_id,
                title: Some(title.into_inner()),
                completed: None,
            })),
            _ => Ok(Vec::new()),
        }
    }

    /// Delete a todo.
    pub fn delete(&mut self, todo_id: i64) -> Vec<ClientFrame> {
        if todo_id < 0 || self.view_of(todo_id).is_none() {
            return Vec::new();
        }
        self.push(PendingOp::Delete { todo_id })
    }

    fn push(&mut self, op: PendingOp) -> Vec<ClientFrame> {
        let req_id = self.req_id("t");
        self.pending.push(Pending {
            req_id,
            op,
            state: SendState::Queued,
        });
        self.take_queued()
    }

    // --- frames from the server --------------------------------------------------------------

    /// An `ack`. Returns frames to send (after a resume, the commands that were waiting).
    pub fn on_ack(&mut self, req_id: &str, result: &AckResult) -> Vec<ClientFrame> {
        match &mut self.sync {
            Sync::Listing {
                req_id: r,
                seen,
                pages,
            } if r == req_id => {
                if let AckResult::Todos { todos, next_after } = result {
                    let mut seen = std::mem::take(seen);
                    let mut pages = std::mem::take(pages);
                    pages.extend(todos.iter().cloned());
                    if let Some(after) = *next_after {
                        // More remain: ask for them; events keep collecting meanwhile.
                        return self.list_page(Some(after), std::mem::take(&mut seen), pages);
                    }
                    self.confirmed = pages
                        .into_iter()
                        .filter(|t| !self.deleted.contains(&t.id))
                        .map(|t| (t.id, t))
                        .collect();
                    // The list may be older than events we already saw: apply them again.
                    for e in seen {
                        self.apply(e);
                    }
                }
                self.loaded = true;
                return self.after_sync();
            }
            Sync::Resuming { req_id: r } if r == req_id => return self.after_sync(),
            _ => {}
        }
        let Some(pos) = self.pending.iter().position(|p| p.req_id == req_id) else {
            return Vec::new();
        };
        let p = self.pending.remove(pos);
        match (&p.op, result) {
            (PendingOp::Delete { todo_id }, _) => self.apply(Event::Delete(*todo_id)),
            (_, AckResult::Todo { todo }) => self.upsert_if_newer(todo.clone()),
            _ => {}
        }
        Vec::new()
    }

    /// An `error` frame. Returns what to tell the user and the frames to send.
    pub fn on_error(
        &mut self,
        req_id: &str,
        code: ErrorCode,
        message: &str,
    ) -> (Option<Notice>, Vec<ClientFrame>) {
        match &self.sync {
            Sync::Listing { req_id: r, .. } | Sync::Resuming { req_id: r } if r == req_id => {
                // Could not list or resume. No automatic retry (it could loop on a server
                // error): the UI offers one, which calls `resync`.
                self.sync = Sync::Idle;
                return (
                    Some(Notice {
                        message: format!("Could not load your todos: {message}"),
                        restore_input: None,
                        needs_resync: true,
                    }),
                    Vec::new(),
                );
            }
            _ => {}
        }
        let Some(pos) = self.pending.iter().position(|p| p.req_id == req_id) else {
            return (None, Vec::new());
        };
        let p = self.pending.remove(pos);
        let notice = match p.op {
            // Deleting what is already gone is what the user wanted.
            PendingOp::Delete { todo_id } if code == ErrorCode::NotFound => {
                self.apply(Event::Delete(todo_id));
                None
            }
            PendingOp::Delete { .. } => Some(Notice {
                message: format!("Could not delete: {message}"),
                restore_input: None,
                needs_resync: false,
            }),
            PendingOp::Update { todo_id, .. } if code == ErrorCode::NotFound => {
                self.apply(Event::Delete(todo_id));
                Some(Notice {
                    message: "That todo was deleted elsewhere.".into(),
                    restore_input: None,
                    needs_resync: false,
                })
            }
            PendingOp::Update { .. } => Some(Notice {
                message: format!("Change undone: {message}"),
                restore_input: None,
                needs_resync: false,
            }),
            PendingOp::Add { title, .. } => Some(Notice {
                message: format!("Could not add “{title}”: {message}"),
                restore_input: Some(title),
                needs_resync: false,
            }),
        };
        (notice, Vec::new())
    }

    /// A `todo.created` / `todo.updated` / `todo.deleted` / `todo.snapshot` frame.
    /// Returns frames to send (a `hello` when a gap was seen).
    pub fn on_event(&mut self, msg: &protocol::ServerMessage) -> Vec<ClientFrame> {
        use protocol::ServerMessage as S;
        let Some(seq) = msg.seq() else {
            return Vec::new();
        };
        if let S::TodoSnapshot { todos, more, .. } = msg {
            if self.last_seq.is_some_and(|last| seq < last) {
                return Vec::new();
            }
            // Collect the parts; a part of another seq starts over (the earlier one was cut off).
            let mut parts = match self.snapshot_parts.take() {
                Some((s, parts)) if s == seq => parts,
                _ => Vec::new(),
            };
            parts.extend(todos.iter().cloned());
            if *more {
                self.snapshot_parts = Some((seq, parts));
                return Vec::new();
            }
            self.confirmed = parts.into_iter().map(|t| (t.id, t)).collect();
            self.last_seq = Some(seq);
            self.loaded = true;
            if let Sync::Listing { seen, .. } = &mut self.sync {
                // The snapshot is newer than anything seen: nothing to re-apply.
                seen.clear();
            }
            return Vec::new();
        }
        let event = match msg {
            S::TodoCreated { todo, .. } | S::TodoUpdated { todo, .. } => {
                Event::Upsert(todo.clone())
            }
            S::TodoDeleted { todo_id, .. } => Event::Delete(*todo_id),
            _ => return Vec::new(),
        };
        match self.last_seq {
            Some(last) if seq <= last => return Vec::new(),
            Some(last) if seq > last + 1 => {
                // Missed something: ask for the replay once; events past the gap are ignored
                // until it arrives (the replay carries them too).
                if self.connected
                    && !matches!(self.sync, Sync::Resuming { .. } | Sync::Listing { .. })
                {
                    return self.start_resume(last);
                }
                return Vec::new();
            }
            _ => {}
        }
        self.last_seq = Some(seq);
        if let Sync::Listing { seen, .. } = &mut self.sync {
            seen.push(event.clone());
        }
        self.apply(event);
        Vec::new()
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Upsert(todo) => {
                if !self.deleted.contains(&todo.id) {
                    self.confirmed.insert(todo.id, todo);
                }
            }
            Event::Delete(id) => {
                self.confirmed.remove(&id);
                self.deleted.insert(id);
            }
        }
    }

    /// An ack's todo may be older than an event that already arrived: keep the newer one.
    fn upsert_if_newer(&mut self, todo: Todo) {
        if self.deleted.contains(&todo.id) {
            return;
        }
        match self.confirmed.get(&todo.id) {
            Some(cur) if cur.updated_at > todo.updated_at => {}
            _ => {
                self.confirmed.insert(todo.id, todo);
            }
        }
    }

    // --- what the UI draws ----------------------------------------------------------------------

    fn view_of(&self, id: i64) -> Option<TodoView> {
        self.rows().into_iter().find(|r| r.id == id)
    }

    /// Every row, oldest first, pending changes drawn on top.
    fn rows(&self) -> Vec<TodoView> {
        let mut confirmed: Vec<&Todo> = self.confirmed.values().collect();
        confirmed.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        let mut rows: Vec<TodoView> = confirmed
            .into_iter()
            .map(|t| TodoView {
                id: t.id,
                title: t.title.clone(),
                completed: t.completed,
                pending: false,
                deleting: false,
            })
            .collect();
        for p in &self.pending {
            match &p.op {
                PendingOp::Add { temp_id, title } => rows.push(TodoView {
                    id: *temp_id,
                    title: title.clone(),
                    completed: false,
                    pending: true,
                    deleting: false,
                }),
                PendingOp::Update {
                    todo_id,
                    title,
                    completed,
                } => {
                    if let Some(r) = rows.iter_mut().find(|r| r.id == *todo_id) {
                        if let Some(t) = title {
                            r.title = t.clone();
                        }
                        if let Some(c) = completed {
                            r.completed = *c;
                        }
                        r.pending = true;
                    }
                }
                PendingOp::Delete { todo_id } => {
                    if let Some(r) = rows.iter_mut().find(|r| r.id == *todo_id) {
                        r.pending = true;
                        r.deleting = true;
                    }
                }
            }
        }
        rows
    }

    /// The rows the filter keeps.
    pub fn visible(&self, filter: StatusFilter) -> Vec<TodoView> {
        self.rows()
            .into_iter()
            .filter(|r| match filter {
                StatusFilter::All => true,
                StatusFilter::Pending => !r.completed,
                StatusFilter::Completed => r.completed,
            })
            .collect()
    }

    /// (not done, done) counts, pending changes included.
    pub fn counts(&self) -> (usize, usize) {
        let rows = self.rows();
        let done = rows.iter().filter(|r| r.completed).count();
        (rows.len() - done, done)
    }
}

impl PendingOp {
    fn message(&self) -> ClientMessage {
        match self {
            PendingOp::Add { title, .. } => ClientMessage::TodoAdd {
                title: title.clone(),
                description: None,
            },
            PendingOp::Update {
                todo_id,
                title,
                completed,
            } => ClientMessage::TodoUpdate {
                todo_id: *todo_id,
                title: title.clone(),
                description: None,
                completed: *completed,
            },
            PendingOp::Delete { todo_id } => ClientMessage::TodoDelete { todo_id: *todo_id },
        }
    }
}

#[cfg(test)]
mod tests;
