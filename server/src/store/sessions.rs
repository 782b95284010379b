//! `sessions`: one row per login (a device). The JWT names its session (`sid`), so revoking the
//! row ends the access token everywhere at once.

use chrono::{DateTime, Utc};

use super::{Db, now};
use crate::with_pool;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub refresh_hash: String,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub revoked: bool,
}

/// What a login records about the client that opened the session.
#[derive(Debug, Clone, Default)]
pub struct Device<'a> {
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
}

/// A live session as the devices list shows it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

type Row = (
    i64,
    i64,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

fn session((id, user_id, refresh_hash, expires_at, last_seen_at, revoked_at): Row) -> Session {
    Session {
        id,
        user_id,
        refresh_hash,
        expires_at,
        last_seen_at,
        revoked: revoked_at.is_some(),
    }
}

pub async fn insert(
    db: &Db,
    user_id: i64,
    refresh_hash: &str,
    expires_at: DateTime<Utc>,
    device: &Device<'_>,
) -> Result<Session, sqlx::Error> {
    const SQL: &str = "INSERT INTO sessions (user_id, refresh_hash, created_at, refreshed_at, expires_at, last_seen_at, user_agent, ip) \
                       VALUES ($1, $2, $3, $3, $4, $3, $5, $6) \
                       RETURNING id, user_id, refresh_hash, expires_at, last_seen_at, revoked_at";
    let row: Row = with_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(refresh_hash).bind(now()).bind(expires_at).bind(device.user_agent).bind(device.ip).fetch_one(pool).await)?;
    Ok(session(row))
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<Session>, sqlx::Error> {
    const SQL: &str = "SELECT id, user_id, refresh_hash, expires_at, last_seen_at, revoked_at \
                       FROM sessions WHERE id = $1";
    let row: Option<Row> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)?;
    Ok(row.map(session))
}

/// The user's live sessions, newest first.
pub async fn list_live(db: &Db, user_id: i64) -> Result<Vec<Listed>, sqlx::Error> {
    const SQL: &str = "SELECT id, created_at, last_seen_at, user_agent, ip FROM sessions \
                       WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                       ORDER BY id DESC";
    type ListRow = (
        i64,
        DateTime<Utc>,
        DateTime<Utc>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<ListRow> = with_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(now()).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|(id, created_at, last_seen_at, user_agent, ip)| Listed {
            id,
            created_at,
            last_seen_at,
            user_agent,
            ip,
        })
        .collect())
}

/// Notes that a session was used, unless that was noted within the last minute.
pub async fn touch(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $3";
    let at = now();
    let minute_ago = at - chrono::Duration::seconds(60);
    with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(at).bind(minute_ago).execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// Swaps the refresh hash, only if it is still `old_hash` and the session is live: of two
/// concurrent refreshes with the same token exactly one wins.
pub async fn rotate(db: &Db, id: i64, old_hash: &str, new_hash: &str) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE sessions SET refresh_hash = $3, refreshed_at = $4, last_seen_at = $4 \
                       WHERE id = $1 AND refresh_hash = $2 AND revoked_at IS NULL";
    let done = with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(old_hash).bind(new_hash).bind(now()).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Revokes a session; true if it was live.
pub async fn revoke(db: &Db, id: i64) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
    let done = with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(now()).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Revokes one of the user's sessions; false when it is not theirs or not live.
pub async fn revoke_own(db: &Db, user_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE sessions SET revoked_at = $3 \
                       WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL";
    let done = with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(user_id).bind(now()).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Revokes every live session of the user; returns their ids.
pub async fn revoke_all(db: &Db, user_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    const SQL: &str = "UPDATE sessions SET revoked_at = $2 \
                       WHERE user_id = $1 AND revoked_at IS NULL RETURNING id";
    let rows: Vec<(i64,)> = with_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).bind(now()).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Sessions neither revoked nor expired, for `/metrics`.
pub async fn count_active(db: &Db) -> Result<i64, sqlx::Error> {
    const SQL: &str = "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1";
    let (n,): (i64,) =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(now()).fetch_one(pool).await)?;
    Ok(n)
}
