//! The server's one error type.
//!
//! Services return [`Error`]; the HTTP and socket layers turn it into the contract's
//! `{code, message}` with [`Error::to_api`]. Bad input is an [`ApiError`] built where it is found;
//! anything else (a database fault, a bug) is logged here with its details and reaches the
//! client only as `internal` or `unavailable`, never with SQL, paths or stack text.

use protocol::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An answer for the client: bad input, not found, conflict…
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
    /// A bug or an unexpected failure.
    #[error("internal: {0}")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn api(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Api(ApiError::new(code, message))
    }

    pub fn not_found(what: &str) -> Self {
        Self::api(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn unauthenticated() -> Self {
        Self::api(ErrorCode::Unauthenticated, "authentication required")
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::api(ErrorCode::BadRequest, message)
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Api(e) => e.code,
            Error::Store(e) if is_unavailable(e) => ErrorCode::Unavailable,
            Error::Store(_) | Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// What the client is told. Internal details are logged here, once, and never sent.
    pub fn to_api(&self) -> ApiError {
        match self {
            Error::Api(e) => e.clone(),
            Error::Store(e) if is_unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::new(
                    ErrorCode::Unavailable,
                    "the database is unavailable; try again shortly",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(ErrorCode::Internal, "internal server error")
            }
        }
    }
}

/// True for failures that mean "the database cannot be reached", not "the query is wrong".
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    ) || matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| {
        // PostgreSQL: connection exceptions (08…), insufficient resources such as too many
        // connections (53…), operator intervention: shutdown, cannot connect now, database
        // dropped (57P…), a database not accepting connections (55000, `ALLOW_CONNECTIONS
        // false`) or gone (3D000) — all met while (re)connecting;
        // SQLite (numeric codes of at most 4 digits): busy/locked after the busy timeout.
        let c = c.as_ref();
        let pg = c.len() == 5;
        (pg && (c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")))
            || matches!(c, "55000" | "3D000" | "5" | "6")
    }))
}
