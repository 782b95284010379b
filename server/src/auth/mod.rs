//! Accounts and sessions: register, login, verify, refresh, logout.
//!
//! A login creates a session row; the access JWT names it (`sid`) and every check looks it up,
//! so logout and refresh-token reuse end the session everywhere at once. The refresh token is
//! single use: presenting a rotated one again is taken as theft and revokes the session.

pub mod cookies;
pub mod limits;
pub mod password;
pub mod tokens;

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use protocol::{Email, ErrorCode, Password, User};

use crate::error::{Error, Result, is_unique_violation};
use crate::store::{Db, sessions, users};
use password::Hasher;
use tokens::{AccessClaims, Tokens};

/// The caller of a request or socket, once its access token and session have been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    pub user_id: i64,
    pub session_id: i64,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// When the session itself (the refresh token's life) ends.
    pub session_expires_at: DateTime<Utc>,
}

/// What a successful login, register or refresh hands to the HTTP layer to set as cookies.
#[derive(Debug, Clone)]
pub struct Issued {
    pub user: User,
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: String,
}

#[derive(Clone)]
pub struct Auth {
    db: Db,
    hasher: Hasher,
    tokens: Tokens,
    refresh_ttl: chrono::Duration,
}

impl Auth {
    pub fn new(db: Db, hasher: Hasher, tokens: Tokens, refresh_ttl: std::time::Duration) -> Self {
        Self {
            db,
            hasher,
            tokens,
            refresh_ttl: chrono::Duration::from_std(refresh_ttl)
                .unwrap_or(chrono::Duration::days(30)),
        }
    }

    /// Creates the account (emails compare case-insensitively) and logs it in.
    pub async fn register(
        &self,
        email: Email,
        password: Password,
        name: Option<String>,
    ) -> Result<Issued> {
        let hash = self.hasher.hash(password.as_str()).await?;
        let user = users::insert(&self.db, email.as_str(), name.as_deref(), &hash)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::api(
                        ErrorCode::EmailTaken,
                        "email: an account with this email already exists",
                    )
                } else {
                    Error::Store(e)
                }
            })?;
        self.open_session(user).await
    }

    /// Checks the password and opens a session. Unknown email and wrong password give the same
    /// error after the same work (one argon2 verification either way).
    pub async fn login(&self, email: &Email, password: &str) -> Result<Option<Issued>> {
        let found = users::by_email(&self.db, email.as_str()).await?;
        let ok = self
            .hasher
            .verify(password, found.as_ref().map(|(_, h)| h.as_str()))
            .await?;
        match found {
            Some((user, _)) if ok => Ok(Some(self.open_session(user).await?)),
            _ => Ok(None),
        }
    }

    async fn open_session(&self, user: User) -> Result<Issued> {
        let (secret, hash) = tokens::new_refresh_secret();
        let session =
            sessions::insert(&self.db, user.id, &hash, Utc::now() + self.refresh_ttl).await?;
        let (access_token, access_expires_at) = self.tokens.issue(user.id, session.id)?;
        Ok(Issued {
            user,
            access_token,
            access_expires_at,
            refresh_token: self.tokens.refresh_token(session.id, &secret),
        })
    }

    /// Checks an access token and its session: signature, expiry, and that the session is
    /// neither revoked nor expired.
    pub async fn authenticate(&self, token: &str) -> Result<Authenticated> {
        let AccessClaims {
            user_id,
            session_id,
            expires_at,
        } = self
            .tokens
            .verify(token)
            .ok_or_else(Error::unauthenticated)?;
        let session = sessions::by_id(&self.db, session_id)
            .await?
            .ok_or_else(Error::unauthenticated)?;
        if session.revoked || session.user_id != user_id || session.expires_at <= Utc::now() {
            return Err(Error::unauthenticated());
        }
        Ok(Authenticated {
            user_id,
            session_id,
            expires_at,
            session_expires_at: session.expires_at,
        })
    }

    pub async fn user(&self, user_id: i64) -> Result<User> {
        users::by_id(&self.db, user_id)
            .await?
            .ok_or_else(Error::unauthenticated)
    }

    /// Rotates the refresh token. A token that was already rotated is theft: the session is
    /// revoked and `Err(Revoked)` tells the caller to close that session's sockets.
    pub async fn refresh(&self, presented: &str) -> Result<Refreshed> {
        let Some((session_id, secret)) = self.tokens.parse_refresh(presented) else {
            return Ok(Refreshed::Refused);
        };
        let Some(session) = sessions::by_id(&self.db, session_id).await? else {
            return Ok(Refreshed::Refused);
        };
        if session.revoked || session.expires_at <= Utc::now() {
            return Ok(Refreshed::Refused);
        }
        let presented_hash = tokens::hash_secret(secret);
        if !tokens::same_hash(&presented_hash, &session.refresh_hash) {
            // The token was issued for this session (its MAC says so) but is not the current
            // one: somebody is replaying a rotated token. End the session for everybody.
            sessions::revoke(&self.db, session.id).await?;
            tracing::warn!(
                session_id = session.id,
                user_id = session.user_id,
                "refresh token reuse: session revoked"
            );
            return Ok(Refreshed::Reused {
                user_id: session.user_id,
                session_id: session.id,
            });
        }
        let (secret, new_hash) = tokens::new_refresh_secret();
        if !sessions::rotate(&self.db, session.id, &presented_hash, &new_hash).await? {
            // A concurrent refresh with the same token won the race: this one is a reuse.
            sessions::revoke(&self.db, session.id).await?;
            return Ok(Refreshed::Reused {
                user_id: session.user_id,
                session_id: session.id,
            });
        }
        let user = self.user(session.user_id).await?;
        let (access_token, access_expires_at) = self.tokens.issue(user.id, session.id)?;
        Ok(Refreshed::Issued(Issued {
            user,
            access_token,
            access_expires_at,
            refresh_token: self.tokens.refresh_token(session.id, &secret),
        }))
    }

    /// Revokes a session; true if it was live.
    pub async fn logout(&self, session_id: i64) -> Result<bool> {
        Ok(sessions::revoke(&self.db, session_id).await?)
    }

    pub async fn active_sessions(&self) -> Result<i64> {
        Ok(sessions::count_active(&self.db).await?)
    }
}

/// The outcome of a refresh.
#[derive(Debug)]
pub enum Refreshed {
    Issued(Issued),
    /// Unknown, malformed, expired or revoked token.
    Refused,
    /// A rotated token presented again: the session is now revoked.
    Reused {
        user_id: i64,
        session_id: i64,
    },
}

/// The HS256 key: the configured one, or one generated on first start and kept (mode 0600) in
/// the data directory so sessions survive restarts.
pub fn load_or_create_secret(
    configured: Option<&[u8]>,
    data_dir: &Path,
) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = configured {
        return Ok(s.to_vec());
    }
    let path = data_dir.join("jwt_secret");
    if let Ok(existing) = std::fs::read(&path)
        && existing.len() >= 32
    {
        return Ok(existing);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("JWT_SECRET: cannot create {}", data_dir.display()))?;
    let secret: [u8; 48] = rand::random();
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, secret);
    write_private(&path, encoded.as_bytes())
        .with_context(|| format!("JWT_SECRET: cannot write {}", path.display()))?;
    Ok(encoded.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
