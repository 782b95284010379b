//! `todos` and the write path that also numbers and logs the change (`todo_events`).

use chrono::{DateTime, Utc};
use protocol::{StatusFilter, Todo, TodoEvent};

use super::{Db, now};
use crate::with_pool;

type Row = (i64, String, String, bool, DateTime<Utc>, DateTime<Utc>);

fn todo((id, title, description, completed, created_at, updated_at): Row) -> Todo {
    Todo {
        id,
        title,
        description,
        completed,
        created_at,
        updated_at,
    }
}

/// A validated change to one user's todos.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    Create {
        title: &'a str,
        description: &'a str,
    },
    Update {
        id: i64,
        title: Option<&'a str>,
        description: Option<&'a str>,
        completed: Option<bool>,
    },
    Delete {
        id: i64,
    },
}

/// A committed change: its event and the event's number.
#[derive(Debug, Clone)]
pub struct Applied {
    pub seq: i64,
    pub event: TodoEvent,
}

/// Applies `change` for `user_id` and, in the same transaction, takes the user's next `seq` and
/// logs the event. `None` when the todo is not the user's (nothing is written).
///
/// Ordering: the first statement is a write, so SQLite takes its write lock at once (no
/// deferred-lock upgrade deadlock); the `users` row update comes last and serialises the
/// user's writers on PostgreSQL, so commit order equals `seq` order. (Other instances are told
/// after commit, in batches, by the bus: a `pg_notify` inside the transaction would serialise
/// every commit behind PostgreSQL's notification lock.)
pub async fn apply(
    db: &Db,
    user_id: i64,
    change: Change<'_>,
    retention: i64,
) -> Result<Option<Applied>, sqlx::Error> {
    const INSERT: &str = "INSERT INTO todos (user_id, title, description, completed, created_at, updated_at) \
                          VALUES ($1, $2, $3, FALSE, $4, $4) \
                          RETURNING id, title, description, completed, created_at, updated_at";
    const UPDATE: &str = "UPDATE todos SET title = COALESCE($3, title), description = COALESCE($4, description), \
                          completed = COALESCE($5, completed), updated_at = $6 \
                          WHERE id = $1 AND user_id = $2 \
                          RETURNING id, title, description, completed, created_at, updated_at";
    const DELETE: &str = "DELETE FROM todos WHERE id = $1 AND user_id = $2 RETURNING id";
    const NEXT_SEQ: &str =
        "UPDATE users SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq";
    const LOG: &str =
        "INSERT INTO todo_events (user_id, seq, payload, created_at) VALUES ($1, $2, $3, $4)";
    const PRUNE: &str = "DELETE FROM todo_events WHERE user_id = $1 AND seq <= $2";

    let at = now();
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let event = match change {
            Change::Create { title, description } => {
                let row: Row = sqlx::query_as(INSERT).bind(user_id).bind(title).bind(description).bind(at).fetch_one(&mut *tx).await?;
                Some(TodoEvent::Created { todo: todo(row) })
            }
            Change::Update { id, title, description, completed } => {
                let row: Option<Row> = sqlx::query_as(UPDATE).bind(id).bind(user_id).bind(title).bind(description).bind(completed).bind(at).fetch_optional(&mut *tx).await?;
                row.map(|r| TodoEvent::Updated { todo: todo(r) })
            }
            Change::Delete { id } => {
                let row: Option<(i64,)> = sqlx::query_as(DELETE).bind(id).bind(user_id).fetch_optional(&mut *tx).await?;
                row.map(|(todo_id,)| TodoEvent::Deleted { todo_id })
            }
        };
        let Some(event) = event else {
            tx.rollback().await?;
            return Ok(None);
        };
        let (seq,): (i64,) = sqlx::query_as(NEXT_SEQ).bind(user_id).fetch_one(&mut *tx).await?;
        let payload = serde_json::to_string(&event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(LOG).bind(user_id).bind(seq).bind(&payload).bind(at).execute(&mut *tx).await?;
        // Prune now and then rather than on every write.
        if seq % 64 == 0 && seq > retention {
            sqlx::query(PRUNE).bind(user_id).bind(seq - retention).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Some(Applied { seq, event }))
    })
}

pub async fn get(db: &Db, user_id: i64, id: i64) -> Result<Option<Todo>, sqlx::Error> {
    const SQL: &str = "SELECT id, title, description, completed, created_at, updated_at FROM todos WHERE id = $1 AND user_id = $2";
    let row: Option<Row> = with_pool!(db, pool => sqlx::query_as(SQL).bind(id).bind(user_id).fetch_optional(pool).await)?;
    Ok(row.map(todo))
}

/// The user's todos with an id above `after`, oldest first, at most `limit` of them (a page:
/// keyset pagination on the primary key, so a page costs the same wherever it starts).
pub async fn list(
    db: &Db,
    user_id: i64,
    status: StatusFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<Todo>, sqlx::Error> {
    const ALL: &str = "SELECT id, title, description, completed, created_at, updated_at FROM todos \
                       WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3";
    const BY_STATUS: &str = "SELECT id, title, description, completed, created_at, updated_at FROM todos \
                             WHERE user_id = $1 AND id > $2 AND completed = $4 ORDER BY id LIMIT $3";
    let rows: Vec<Row> = match status {
        StatusFilter::All => {
            with_pool!(db, pool => sqlx::query_as(ALL).bind(user_id).bind(after).bind(limit).fetch_all(pool).await)?
        }
        s => {
            with_pool!(db, pool => sqlx::query_as(BY_STATUS).bind(user_id).bind(after).bind(limit).bind(s == StatusFilter::Completed).fetch_all(pool).await)?
        }
    };
    Ok(rows.into_iter().map(todo).collect())
}

/// How many todos the user has (with this status).
pub async fn count(db: &Db, user_id: i64, status: StatusFilter) -> Result<i64, sqlx::Error> {
    const ALL: &str = "SELECT COUNT(*) FROM todos WHERE user_id = $1";
    const BY_STATUS: &str = "SELECT COUNT(*) FROM todos WHERE user_id = $1 AND completed = $2";
    let (n,): (i64,) = match status {
        StatusFilter::All => {
            with_pool!(db, pool => sqlx::query_as(ALL).bind(user_id).fetch_one(pool).await)?
        }
        s => {
            with_pool!(db, pool => sqlx::query_as(BY_STATUS).bind(user_id).bind(s == StatusFilter::Completed).fetch_one(pool).await)?
        }
    };
    Ok(n)
}

/// All todos and the `seq` they reflect, read in one transaction (a consistent snapshot).
pub async fn snapshot(db: &Db, user_id: i64) -> Result<(i64, Vec<Todo>), sqlx::Error> {
    const SEQ: &str = "SELECT last_seq FROM users WHERE id = $1";
    const ALL: &str = "SELECT id, title, description, completed, created_at, updated_at FROM todos WHERE user_id = $1 ORDER BY id";
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let seq: Option<(i64,)> = sqlx::query_as(SEQ).bind(user_id).fetch_optional(&mut *tx).await?;
        let rows: Vec<Row> = sqlx::query_as(ALL).bind(user_id).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok((seq.map_or(0, |s| s.0), rows.into_iter().map(todo).collect()))
    })
}
