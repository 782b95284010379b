//! `users`: accounts. The one mapping from a row to [`protocol::User`] lives here.

use chrono::{DateTime, Utc};
use protocol::User;

use super::{Db, now};
use crate::with_pool;

type Row = (i64, String, Option<String>, DateTime<Utc>);
type WithHash = (i64, String, Option<String>, DateTime<Utc>, String);

fn user((id, email, name, created_at): Row) -> User {
    User {
        id,
        email,
        name,
        created_at,
    }
}

/// Inserts a user; `None` when the email is taken.
pub async fn insert(
    db: &Db,
    email: &str,
    name: Option<&str>,
    password_hash: &str,
) -> Result<Option<User>, sqlx::Error> {
    const SQL: &str = "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4) \
                       RETURNING id, email, name, created_at";
    let row: Result<Row, _> = with_pool!(db, pool => sqlx::query_as(SQL).bind(email).bind(name).bind(password_hash).bind(now()).fetch_one(pool).await);
    match row {
        Ok(row) => Ok(Some(user(row))),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The user with this (already lower-cased) email, and their password hash.
pub async fn by_email(db: &Db, email: &str) -> Result<Option<(User, String)>, sqlx::Error> {
    const SQL: &str =
        "SELECT id, email, name, created_at, password_hash FROM users WHERE email = $1";
    let row: Option<WithHash> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(email).fetch_optional(pool).await)?;
    Ok(row.map(|(id, email, name, created_at, hash)| (user((id, email, name, created_at)), hash)))
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    const SQL: &str = "SELECT id, email, name, created_at FROM users WHERE id = $1";
    let row: Option<Row> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)?;
    Ok(row.map(user))
}

/// The user's latest todo event number.
pub async fn last_seq(db: &Db, id: i64) -> Result<i64, sqlx::Error> {
    const SQL: &str = "SELECT last_seq FROM users WHERE id = $1";
    let row: Option<(i64,)> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)?;
    Ok(row.map_or(0, |r| r.0))
}
