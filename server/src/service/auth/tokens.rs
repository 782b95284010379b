//! Access tokens (HS256 JWTs naming their session) and opaque refresh tokens. The MAC on a
//! refresh token is the `hmac` crate's HMAC-SHA256, and every comparison of secrets is the
//! `subtle` crate's constant-time one: nothing cryptographic is written by hand here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const ISSUER: &str = "todo-realtime";
pub const AUDIENCE: &str = "todo-realtime-api";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (JWT `sub` is a StringOrURI).
    pub sub: String,
    /// The session id.
    pub sid: i64,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// Signs and checks access tokens with one pinned algorithm.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: chrono::Duration,
    /// Authenticates refresh tokens (keyed with a key derived from the JWT key), so a token
    /// the server never issued can be told apart from a rotated one. Cloned per use.
    refresh_mac: Hmac<Sha256>,
}

/// What a valid access token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: i64,
    pub session_id: i64,
    pub expires_at: DateTime<Utc>,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: std::time::Duration) -> Self {
        // The algorithm is pinned: a token whose header says `none`, RS256 or anything else
        // is refused before its signature is even looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(15)),
            refresh_mac: refresh_mac(
                &Sha256::new()
                    .chain_update(b"todo-realtime refresh token mac v1\0")
                    .chain_update(secret)
                    .finalize(),
            ),
        }
    }

    /// The MAC of a refresh token's body.
    fn mac(&self, body: &str) -> [u8; 32] {
        self.refresh_mac
            .clone()
            .chain_update(body.as_bytes())
            .finalize()
            .into_bytes()
            .into()
    }

    /// The refresh token for a session: `<session id>.<secret>.<mac>`, where the MAC
    /// (HMAC-SHA256 under a key derived from the JWT key) binds the secret to the session.
    pub fn refresh_token(&self, session_id: i64, secret: &str) -> String {
        let body = refresh_token(session_id, secret);
        let mac = URL_SAFE_NO_PAD.encode(self.mac(&body));
        format!("{body}.{mac}")
    }

    /// The session id and secret of a refresh token this server issued (for some session, at
    /// some time), or `None`. Only a token that passes this check and is not the session's
    /// current one is a replayed rotated token; anything else (a guess at a session id, a
    /// secret moved from another session) is merely invalid and must not end the session.
    pub fn parse_refresh<'a>(&self, token: &'a str) -> Option<(i64, &'a str)> {
        let (body, mac) = token.rsplit_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        // `verify_slice` compares in constant time (and refuses a MAC of another length).
        self.refresh_mac
            .clone()
            .chain_update(body.as_bytes())
            .verify_slice(&mac)
            .ok()?;
        parse_refresh(body)
    }

    /// A new access token for this session, and when it expires.
    pub fn issue(&self, user_id: i64, session_id: i64) -> anyhow::Result<(String, DateTime<Utc>)> {
        let now = Utc::now();
        let exp = now + self.ttl;
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id,
            iat: now.timestamp(),
            exp: exp.timestamp(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        let exp = DateTime::from_timestamp(claims.exp, 0).unwrap_or(exp);
        Ok((token, exp))
    }

    /// Checks signature, algorithm, issuer, audience and expiry. `None` for any failure: the
    /// caller answers 401 whatever the reason, and the reason is logged at debug level only.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| tracing::debug!(error = %e, "access token refused"))
            .ok()?;
        let c = data.claims;
        Some(AccessClaims {
            user_id: c.sub.parse().ok()?,
            session_id: c.sid,
            expires_at: DateTime::from_timestamp(c.exp, 0)?,
        })
    }
}

/// A refresh token is `<session id>.<32 random bytes, base64url>.<mac>` (see
/// [`Tokens::refresh_token`]); the database keeps only the SHA-256 of the secret part. Naming
/// the session lets a reused (already rotated) token be recognised — and its session revoked —
/// without keeping every old token; the MAC makes sure it really was issued for that session.
pub fn new_refresh_secret() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_secret(&secret);
    (secret, hash)
}

pub fn refresh_token(session_id: i64, secret: &str) -> String {
    format!("{session_id}.{secret}")
}

/// Splits a presented refresh token into its session id and secret.
pub fn parse_refresh(token: &str) -> Option<(i64, &str)> {
    let (sid, secret) = token.split_once('.')?;
    if secret.len() != 43
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some((sid.parse().ok()?, secret))
}

/// HMAC-SHA256 keyed with `key`. HMAC takes a key of any length, so this cannot fail.
fn refresh_mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length")
}

pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time comparison of two hashes (their length is not secret).
pub fn same_hash(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn tokens_round_trip_and_pin_the_algorithm() {
        let t = Tokens::new(&[7u8; 32], Duration::from_secs(60));
        let (jwt, exp) = t.issue(42, 9).unwrap();
        let c = t.verify(&jwt).unwrap();
        assert_eq!((c.user_id, c.session_id, c.expires_at), (42, 9, exp));
        // Another key, a tampered payload, alg=none: all refused.
        assert!(
            Tokens::new(&[8u8; 32], Duration::from_secs(60))
                .verify(&jwt)
                .is_none()
        );
        let mut parts: Vec<String> = jwt.split('.').map(String::from).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(br#"{"sub":"1","sid":9,"iat":0,"exp":9999999999,"iss":"todo-realtime","aud":"todo-realtime-api"}"#);
        assert!(t.verify(&parts.join(".")).is_none());
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(t.verify(&format!("{none_header}.{}.", parts[1])).is_none());
    }

    #[test]
    fn expired_tokens_are_refused_without_leeway() {
        let t = Tokens::new(&[7u8; 32], Duration::from_secs(60));
        let claims = Claims {
            sub: "1".into(),
            sid: 1,
            iat: 0,
            exp: Utc::now().timestamp() - 1,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let jwt = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert!(t.verify(&jwt).is_none());
    }

    #[test]
    fn refresh_tokens_name_their_session() {
        let t = Tokens::new(&[7u8; 32], Duration::from_secs(60));
        let (secret, hash) = new_refresh_secret();
        let token = t.refresh_token(12, &secret);
        let (sid, s) = t.parse_refresh(&token).unwrap();
        assert_eq!(sid, 12);
        assert!(same_hash(&hash_secret(s), &hash));
        assert!(t.parse_refresh("12").is_none());
        assert!(t.parse_refresh("x.abc").is_none());
        assert!(!same_hash(&hash, &hash_secret("other")));
        // The MAC binds the secret to its session and to this server's key.
        assert!(t.parse_refresh(&refresh_token(12, &secret)).is_none());
        let (_, mac) = token.rsplit_once('.').unwrap();
        assert!(t.parse_refresh(&format!("13.{secret}.{mac}")).is_none());
        let other = Tokens::new(&[8u8; 32], Duration::from_secs(60));
        assert!(other.parse_refresh(&token).is_none());
    }

    #[test]
    fn hmac_matches_rfc_4231_vector() {
        // RFC 4231 test case 1: a 20-byte key of 0x0b over "Hi There".
        let mac = refresh_mac(&[0x0b; 20])
            .chain_update(b"Hi There")
            .finalize()
            .into_bytes();
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }
}
