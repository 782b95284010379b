//! The one place todos change.
//!
//! Each change is validated, written with its event in one transaction (see
//! [`store::todos::apply`]), and then published to the user's sockets. Nothing else writes
//! todos, which is what makes "no lost, duplicated or out-of-order event" hold.

use std::sync::Arc;

use protocol::{StatusFilter, TODO_PAGE_MAX, Todo, TodoDescription, TodoTitle, UpdateTodo};

use crate::error::{Error, Result};
use crate::fanout::bus::Bus;
use crate::store::todos::{self as store, Change};
use crate::store::{Db, events, users};

/// The most JSON one page of todos (a `todo.list` ack, a `todo.snapshot` part) may carry
/// before it is cut. A todo is at most ~70 KB of JSON (10,000 escaped characters of
/// description), so every frame the server builds from todos stays well under a MiB however
/// long the list is: big lists are never dropped for their size, they come in more pages.
pub const PAGE_BYTES: usize = 256 * 1024;

/// One page of `todo.list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub todos: Vec<Todo>,
    /// The last todo's id, when more remain.
    pub next_after: Option<i64>,
}

/// How many of the first `todos` make one page: at most `limit`, and no more than
/// [`PAGE_BYTES`] of JSON — but always at least one, so paging always advances.
pub fn page_len(todos: &[Todo], limit: usize) -> usize {
    let mut bytes = 0;
    let mut n = 0;
    for t in todos.iter().take(limit) {
        bytes += serde_json::to_string(t).map_or(0, |j| j.len() + 1);
        if n > 0 && bytes > PAGE_BYTES {
            break;
        }
        n += 1;
    }
    n
}

#[derive(Clone)]
pub struct Todos {
    db: Db,
    bus: Bus,
    retention: i64,
    /// SQLite has one writer at a time. Queuing write transactions here, in order, beats
    /// letting them collide in SQLite's busy handler, which sleeps and retries (measured: p99
    /// ack 243 ms at 1,000 commands/s with 16 connections contending).
    sqlite_writer: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl Todos {
    pub fn new(db: Db, bus: Bus, retention: i64) -> Self {
        let sqlite_writer = (!db.is_postgres()).then(|| Arc::new(tokio::sync::Mutex::new(())));
        Self {
            db,
            bus,
            retention,
            sqlite_writer,
        }
    }

    pub async fn create(
        &self,
        user_id: i64,
        title: &str,
        description: Option<&str>,
    ) -> Result<Todo> {
        let title = TodoTitle::parse(title)?;
        let description = TodoDescription::parse(description.unwrap_or(""))?;
        let change = Change::Create {
            title: title.as_str(),
            description: description.as_str(),
        };
        match self.apply(user_id, change).await? {
            protocol::TodoEvent::Created { todo } => Ok(todo),
            _ => Err(Error::Internal(anyhow::anyhow!(
                "create produced another event"
            ))),
        }
    }

    /// Changes any of title, description, completed. At least one must be given.
    pub async fn update(&self, user_id: i64, id: i64, patch: &UpdateTodo) -> Result<Todo> {
        if patch.is_empty() {
            return Err(protocol::ApiError::new(
                protocol::ErrorCode::ValidationFailed,
                "body: give at least one of title, description, completed",
            )
            .into());
        }
        let title = patch.title.as_deref().map(TodoTitle::parse).transpose()?;
        let description = patch
            .description
            .as_deref()
            .map(TodoDescription::parse)
            .transpose()?;
        let change = Change::Update {
            id,
            title: title.as_ref().map(TodoTitle::as_str),
            description: description.as_ref().map(TodoDescription::as_str),
            completed: patch.completed,
        };
        match self.apply(user_id, change).await? {
            protocol::TodoEvent::Updated { todo } => Ok(todo),
            _ => Err(Error::Internal(anyhow::anyhow!(
                "update produced another event"
            ))),
        }
    }

    pub async fn delete(&self, user_id: i64, id: i64) -> Result<()> {
        self.apply(user_id, Change::Delete { id }).await.map(|_| ())
    }

    async fn apply(&self, user_id: i64, change: Change<'_>) -> Result<protocol::TodoEvent> {
        let applied = {
            let _turn = match &self.sqlite_writer {
                Some(lock) => Some(lock.lock().await),
                None => None,
            };
            store::apply(&self.db, user_id, change, self.retention)
                .await?
                .ok_or_else(|| Error::not_found("todo"))?
        };
        self.bus
            .event_committed(user_id, applied.seq, applied.event.clone());
        Ok(applied.event)
    }

    pub async fn get(&self, user_id: i64, id: i64) -> Result<Todo> {
        store::get(&self.db, user_id, id)
            .await?
            .ok_or_else(|| Error::not_found("todo"))
    }

    /// All the user's todos (with this status), oldest first: the REST list, bounded by
    /// `MAX_TODOS_PER_USER`.
    pub async fn list(&self, user_id: i64, status: StatusFilter) -> Result<Vec<Todo>> {
        Ok(store::list(&self.db, user_id, status, 0, i64::MAX).await?)
    }

    /// One page of `todo.list`: the todos with an id above `after`, oldest first, at most
    /// `limit` ([`TODO_PAGE_MAX`] by default and at most) and at most [`PAGE_BYTES`] of JSON;
    /// `next_after` when more remain.
    pub async fn page(
        &self,
        user_id: i64,
        status: StatusFilter,
        after: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Page> {
        let limit = match limit {
            Some(0) => {
                return Err(Error::api(
                    protocol::ErrorCode::ValidationFailed,
                    format!("limit: must be between 1 and {TODO_PAGE_MAX}"),
                ));
            }
            Some(n) => n.min(TODO_PAGE_MAX),
            None => TODO_PAGE_MAX,
        } as usize;
        // One more than asked for says whether more remain.
        let mut todos = store::list(
            &self.db,
            user_id,
            status,
            after.unwrap_or(0).max(0),
            limit as i64 + 1,
        )
        .await?;
        let n = page_len(&todos, limit);
        let next_after = (todos.len() > n).then(|| todos[n - 1].id);
        todos.truncate(n);
        Ok(Page { todos, next_after })
    }

    /// How many todos the user has (with this status).
    pub async fn count(&self, user_id: i64, status: StatusFilter) -> Result<i64> {
        Ok(store::count(&self.db, user_id, status).await?)
    }

    /// The user's latest event number (what a new socket's `welcome` says).
    pub async fn latest_seq(&self, user_id: i64) -> Result<i64> {
        Ok(users::last_seq(&self.db, user_id).await?)
    }

    /// All todos as of one `seq`, read in one transaction and cut into the parts of a
    /// `todo.snapshot` (each at most [`TODO_PAGE_MAX`] todos and [`PAGE_BYTES`] of JSON;
    /// always at least one part, empty for a user with no todos).
    pub async fn snapshot(&self, user_id: i64) -> Result<(i64, Vec<Vec<Todo>>)> {
        let (seq, mut todos) = store::snapshot(&self.db, user_id).await?;
        let mut parts = Vec::new();
        while !todos.is_empty() {
            let rest = todos.split_off(page_len(&todos, TODO_PAGE_MAX as usize));
            parts.push(std::mem::replace(&mut todos, rest));
        }
        if parts.is_empty() {
            parts.push(Vec::new());
        }
        Ok((seq, parts))
    }

    /// Logged events after `after_seq` (at most `limit`), or `None` when the log no longer
    /// reaches back that far (send a snapshot instead).
    pub async fn events_after(
        &self,
        user_id: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Option<Vec<(i64, protocol::TodoEvent)>>> {
        let (evs, complete) = events::after(&self.db, user_id, after_seq, limit).await?;
        Ok(complete.then_some(evs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn todo(id: i64, description_len: usize) -> Todo {
        let at = chrono::Utc::now();
        Todo {
            id,
            title: format!("t{id}"),
            description: "d".repeat(description_len),
            completed: false,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn pages_are_cut_by_count_and_by_bytes_and_always_advance() {
        let small: Vec<Todo> = (1..=600).map(|i| todo(i, 10)).collect();
        assert_eq!(page_len(&small, 500), 500);
        assert_eq!(page_len(&small[..3], 500), 3);
        assert_eq!(page_len(&[], 500), 0);
        let big: Vec<Todo> = (1..=100).map(|i| todo(i, 10_000)).collect();
        let n = page_len(&big, 500);
        assert!(n > 1 && n < 100, "{n}");
        let json = serde_json::to_string(&big[..n]).unwrap();
        assert!(json.len() <= PAGE_BYTES, "{}", json.len());
        // One todo over the budget still makes a page of one.
        let huge = vec![todo(1, 300_000)];
        assert_eq!(page_len(&huge, 500), 1);
    }
}
