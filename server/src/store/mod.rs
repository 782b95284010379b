//! The database: one pool, SQLite or PostgreSQL, and one module per table family.
//!
//! Why not `sqlx::Any`: it flattens types (no `bool`, no timestamps) and loses the native
//! drivers' checks. Why not a trait with two implementations: every query would be written
//! twice. Instead each query is written once, in SQL both databases speak (`$1` placeholders,
//! `RETURNING`, times passed in from Rust), and [`with_pool!`] compiles it against each driver
//! with its native types. Only the DDL differs, in `migrations/sqlite` and `migrations/postgres`.

pub mod conversations;
pub mod events;
pub mod sessions;
pub mod todos;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The pool, of either database.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool (`&SqlitePool` or `&PgPool`): the same
/// query text, compiled once per driver.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

/// Now, at the precision both databases keep (microseconds), so what is written is what is read.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl Db {
    /// Connects (creating the SQLite file and its folder if needed) and runs the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        let db = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .context("DATABASE_URL: not a valid sqlite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(dir) = opts.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("DATABASE_URL: cannot create {}", dir.display()))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .context("DATABASE_URL: cannot open the SQLite database")?;
            sqlx::migrate!("../migrations/sqlite")
                .run(&pool)
                .await
                .context("running SQLite migrations")?;
            Db::Sqlite(pool)
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .context("DATABASE_URL: cannot connect to PostgreSQL")?;
            sqlx::migrate!("../migrations/postgres")
                .run(&pool)
                .await
                .context("running PostgreSQL migrations")?;
            Db::Postgres(pool)
        };
        Ok(db)
    }

    /// One round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// A PostgreSQL LISTEN connection outside the pool, or `None` on SQLite. A listener keeps
    /// its connection for good; taken from the pool it would shrink it (with a small
    /// `DB_MAX_CONNECTIONS`, to nothing) and hold `close()` up.
    pub async fn listener(&self) -> Result<Option<sqlx::postgres::PgListener>, sqlx::Error> {
        let Db::Postgres(pool) = self else {
            return Ok(None);
        };
        let own = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*pool.connect_options()).clone());
        sqlx::postgres::PgListener::connect_with(&own)
            .await
            .map(Some)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}
