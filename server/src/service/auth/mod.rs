//! Accounts and sessions: register, login, verify, refresh, logout, the devices list.
//!
//! A login creates a session row (a device); the access JWT names it (`sid`) and every check
//! looks it up, so logout and refresh-token reuse end the session everywhere at once: this
//! service revokes the row *and* publishes the revocation on the bus, which closes the session's
//! sockets on every instance. The refresh token is single use: presenting a rotated one again is
//! taken as theft and revokes the session.

pub mod limits;
pub mod password;
pub mod tokens;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use protocol::{Email, ErrorCode, Password, SessionInfo, User};

use crate::error::{Error, Result};
use crate::fanout::bus::Bus;
use crate::metrics::metrics;
pub use crate::store::sessions::Device;
use crate::store::{Db, sessions, users};
use limits::{AuthLimits, RetryAfter};
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
    bus: Bus,
    limits: Arc<AuthLimits>,
    hasher: Hasher,
    tokens: Tokens,
    refresh_ttl: chrono::Duration,
}

impl Auth {
    pub fn new(
        db: Db,
        bus: Bus,
        limits: AuthLimits,
        hasher: Hasher,
        tokens: Tokens,
        refresh_ttl: std::time::Duration,
    ) -> Self {
        Self {
            db,
            bus,
            limits: Arc::new(limits),
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
        device: &Device<'_>,
    ) -> Result<Issued> {
        let hash = self.hasher.hash(password.as_str()).await?;
        let user = users::insert(&self.db, email.as_str(), name.as_deref(), &hash)
            .await?
            .ok_or_else(|| {
                Error::api(
                    ErrorCode::EmailTaken,
                    "email: an account with this email already exists",
                )
            })?;
        let issued = self.open_session(user, device).await?;
        tracing::info!(user_id = issued.user.id, "registered");
        Ok(issued)
    }

    /// One login, register or refresh attempt from `ip` (`AUTH_RATE_PER_MIN`).
    pub fn check_ip(&self, ip: IpAddr) -> std::result::Result<(), RetryAfter> {
        self.limits.check_ip(ip)
    }

    /// Checks the password and opens a session. Unknown email, malformed email and wrong
    /// password give the same answer after the same work (one argon2 verification either way);
    /// an account with too many recent failures is refused before any work.
    pub async fn login(&self, email: &str, password: &str, device: &Device<'_>) -> Result<Login> {
        let Ok(email) = Email::parse(email) else {
            metrics().logins.with_label_values(&["failure"]).inc();
            return Ok(Login::Invalid);
        };
        if let Err(wait) = self.limits.check_account(email.as_str()) {
            metrics().logins.with_label_values(&["locked"]).inc();
            return Ok(Login::Locked(wait));
        }
        let found = users::by_email(&self.db, email.as_str()).await?;
        let ok = self
            .hasher
            .verify(password, found.as_ref().map(|(_, h)| h.as_str()))
            .await?;
        match found {
            Some((user, _)) if ok => {
                let issued = self.open_session(user, device).await?;
                metrics().logins.with_label_values(&["success"]).inc();
                tracing::info!(user_id = issued.user.id, "logged in");
                Ok(Login::Issued(issued))
            }
            _ => {
                metrics().logins.with_label_values(&["failure"]).inc();
                self.limits.record_failure(email.as_str());
                Ok(Login::Invalid)
            }
        }
    }

    /// Forgets idle rate-limit state; called periodically.
    pub fn housekeeping(&self) {
        self.limits.housekeeping();
    }

    async fn open_session(&self, user: User, device: &Device<'_>) -> Result<Issued> {
        let (secret, hash) = tokens::new_refresh_secret();
        let session = sessions::insert(
            &self.db,
            user.id,
            &hash,
            Utc::now() + self.refresh_ttl,
            device,
        )
        .await?;
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
        if Utc::now() - session.last_seen_at > chrono::Duration::seconds(60) {
            // "Last seen" for the devices list, at most once a minute; off the request's path.
            let db = self.db.clone();
            tokio::spawn(async move {
                if let Err(e) = sessions::touch(&db, session_id).await {
                    tracing::debug!(error = %e, "session last-seen not updated");
                }
            });
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
    /// revoked (its sockets closed everywhere) and the answer is [`Refreshed::Reused`].
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
            self.revoke(session.user_id, session.id).await?;
            tracing::warn!(
                session_id = session.id,
                user_id = session.user_id,
                "refresh token reuse: session revoked"
            );
            return Ok(Refreshed::Reused);
        }
        let (secret, new_hash) = tokens::new_refresh_secret();
        if !sessions::rotate(&self.db, session.id, &presented_hash, &new_hash).await? {
            // A concurrent refresh with the same token won the race: this one is a reuse.
            self.revoke(session.user_id, session.id).await?;
            return Ok(Refreshed::Reused);
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

    /// Logs out the session these credentials name: revoked at once, REST and sockets, every
    /// instance. 401 when the token names no live session.
    pub async fn logout(&self, access_token: &str) -> Result<Authenticated> {
        let who = self.authenticate(access_token).await?;
        self.revoke(who.user_id, who.session_id).await?;
        tracing::info!(session_id = who.session_id, "logged out");
        Ok(who)
    }

    /// The caller's live sessions (devices), newest first, this one marked.
    pub async fn sessions(&self, caller: &Authenticated) -> Result<Vec<SessionInfo>> {
        let listed = sessions::list_live(&self.db, caller.user_id).await?;
        Ok(listed
            .into_iter()
            .map(|s| SessionInfo {
                current: s.id == caller.session_id,
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect())
    }

    /// Signs one of the caller's devices out; `not_found` for anybody else's session (or one
    /// already ended).
    pub async fn end_session(&self, caller: &Authenticated, session_id: i64) -> Result<()> {
        if !sessions::revoke_own(&self.db, caller.user_id, session_id).await? {
            return Err(Error::not_found("session"));
        }
        self.bus.session_revoked(caller.user_id, session_id).await;
        tracing::info!(ended = session_id, "session ended from another device");
        Ok(())
    }

    /// Signs the caller out everywhere, this session included.
    pub async fn logout_all(&self, caller: &Authenticated) -> Result<()> {
        let ended = sessions::revoke_all(&self.db, caller.user_id).await?;
        for session_id in &ended {
            self.bus.session_revoked(caller.user_id, *session_id).await;
        }
        tracing::info!(sessions = ended.len(), "logged out everywhere");
        Ok(())
    }

    /// Revokes a session and closes its sockets on every instance.
    async fn revoke(&self, user_id: i64, session_id: i64) -> Result<()> {
        sessions::revoke(&self.db, session_id).await?;
        self.bus.session_revoked(user_id, session_id).await;
        Ok(())
    }

    pub async fn active_sessions(&self) -> Result<i64> {
        Ok(sessions::count_active(&self.db).await?)
    }
}

/// The outcome of a login.
#[derive(Debug)]
pub enum Login {
    Issued(Issued),
    /// Unknown email, malformed email or wrong password: the same answer for all three.
    Invalid,
    /// Too many failed logins for this account; try again after this long.
    Locked(RetryAfter),
}

/// The outcome of a refresh.
#[derive(Debug)]
pub enum Refreshed {
    Issued(Issued),
    /// Unknown, malformed, expired or revoked token.
    Refused,
    /// A rotated token presented again: the session is now revoked, its sockets closed.
    Reused,
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
