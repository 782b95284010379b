//! `--verify` / `--verify-from`: check, through the public API only, that what a recorded run
//! was told happened did happen, exactly once.
//!
//! For every user of the record: log in over REST, `GET /api/todos?status=all`, open a socket
//! (its `welcome.seq` is the user's latest event) and send `hello {last_seq: 0}`. Then:
//!
//! - **lost**: an acknowledged add whose todo is missing (not deleted by an acknowledged or
//!   unanswered delete), or present with another title, or an acknowledged complete that the
//!   todo does not show;
//! - **duplicated**: a title of this run present more than once;
//! - **unexpected**: a change that was answered with an error (or never sent) but happened
//!   anyway: a todo of this run that no add was acknowledged or left unanswered for, a todo
//!   whose delete was acknowledged, a completion nobody asked for, a todo gone whose delete was
//!   answered with an error;
//! - **gaps**: the replay is not exactly `1, 2, …, latest`, or the welcome `seq` is below a
//!   `seq` some socket saw during the run (an acknowledged event was rolled back);
//! - **log mismatches**: the replayed log does not agree with the todo list (folding every
//!   event gives another list), or the event at a recorded `seq` is not the recorded change.
//!
//! When the log no longer reaches back to 1 (pruned), the server answers with a snapshot: it
//! must equal the list, and a second `hello` for the last [`WINDOW`] events must replay them
//! without a gap. Only this run's todos (titles ending in `.<tag>`) are judged, so users reused
//! from earlier runs do not produce findings; chat-made todos are not recorded and not judged.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{
    AckResult, ClientFrame, ClientMessage, ServerMessage, Todo, TodoEvent, TodosResponse,
};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::prep::{self, Target};
use crate::record::{self, Change, Record};
use crate::session::{self, Endpoint, Ws};

/// How many of the latest events the second `hello` asks for when the log was pruned.
pub const WINDOW: i64 = 500;

/// At most this many findings are described in the report.
const MAX_EXAMPLES: usize = 40;

/// What the verification found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub record: String,
    pub tag: String,
    pub users: u64,
    pub users_checked: u64,
    pub record_lines: u64,
    /// Lines that did not parse (a run killed mid-write leaves half a line).
    pub bad_lines: u64,
    pub acked_adds: u64,
    pub acked_completes: u64,
    pub acked_deletes: u64,
    /// Changes sent that were never answered: either outcome is accepted.
    pub unknown: u64,
    /// Changes answered with an error: they must not have happened.
    pub failed: u64,
    /// Acknowledged adds not (acknowledged-)deleted: they must all be there.
    pub todos_expected: u64,
    /// Todos of this run in the users' lists.
    pub todos_found: u64,
    /// Users whose `hello {last_seq: 0}` replayed the whole log / answered with a snapshot.
    pub users_replayed: u64,
    pub users_snapshot: u64,
    pub events_replayed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub unexpected: u64,
    pub gaps: u64,
    pub log_mismatches: u64,
    /// Users that could not be checked at all (login or socket failed).
    pub unverified_users: u64,
    /// The sum of the six counts above.
    pub findings: u64,
    pub examples: Vec<String>,
    pub secs: f64,
}

impl VerifyReport {
    fn add(&mut self, f: Findings) {
        self.users_checked += u64::from(f.checked);
        self.todos_found += f.todos_found;
        self.users_replayed += u64::from(f.replayed);
        self.users_snapshot += u64::from(f.snapshot);
        self.events_replayed += f.events;
        self.lost += f.lost;
        self.duplicated += f.duplicated;
        self.unexpected += f.unexpected;
        self.gaps += f.gaps;
        self.log_mismatches += f.log_mismatches;
        self.unverified_users += f.unverified;
        let room = MAX_EXAMPLES.saturating_sub(self.examples.len());
        self.examples.extend(f.examples.into_iter().take(room));
        self.findings = self.lost
            + self.duplicated
            + self.unexpected
            + self.gaps
            + self.log_mismatches
            + self.unverified_users;
    }

    /// The human summary.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "\n== verification of {} (run tag {}) ==\n\
             users {} checked {}/{}; record lines {} (unreadable {})\n\
             acknowledged: {} adds, {} completes, {} deletes; unanswered {}, failed {}\n\
             todos expected {}, found {}; logs replayed {} (events {}), snapshots {}\n\
             findings {}: lost {}, duplicated {}, unexpected {}, gaps {}, log mismatches {}, unverified users {} ({:.1} s)\n",
            self.record,
            self.tag,
            self.users,
            self.users_checked,
            self.users,
            self.record_lines,
            self.bad_lines,
            self.acked_adds,
            self.acked_completes,
            self.acked_deletes,
            self.unknown,
            self.failed,
            self.todos_expected,
            self.todos_found,
            self.users_replayed,
            self.events_replayed,
            self.users_snapshot,
            self.findings,
            self.lost,
            self.duplicated,
            self.unexpected,
            self.gaps,
            self.log_mismatches,
            self.unverified_users,
            self.secs
        );
        for e in &self.examples {
            out.push_str(&format!("  {e}\n"));
        }
        out
    }
}

/// What the record says about one user.
#[derive(Debug, Default)]
struct Expect {
    email: String,
    /// Acknowledged adds: todo id → (title, seq).
    adds: HashMap<i64, (String, Option<i64>)>,
    completes: HashMap<i64, Option<i64>>,
    deletes: HashMap<i64, Option<i64>>,
    unknown_titles: HashSet<String>,
    unknown_ids: HashSet<(Change, i64)>,
    failed_titles: HashSet<String>,
    failed_ids: HashSet<(Change, i64)>,
    max_seen: i64,
}

/// The record folded per user.
#[derive(Debug, Default)]
struct Expected {
    tag: String,
    users: BTreeMap<usize, Expect>,
}

/// Note an unknown or failed change: by title for an add, by todo id for the others.
fn unresolved(
    titles: &mut HashSet<String>,
    ids: &mut HashSet<(Change, i64)>,
    change: Change,
    todo: Option<i64>,
    title: Option<String>,
) {
    titles.extend(title);
    ids.extend(todo.map(|id| (change, id)));
}

fn fold(records: Vec<Record>, report: &mut VerifyReport) -> Expected {
    let mut e = Expected::default();
    let mut prefix = String::new();
    for r in records {
        report.record_lines += 1;
        match r {
            Record::Run { tag, prefix: p, .. } => {
                e.tag = tag;
                prefix = p;
            }
            Record::User { user, email } => e.users.entry(user).or_default().email = email,
            Record::Add {
                user,
                todo,
                title,
                seq,
            } => {
                report.acked_adds += 1;
                e.users
                    .entry(user)
                    .or_default()
                    .adds
                    .insert(todo, (title, seq));
            }
            Record::Complete { user, todo, seq } => {
                report.acked_completes += 1;
                e.users.entry(user).or_default().completes.insert(todo, seq);
            }
            Record::Delete { user, todo, seq } => {
                report.acked_deletes += 1;
                e.users.entry(user).or_default().deletes.insert(todo, seq);
            }
            Record::Unknown {
                user,
                change,
                todo,
                title,
            } => {
                report.unknown += 1;
                let u = e.users.entry(user).or_default();
                unresolved(
                    &mut u.unknown_titles,
                    &mut u.unknown_ids,
                    change,
                    todo,
                    title,
                );
            }
            Record::Failed {
                user,
                change,
                todo,
                title,
                ..
            } => {
                report.failed += 1;
                let u = e.users.entry(user).or_default();
                unresolved(&mut u.failed_titles, &mut u.failed_ids, change, todo, title);
            }
            Record::Seen { user, seq } => {
                let u = e.users.entry(user).or_default();
                u.max_seen = u.max_seen.max(seq);
            }
        }
    }
    for (i, u) in e.users.iter_mut() {
        if u.email.is_empty() {
            u.email = prep::email(&prefix, *i);
        }
    }
    report.tag = e.tag.clone();
    report.users = e.users.len() as u64;
    report.todos_expected = e
        .users
        .values()
        .map(|u| {
            u.adds
                .keys()
                .filter(|id| !u.deletes.contains_key(id))
                .count() as u64
        })
        .sum();
    e
}

/// What one user's check found.
#[derive(Debug, Default)]
struct Findings {
    checked: bool,
    unverified: u64,
    todos_found: u64,
    replayed: bool,
    snapshot: bool,
    events: u64,
    lost: u64,
    duplicated: u64,
    unexpected: u64,
    gaps: u64,
    log_mismatches: u64,
    examples: Vec<String>,
}

impl Findings {
    fn note(&mut self, text: String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(text);
        }
    }
}

/// What `hello` brought back.
#[derive(Debug, Clone, PartialEq)]
enum LogView {
    /// Events after the asked `last_seq`, in arrival order, and the `seq` the ack reported.
    Replay {
        events: Vec<(i64, TodoEvent)>,
        latest: i64,
    },
    /// All parts of a snapshot.
    Snapshot { seq: i64, todos: Vec<Todo> },
}

/// The todo checks of one user (pure: the list and the record).
fn check_todos(user: usize, e: &Expect, tag: &str, todos: &[Todo], f: &mut Findings) {
    let suffix = format!(".{tag}");
    let ours: Vec<&Todo> = todos
        .iter()
        .filter(|t| t.title.ends_with(&suffix))
        .collect();
    f.todos_found += ours.len() as u64;
    let mut by_title: HashMap<&str, u64> = HashMap::new();
    for t in &ours {
        *by_title.entry(t.title.as_str()).or_default() += 1;
    }
    for (title, n) in &by_title {
        if *n > 1 {
            f.duplicated += n - 1;
            f.note(format!(
                "user {user}: duplicated: {title:?} is there {n} times"
            ));
        }
    }
    let by_id: HashMap<i64, &Todo> = ours.iter().map(|t| (t.id, *t)).collect();
    for (id, (title, _)) in &e.adds {
        let present = by_id.get(id);
        let deleted = e.deletes.contains_key(id);
        let delete_unknown = e.unknown_ids.contains(&(Change::Delete, *id));
        match present {
            Some(_) if deleted => {
                f.unexpected += 1;
                f.note(format!("user {user}: unexpected: todo {id} {title:?} is there after its delete was acknowledged"));
            }
            None if e.failed_ids.contains(&(Change::Delete, *id)) => {
                f.unexpected += 1;
                f.note(format!("user {user}: unexpected: todo {id} {title:?} is gone, its delete was answered with an error"));
            }
            None if !deleted && !delete_unknown => {
                f.lost += 1;
                f.note(format!(
                    "user {user}: lost: acknowledged todo {id} {title:?} is missing"
                ));
            }
            Some(t) => {
                if t.title != *title {
                    f.lost += 1;
                    f.note(format!(
                        "user {user}: lost: todo {id} is titled {:?}, acknowledged as {title:?}",
                        t.title
                    ));
                }
                let change = (Change::Complete, *id);
                if e.completes.contains_key(id) && !t.completed {
                    f.lost += 1;
                    f.note(format!(
                        "user {user}: lost: acknowledged complete of todo {id} not kept"
                    ));
                } else if t.completed
                    && !e.completes.contains_key(id)
                    && !e.unknown_ids.contains(&change)
                {
                    f.unexpected += 1;
                    f.note(format!("user {user}: unexpected: todo {id} is completed, no complete was acknowledged"));
                }
            }
            None => {}
        }
    }
    for t in &ours {
        if e.adds.contains_key(&t.id) || e.unknown_titles.contains(&t.title) {
            continue;
        }
        f.unexpected += 1;
        if e.failed_titles.contains(&t.title) {
            f.note(format!("user {user}: unexpected: add of {:?} was answered with an error but the todo exists (id {})", t.title, t.id));
        } else {
            f.note(format!(
                "user {user}: unexpected: todo {} {:?} is in no record",
                t.id, t.title
            ));
        }
    }
}

/// The log checks of one user: `welcome_seq` from the verification socket, `view` the answer
/// to `hello {last_seq: 0}`, `window` the answer to the second `hello` when the first was a
/// snapshot.
fn check_log(
    user: usize,
    e: &Expect,
    welcome_seq: i64,
    todos: &[Todo],
    view: &LogView,
    window: Option<(i64, &LogView)>,
    f: &mut Findings,
) {
    if welcome_seq < e.max_seen {
        f.gaps += 1;
        f.note(format!("user {user}: gap: welcome seq {welcome_seq} is below seq {} a socket saw during the run", e.max_seen));
    }
    let same_list = |f: &mut Findings, what: &str, got: &[Todo]| {
        let a: BTreeMap<i64, (&str, bool)> = todos
            .iter()
            .map(|t| (t.id, (t.title.as_str(), t.completed)))
            .collect();
        let b: BTreeMap<i64, (&str, bool)> = got
            .iter()
            .map(|t| (t.id, (t.title.as_str(), t.completed)))
            .collect();
        if a != b {
            let keys: HashSet<&i64> = a.keys().chain(b.keys()).collect();
            let differ = keys.into_iter().filter(|k| a.get(k) != b.get(k)).count();
            f.log_mismatches += 1;
            f.note(format!(
                "user {user}: log mismatch: {what} differs from the todo list in {differ} todo(s)"
            ));
        }
    };
    match view {
        LogView::Replay { events, latest } => {
            f.replayed = true;
            f.events += events.len() as u64;
            check_contiguous(user, 0, events, *latest, welcome_seq, f);
            let mut folded: BTreeMap<i64, Todo> = BTreeMap::new();
            for (_, ev) in events {
                match ev {
                    TodoEvent::Created { todo } | TodoEvent::Updated { todo } => {
                        folded.insert(todo.id, todo.clone());
                    }
                    TodoEvent::Deleted { todo_id } => {
                        folded.remove(todo_id);
                    }
                }
            }
            let folded: Vec<Todo> = folded.into_values().collect();
            same_list(f, "the replayed log", &folded);
            check_recorded_seqs(user, e, events, f);
        }
        LogView::Snapshot { seq, todos: snap } => {
            f.snapshot = true;
            if *seq < welcome_seq {
                f.gaps += 1;
                f.note(format!(
                    "user {user}: gap: snapshot seq {seq} is below the welcome seq {welcome_seq}"
                ));
            }
            same_list(f, "the snapshot", snap);
            match window {
                Some((from, LogView::Replay { events, latest })) => {
                    f.events += events.len() as u64;
                    check_contiguous(user, from, events, *latest, welcome_seq, f);
                    check_recorded_seqs(user, e, events, f);
                }
                // The window, too, was answered with a snapshot: the log keeps fewer than
                // WINDOW events; nothing more to check.
                Some((_, LogView::Snapshot { .. })) | None => {}
            }
        }
    }
}

/// The replay after `from` must be exactly `from+1 ..= latest`, and reach the welcome seq.
fn check_contiguous(
    user: usize,
    from: i64,
    events: &[(i64, TodoEvent)],
    latest: i64,
    welcome_seq: i64,
    f: &mut Findings,
) {
    let mut expected = from + 1;
    for (seq, _) in events {
        if *seq != expected {
            f.gaps += 1;
            f.note(format!(
                "user {user}: gap: replay after {from} has seq {seq} where {expected} was due"
            ));
        }
        expected = seq + 1;
    }
    let last = events.last().map_or(from, |(s, _)| *s);
    if last != latest || latest < welcome_seq {
        f.gaps += 1;
        f.note(format!("user {user}: gap: replay after {from} ends at {last}, the server's seq is {latest}, the welcome said {welcome_seq}"));
    }
}

/// The event at each recorded seq must be that change.
fn check_recorded_seqs(user: usize, e: &Expect, events: &[(i64, TodoEvent)], f: &mut Findings) {
    let at: HashMap<i64, &TodoEvent> = events.iter().map(|(s, ev)| (*s, ev)).collect();
    let recorded = e
        .adds
        .iter()
        .filter_map(|(id, (_, s))| s.map(|s| (s, Change::Add, *id)))
        .chain(
            e.completes
                .iter()
                .filter_map(|(id, s)| s.map(|s| (s, Change::Complete, *id))),
        )
        .chain(
            e.deletes
                .iter()
                .filter_map(|(id, s)| s.map(|s| (s, Change::Delete, *id))),
        );
    for (seq, change, id) in recorded {
        let Some(ev) = at.get(&seq) else { continue };
        let matches = match (change, ev) {
            (Change::Add, TodoEvent::Created { todo }) => todo.id == id,
            (Change::Complete, TodoEvent::Updated { todo }) => todo.id == id && todo.completed,
            (Change::Delete, TodoEvent::Deleted { todo_id }) => *todo_id == id,
            _ => false,
        };
        if !matches {
            f.log_mismatches += 1;
            f.note(format!("user {user}: log mismatch: seq {seq} should be the {change:?} of todo {id}, the log has {ev:?}"));
        }
    }
}

/// Send `hello {last_seq}` and collect the replay (or snapshot) up to its ack.
async fn hello(ws: &mut Ws, last_seq: i64, id: &str) -> Result<LogView, String> {
    let frame = ClientFrame {
        id: Some(id.to_string()),
        msg: ClientMessage::Hello {
            last_seq: Some(last_seq),
        },
    };
    let text = serde_json::to_string(&frame).map_err(|_| "serialize".to_string())?;
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("send:{}", session::classify_ws_error(&e)))?;
    let mut events = Vec::new();
    let mut snapshot: Option<(i64, Vec<Todo>)> = None;
    // Bounded by the caller's timeout and by the stream ending.
    while let Some(msg) = ws.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(c)) => {
                return Err(format!("close:{}", session::close_code(c.as_ref())));
            }
            Ok(_) => continue,
            Err(e) => return Err(format!("disconnect:{}", session::classify_ws_error(&e))),
        };
        let msg: ServerMessage =
            serde_json::from_str(&text).map_err(|_| "bad_frame".to_string())?;
        match msg {
            ServerMessage::TodoCreated { seq, todo } => {
                events.push((seq, TodoEvent::Created { todo }))
            }
            ServerMessage::TodoUpdated { seq, todo } => {
                events.push((seq, TodoEvent::Updated { todo }))
            }
            ServerMessage::TodoDeleted { seq, todo_id } => {
                events.push((seq, TodoEvent::Deleted { todo_id }))
            }
            ServerMessage::TodoSnapshot { seq, todos, .. } => {
                snapshot
                    .get_or_insert_with(|| (seq, Vec::new()))
                    .1
                    .extend(todos);
            }
            ServerMessage::Ack {
                id: Some(got),
                result,
            } if got == id => {
                let latest = match result {
                    AckResult::Resumed { seq } => seq,
                    other => return Err(format!("hello ack without a seq: {other:?}")),
                };
                return Ok(match snapshot {
                    Some((seq, todos)) => LogView::Snapshot { seq, todos },
                    None => LogView::Replay { events, latest },
                });
            }
            ServerMessage::Error {
                id: Some(got),
                code,
                ..
            } if got == id => {
                return Err(format!("error_frame:{code}"));
            }
            _ => {}
        }
    }
    Err("eof".to_string())
}

/// What every user's check shares.
struct Ctx<'a> {
    client: reqwest::Client,
    target: &'a Target,
    endpoint: Endpoint,
    password: &'a str,
    tag: String,
    timeout: Duration,
}

/// Everything about one user, through the public API.
async fn check_user(ctx: &Ctx<'_>, user: usize, e: &Expect) -> Findings {
    let (client, target) = (&ctx.client, ctx.target);
    let mut f = Findings::default();
    let unverified = |mut f: Findings, why: String| {
        f.unverified = 1;
        f.note(format!("user {user} ({}): not verified: {why}", e.email));
        f
    };
    let token = match prep::sign_in(client, target, &e.email, ctx.password, None).await {
        Ok(t) => t,
        Err(kind) => return unverified(f, format!("login {kind}")),
    };
    let todos = match list_todos(client, target, &token).await {
        Ok(t) => t,
        Err(kind) => return unverified(f, format!("GET /api/todos {kind}")),
    };
    let socket = async {
        let (mut ws, welcome_seq) = session::connect(&ctx.endpoint, &token).await?;
        let view = hello(&mut ws, 0, "verify-full").await?;
        let window = match &view {
            LogView::Snapshot { seq, .. } if *seq > 0 => {
                let from = (seq - WINDOW).max(0);
                Some((from, hello(&mut ws, from, "verify-window").await?))
            }
            _ => None,
        };
        let _ = ws.close(None).await;
        Ok::<_, String>((welcome_seq, view, window))
    };
    let (welcome_seq, view, window) = match tokio::time::timeout(ctx.timeout, socket).await {
        Ok(Ok(v)) => v,
        Ok(Err(kind)) => return unverified(f, format!("socket {kind}")),
        Err(_) => return unverified(f, "socket timed out".to_string()),
    };
    f.checked = true;
    check_todos(user, e, &ctx.tag, &todos, &mut f);
    check_log(
        user,
        e,
        welcome_seq,
        &todos,
        &view,
        window.as_ref().map(|(from, v)| (*from, v)),
        &mut f,
    );
    f
}

async fn list_todos(
    client: &reqwest::Client,
    target: &Target,
    token: &str,
) -> Result<Vec<Todo>, String> {
    let url = target
        .base
        .join("api/todos?status=all")
        .map_err(|e| format!("url:{e}"))?;
    let resp = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(prep::request_error)?;
    if !resp.status().is_success() {
        return Err(format!("http_{}", resp.status().as_u16()));
    }
    resp.json::<TodosResponse>()
        .await
        .map(|r| r.todos)
        .map_err(|_| "bad_body".to_string())
}

/// Verify the record at `path` against `target`.
pub async fn verify(
    path: &Path,
    target: &Target,
    password: &str,
    concurrency: usize,
    timeout: Duration,
) -> anyhow::Result<VerifyReport> {
    let started = Instant::now();
    let (records, bad) = record::read(path)?;
    let mut report = VerifyReport {
        record: path.display().to_string(),
        bad_lines: bad,
        ..Default::default()
    };
    let expected = fold(records, &mut report);
    if expected.tag.is_empty() {
        anyhow::bail!(
            "{} has no run line: not a record of loadtest --record",
            path.display()
        );
    }
    let ctx = Ctx {
        client: prep::http_client(concurrency)?,
        target,
        endpoint: Endpoint {
            ws_url: target.ws_uri()?,
            addr: target.socket_addr().await?,
            source: None,
        },
        password,
        tag: expected.tag.clone(),
        // A replay of up to 1,000 events per user: generous, but bounded.
        timeout: timeout.max(Duration::from_secs(30)),
    };
    let mut results = futures_util::stream::iter(expected.users.iter())
        .map(|(user, e)| check_user(&ctx, *user, e))
        .buffer_unordered(concurrency);
    while let Some(f) = results.next().await {
        report.add(f);
    }
    report.secs = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn todo(id: i64, title: &str, completed: bool) -> Todo {
        Todo {
            id,
            title: title.into(),
            description: String::new(),
            completed,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn expect() -> Expect {
        let mut e = Expect::default();
        e.adds.insert(1, ("lt0.0.1.t".into(), Some(1)));
        e.completes.insert(1, Some(2));
        e.adds.insert(2, ("lt0.0.4.t".into(), Some(3)));
        e.deletes.insert(2, Some(4));
        e.adds.insert(3, ("lt0.1.1.t".into(), Some(5)));
        e.unknown_titles.insert("lt0.1.2.t".into());
        e.failed_titles.insert("lt0.1.3.t".into());
        e.max_seen = 5;
        e
    }

    fn log() -> Vec<(i64, TodoEvent)> {
        vec![
            (
                1,
                TodoEvent::Created {
                    todo: todo(1, "lt0.0.1.t", false),
                },
            ),
            (
                2,
                TodoEvent::Updated {
                    todo: todo(1, "lt0.0.1.t", true),
                },
            ),
            (
                3,
                TodoEvent::Created {
                    todo: todo(2, "lt0.0.4.t", false),
                },
            ),
            (4, TodoEvent::Deleted { todo_id: 2 }),
            (
                5,
                TodoEvent::Created {
                    todo: todo(3, "lt0.1.1.t", false),
                },
            ),
        ]
    }

    fn run(todos: &[Todo], view: &LogView, welcome: i64) -> Findings {
        let mut f = Findings::default();
        let e = expect();
        check_todos(0, &e, "t", todos, &mut f);
        check_log(0, &e, welcome, todos, view, None, &mut f);
        f
    }

    fn good_list() -> Vec<Todo> {
        vec![
            todo(1, "lt0.0.1.t", true),
            todo(3, "lt0.1.1.t", false),
            // Not this run's: ignored.
            todo(9, "buy milk", false),
        ]
    }

    #[test]
    fn a_kept_run_has_no_findings() {
        let mut list = good_list();
        let mut events = log();
        events.push((
            6,
            TodoEvent::Created {
                todo: todo(9, "buy milk", false),
            },
        ));
        let f = run(
            &list,
            &LogView::Replay {
                events: events.clone(),
                latest: 6,
            },
            6,
        );
        assert!(f.examples.is_empty(), "{:?}", f.examples);
        // An unanswered add may have happened.
        list.push(todo(4, "lt0.1.2.t", false));
        events.push((
            7,
            TodoEvent::Created {
                todo: todo(4, "lt0.1.2.t", false),
            },
        ));
        let f = run(&list, &LogView::Replay { events, latest: 7 }, 7);
        assert!(f.examples.is_empty(), "{:?}", f.examples);
    }

    #[test]
    fn each_kind_of_finding_is_caught() {
        let replay = |events: Vec<(i64, TodoEvent)>, latest| LogView::Replay { events, latest };
        let mut events = log();
        events.push((
            6,
            TodoEvent::Created {
                todo: todo(9, "buy milk", false),
            },
        ));

        // Lost: todo 3 deleted behind the run's back (the log shows the delete).
        let list: Vec<Todo> = good_list().into_iter().filter(|t| t.id != 3).collect();
        let mut ev = events.clone();
        ev.push((7, TodoEvent::Deleted { todo_id: 3 }));
        let f = run(&list, &replay(ev, 7), 7);
        assert_eq!(
            (f.lost, f.gaps, f.log_mismatches),
            (1, 0, 0),
            "{:?}",
            f.examples
        );

        // Lost: the complete of todo 1 not kept.
        let mut list = good_list();
        list[0].completed = false;
        let f = run(&list, &replay(events.clone(), 6), 6);
        assert_eq!(f.lost, 1);

        // Duplicated, and unexpected (a failed add that exists).
        let mut list = good_list();
        list.push(todo(7, "lt0.1.1.t", false));
        list.push(todo(8, "lt0.1.3.t", false));
        let f = run(&list, &replay(events.clone(), 6), 6);
        assert_eq!((f.duplicated, f.unexpected), (1, 2), "{:?}", f.examples);

        // Unexpected: a delete answered with an error that happened anyway.
        let mut e = expect();
        e.failed_ids.insert((Change::Delete, 3));
        let list: Vec<Todo> = good_list().into_iter().filter(|t| t.id != 3).collect();
        let mut f = Findings::default();
        check_todos(0, &e, "t", &list, &mut f);
        assert_eq!((f.unexpected, f.lost), (1, 0), "{:?}", f.examples);

        // Unexpected: the acknowledged delete of todo 2 not applied.
        let mut list = good_list();
        list.push(todo(2, "lt0.0.4.t", false));
        let f = run(&list, &replay(events.clone(), 6), 6);
        assert_eq!(f.unexpected, 1);

        // Gaps: a hole in the replay, and a welcome below what a socket saw.
        let mut holed = events.clone();
        holed.remove(2);
        let f = run(&good_list(), &replay(holed, 6), 6);
        assert!(f.gaps >= 1, "{:?}", f.examples);
        let f = run(&good_list(), &replay(events[..3].to_vec(), 3), 3);
        assert!(f.gaps >= 1);

        // Log mismatch: the event at a recorded seq is another change.
        let mut swapped = events.clone();
        swapped[0] = (
            1,
            TodoEvent::Created {
                todo: todo(5, "other", false),
            },
        );
        swapped.push((7, TodoEvent::Deleted { todo_id: 5 }));
        let f = run(&good_list(), &replay(swapped, 7), 7);
        assert_eq!(f.log_mismatches, 1, "{:?}", f.examples);
    }

    #[test]
    fn a_snapshot_must_equal_the_list_and_the_window_must_be_whole() {
        let e = expect();
        let list = good_list();
        let snap = LogView::Snapshot {
            seq: 6,
            todos: list.clone(),
        };
        let window = LogView::Replay {
            events: log()[3..].to_vec(),
            latest: 5,
        };
        let mut f = Findings::default();
        check_log(0, &e, 5, &list, &snap, Some((3, &window)), &mut f);
        assert!(f.examples.is_empty(), "{:?}", f.examples);
        let mut f = Findings::default();
        let other = LogView::Snapshot {
            seq: 6,
            todos: list[..1].to_vec(),
        };
        check_log(0, &e, 5, &list, &other, None, &mut f);
        assert_eq!(f.log_mismatches, 1);
    }
}
