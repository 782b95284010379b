//! Argon2id password hashing, off the async runtime.
//!
//! Each hash takes `memory_kib` of memory and tens of milliseconds of CPU, so it runs on the
//! blocking pool behind a semaphore: a burst of logins queues here instead of stalling sockets
//! or exhausting memory. Verifying against an unknown email still runs one hash (against a dummy
//! made at start), so both failures take about the same time.

use std::sync::Arc;

use anyhow::{Context, anyhow};
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::Argon2Cost;

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
}

impl Hasher {
    pub fn new(cost: Argon2Cost, concurrency: usize) -> anyhow::Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
        let dummy = hash_blocking(&params, "dummy password for timing equalisation")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: dummy.into(),
        })
    }

    /// Hashes a new password (PHC string with its salt and parameters).
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let params = self.params.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_blocking(&params, &password))
            .await
            .context("hash task")?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no user, so
    /// that both cases cost the same. False for a malformed stored hash.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let real = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy.to_string(), str::to_owned);
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return false;
            };
            // Verification follows the parameters recorded in the hash itself.
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .await
        .context("verify task")?;
        Ok(real && ok)
    }
}

fn hash_blocking(params: &Params, password: &str) -> anyhow::Result<String> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    // `hash_password` draws a fresh random salt from the OS.
    Ok(argon
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow!("argon2: {e}"))?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_record_their_parameters() {
        let cost = Argon2Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let h = Hasher::new(cost, 2).unwrap();
        let stored = h.hash("correct horse").await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify("correct horse", Some(&stored)).await.unwrap());
        assert!(!h.verify("wrong horse", Some(&stored)).await.unwrap());
        assert!(!h.verify("correct horse", None).await.unwrap());
        assert!(!h.verify("x", Some("not a hash")).await.unwrap());
        // A hash made with other parameters still verifies.
        let other = Hasher::new(
            Argon2Cost {
                memory_kib: 128,
                iterations: 2,
                parallelism: 1,
            },
            1,
        )
        .unwrap();
        assert!(other.verify("correct horse", Some(&stored)).await.unwrap());
    }
}
