//! `conversations` and `messages`: the assistant's saved turns. The one mapping from rows to
//! [`protocol::Conversation`] and [`protocol::Message`] lives here.

use chrono::{DateTime, Utc};
use protocol::{Conversation, Message, Role, ToolCall};

use super::{Db, now};
use crate::with_pool;

type ConvRow = (i64, String, DateTime<Utc>, DateTime<Utc>);

fn conversation((id, title, created_at, updated_at): ConvRow) -> Conversation {
    Conversation {
        id,
        title,
        created_at,
        updated_at,
    }
}

type MsgRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
);

fn message(
    (id, role, content, tool_calls, call_id, name, created_at): MsgRow,
) -> Result<Message, sqlx::Error> {
    let role = Role::parse(&role)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role}").into()))?;
    let tool_calls: Vec<ToolCall> = match tool_calls {
        Some(t) => serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        None => Vec::new(),
    };
    Ok(Message {
        id,
        role,
        content,
        created_at,
        tool_calls,
        call_id,
        name,
    })
}

/// Creates a conversation unless the user already has `max`: `None` then.
///
/// The count and the insert are one transaction that first writes the user's row, which
/// serialises the user's creations on both databases (PostgreSQL's row lock, SQLite's single
/// writer): concurrent creations cannot overshoot the quota.
pub async fn create(
    db: &Db,
    user_id: i64,
    title: &str,
    max: i64,
) -> Result<Option<Conversation>, sqlx::Error> {
    const LOCK: &str = "UPDATE users SET last_seq = last_seq WHERE id = $1";
    const COUNT: &str = "SELECT COUNT(*) FROM conversations WHERE user_id = $1";
    const INSERT: &str = "INSERT INTO conversations (user_id, title, created_at, updated_at) VALUES ($1, $2, $3, $3) \
                          RETURNING id, title, created_at, updated_at";
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(LOCK).bind(user_id).execute(&mut *tx).await?;
        let (n,): (i64,) = sqlx::query_as(COUNT).bind(user_id).fetch_one(&mut *tx).await?;
        if n >= max {
            tx.rollback().await?;
            return Ok(None);
        }
        let row: ConvRow = sqlx::query_as(INSERT).bind(user_id).bind(title).bind(now()).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(conversation(row)))
    })
}

pub async fn get(db: &Db, user_id: i64, id: i64) -> Result<Option<Conversation>, sqlx::Error> {
    const SQL: &str = "SELECT id, title, created_at, updated_at FROM conversations WHERE id = $1 AND user_id = $2";
    let row: Option<ConvRow> = with_pool!(db, pool => sqlx::query_as(SQL).bind(id).bind(user_id).fetch_optional(pool).await)?;
    Ok(row.map(conversation))
}

/// The user's conversations, most recently active first.
pub async fn list(db: &Db, user_id: i64) -> Result<Vec<Conversation>, sqlx::Error> {
    const SQL: &str = "SELECT id, title, created_at, updated_at FROM conversations WHERE user_id = $1 \
                       ORDER BY updated_at DESC, id DESC";
    let rows: Vec<ConvRow> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(conversation).collect())
}

/// Deletes a conversation and its messages; false if it is not the user's.
pub async fn delete(db: &Db, user_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM conversations WHERE id = $1 AND user_id = $2";
    let done = with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// The conversation's messages, oldest first; `None` if it is not the user's.
pub async fn messages(db: &Db, user_id: i64, id: i64) -> Result<Option<Vec<Message>>, sqlx::Error> {
    if get(db, user_id, id).await?.is_none() {
        return Ok(None);
    }
    const SQL: &str = "SELECT id, role, content, tool_calls, call_id, name, created_at FROM messages \
                       WHERE conversation_id = $1 ORDER BY id";
    let rows: Vec<MsgRow> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(id).fetch_all(pool).await)?;
    rows.into_iter()
        .map(message)
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A new message, to be saved before or as it is streamed.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub role: Role,
    pub content: &'a str,
    pub tool_calls: &'a [ToolCall],
    pub call_id: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// Appends a message and touches the conversation's `updated_at`.
pub async fn append(
    db: &Db,
    conversation_id: i64,
    m: NewMessage<'_>,
) -> Result<Message, sqlx::Error> {
    const INSERT: &str = "INSERT INTO messages (conversation_id, role, content, tool_calls, call_id, name, created_at) \
                          VALUES ($1, $2, $3, $4, $5, $6, $7) \
                          RETURNING id, role, content, tool_calls, call_id, name, created_at";
    const TOUCH: &str = "UPDATE conversations SET updated_at = $2 WHERE id = $1";
    let tool_calls = if m.tool_calls.is_empty() {
        None
    } else {
        Some(serde_json::to_string(m.tool_calls).map_err(|e| sqlx::Error::Encode(Box::new(e)))?)
    };
    let at = now();
    let row: MsgRow = with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(TOUCH).bind(conversation_id).bind(at).execute(&mut *tx).await?;
        let row = sqlx::query_as(INSERT).bind(conversation_id).bind(m.role.as_str()).bind(m.content)
            .bind(tool_calls).bind(m.call_id).bind(m.name).bind(at).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        row
    });
    message(row)
}

/// Replaces an assistant message's text and tool calls (as the stream completes).
pub async fn finish_message(
    db: &Db,
    message_id: i64,
    content: &str,
    tool_calls: &[ToolCall],
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE messages SET content = $2, tool_calls = $3 WHERE id = $1";
    let tool_calls = if tool_calls.is_empty() {
        None
    } else {
        Some(serde_json::to_string(tool_calls).map_err(|e| sqlx::Error::Encode(Box::new(e)))?)
    };
    with_pool!(db, pool => sqlx::query(SQL).bind(message_id).bind(content).bind(tool_calls).execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// The newest `limit` messages of a conversation with an id below `before_id`, oldest first:
/// the history a model is given (bounded, newest kept).
pub async fn recent_messages(
    db: &Db,
    conversation_id: i64,
    before_id: i64,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    const SQL: &str = "SELECT id, role, content, tool_calls, call_id, name, created_at FROM messages \
                       WHERE conversation_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
    let rows: Vec<MsgRow> = with_pool!(db, pool => sqlx::query_as(SQL).bind(conversation_id).bind(before_id).bind(limit).fetch_all(pool).await)?;
    let mut out = rows
        .into_iter()
        .map(message)
        .collect::<Result<Vec<_>, _>>()?;
    out.reverse();
    Ok(out)
}
