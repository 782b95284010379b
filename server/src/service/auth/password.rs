//! Argon2id password hashing, off the async runtime, in memory that goes back to the OS.
//!
//! Each hash takes `memory_kib` of memory and tens of milliseconds of CPU, so it runs on the
//! blocking pool behind a semaphore (`HASH_CONCURRENCY` permits): a burst of logins queues here
//! instead of stalling sockets or exhausting memory. Verifying against an unknown email still
//! runs one hash (against a dummy made at start), so both failures take about the same time.
//!
//! The memory: argon2's own API allocates a fresh 19 MiB block array per hash through the
//! allocator, and glibc, seeing big blocks come and go, raises its mmap threshold and then
//! keeps them in fragmented arenas that are never returned — measured, 40 failed logins took
//! the process from 12 to ~350 MiB (see `docs/security.md`). So the block array is taken
//! here, straight from the OS ([`Arena`]: anonymous `mmap`, `munmap` when dropped), kept while
//! another hash is waiting for it, and given back as soon as none is: memory for hashing is at
//! most `HASH_CONCURRENCY × ARGON2_MEMORY_KIB`, and zero when nobody is logging in.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::config::Argon2Cost;

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    memory: Arc<Memory>,
    dummy: Arc<str>,
}

impl Hasher {
    pub fn new(cost: Argon2Cost, concurrency: usize) -> anyhow::Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
        let mut arena = Arena::new(params.block_count())?;
        let dummy = hash_with(
            &params,
            "dummy password for timing equalisation",
            arena.blocks(),
        )?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            memory: Arc::new(Memory::default()),
            dummy: dummy.into(),
        })
    }

    /// Hashes a new password (PHC string with its salt and parameters).
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.run(params.block_count(), move |blocks| {
            hash_with(&params, &password, blocks)
        })
        .await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no user, so
    /// that both cases cost the same. False for a malformed stored hash.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let real = stored.is_some();
        // Verification follows the parameters recorded in the hash itself.
        let Some(stored) = Stored::parse(stored.unwrap_or(&self.dummy)) else {
            return Ok(false);
        };
        let password = password.to_owned();
        let ok = self
            .run(stored.params.block_count(), move |blocks| {
                stored.matches(&password, blocks)
            })
            .await?;
        Ok(real && ok)
    }

    /// Runs `work` on the blocking pool with a permit and `blocks` blocks of memory.
    async fn run<T: Send + 'static>(
        &self,
        blocks: usize,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        self.memory.waiting.fetch_add(1, Ordering::SeqCst);
        let permit = self.permits.acquire().await;
        self.memory.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.context("hasher closed")?;
        let reused = self.memory.take(blocks);
        let (out, arena) = tokio::task::spawn_blocking(move || {
            let mut arena = match reused {
                Some(a) => a,
                None => Arena::new(blocks)?,
            };
            let out = work(arena.blocks());
            Ok::<_, anyhow::Error>((out, arena))
        })
        .await
        .context("hash task")??;
        self.memory.give_back(arena);
        Ok(out)
    }
}

/// A stored hash, parsed.
struct Stored {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Salt,
    hash: Output,
}

impl Stored {
    fn parse(phc: &str) -> Option<Stored> {
        let parsed = PasswordHash::new(phc).ok()?;
        Some(Stored {
            algorithm: Algorithm::try_from(parsed.algorithm.as_str()).ok()?,
            version: match parsed.version {
                Some(v) => Version::try_from(v).ok()?,
                None => Version::default(),
            },
            params: Params::try_from(&parsed).ok()?,
            salt: parsed.salt?,
            hash: parsed.hash?,
        })
    }

    fn matches(&self, password: &str, blocks: &mut [Block]) -> bool {
        let argon = Argon2::new(self.algorithm, self.version, self.params.clone());
        let mut out = vec![0u8; self.hash.len()];
        argon
            .hash_password_into_with_memory(password.as_bytes(), &self.salt, &mut out, blocks)
            .is_ok()
            // `Output`'s equality is constant-time.
            && Output::new(&out).is_ok_and(|o| o == self.hash)
    }
}

/// An Argon2id hash of `password` with a fresh random salt, as a PHC string.
fn hash_with(params: &Params, password: &str, blocks: &mut [Block]) -> anyhow::Result<String> {
    let salt = Salt::new(&rand::random::<[u8; 16]>()).map_err(|e| anyhow!("salt: {e}"))?;
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
        .map_err(|e| anyhow!("argon2: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow!("argon2 params: {e}"))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| anyhow!("argon2 output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// The block arrays of finished hashes, kept only while another hash is waiting for a permit.
#[derive(Default)]
struct Memory {
    free: Mutex<Vec<Arena>>,
    /// Hashes waiting for a permit.
    waiting: AtomicUsize,
}

impl Memory {
    /// A kept array of at least `blocks` blocks, if there is one.
    fn take(&self, blocks: usize) -> Option<Arena> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let i = free.iter().position(|a| a.len >= blocks)?;
        Some(free.swap_remove(i))
    }

    /// Keeps `arena` for the next hash if one is waiting; otherwise gives it — and any other
    /// kept array — back to the OS.
    fn give_back(&self, arena: Arena) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if self.waiting.load(Ordering::SeqCst) > 0 {
            free.push(arena);
        } else {
            free.clear();
        }
    }
}

/// Argon2's memory for one hash: anonymous pages straight from the OS, returned when dropped.
struct Arena {
    ptr: NonNull<Block>,
    len: usize,
}

// SAFETY: an `Arena` owns its mapping exclusively; moving it to another thread moves that
// ownership (nothing else points into it).
unsafe impl Send for Arena {}

impl Arena {
    fn new(len: usize) -> anyhow::Result<Arena> {
        let bytes = len
            .max(1)
            .checked_mul(Block::SIZE)
            .ok_or_else(|| anyhow!("argon2 memory too large"))?;
        // SAFETY: an anonymous private mapping of `bytes` bytes, with no address hint and no
        // file; the result is checked against MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(anyhow!(
                "argon2: cannot map {} MiB: {}",
                bytes >> 20,
                std::io::Error::last_os_error()
            ));
        }
        let ptr = NonNull::new(p.cast::<Block>()).ok_or_else(|| anyhow!("mmap gave null"))?;
        Ok(Arena {
            ptr,
            len: len.max(1),
        })
    }

    fn blocks(&mut self) -> &mut [Block] {
        // SAFETY: the mapping is `len` blocks long, page-aligned (more than `Block`'s 64-byte
        // alignment), zero-filled by the kernel (a valid `Block`: plain `u64`s), and only
        // reachable through this `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing refers to any more.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len * Block::SIZE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_is_kept_only_while_someone_waits() {
        let cost = Argon2Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let h = Hasher::new(cost, 1).unwrap();
        let runs: Vec<_> = (0..8)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.hash(&format!("password {i}")).await.unwrap() })
            })
            .collect();
        for r in runs {
            let phc = r.await.unwrap();
            assert!(h.verify(&phc[..0], Some(&phc)).await.is_ok());
        }
        assert!(
            h.memory.free.lock().unwrap().is_empty(),
            "all given back when idle"
        );
        assert_eq!(h.memory.waiting.load(Ordering::SeqCst), 0);
    }

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
        // Hashes made with argon2's own API (as before this module managed the memory) verify,
        // and ours verify with argon2's own API.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let theirs = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(h.verify("correct horse", Some(&theirs)).await.unwrap());
        assert!(!h.verify("wrong horse", Some(&theirs)).await.unwrap());
        let ours = PasswordHash::new(&stored).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &ours)
                .is_ok()
        );
    }
}
