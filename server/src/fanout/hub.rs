//! Who is connected: user id → that user's open sockets on this instance.
//!
//! Fan-out serialises a frame once ([`Frame`], reference-counted bytes) and hands the same bytes to each socket's
//! bounded queue with `try_send`. A socket whose queue is full is too slow: it is told to close
//! (1008) rather than allowed to grow memory or hold up the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use tokio::sync::{Notify, mpsc};

/// One serialised text frame, shared by every socket it goes to (cloning is a refcount).
pub type Frame = tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::metrics::metrics;

/// What a socket task receives.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A todo event: the socket checks `seq` against what it has sent (drops duplicates,
    /// fills gaps from the log), so frames leave in order with no gaps.
    Event { seq: i64, frame: Frame },
    /// Any other frame (chat streaming).
    Frame(Frame),
}

/// Why the hub wants a socket closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    SessionExpired,
    TooSlow,
    Shutdown,
}

/// The out-of-band "close now" signal for one socket (its queue may be full).
#[derive(Debug, Default)]
pub struct Kill {
    reason: std::sync::Mutex<Option<Kick>>,
    notify: Notify,
}

impl Kill {
    pub fn kick(&self, why: Kick) {
        if let Ok(mut r) = self.reason.lock() {
            r.get_or_insert(why);
        }
        self.notify.notify_one();
    }

    /// Waits for a kick and says why.
    pub async fn kicked(&self) -> Kick {
        loop {
            if let Some(k) = self.reason.lock().ok().and_then(|r| *r) {
                return k;
            }
            self.notify.notified().await;
        }
    }
}

#[derive(Clone)]
struct Conn {
    id: u64,
    session_id: i64,
    tx: mpsc::Sender<Outbound>,
    kill: Arc<Kill>,
}

#[derive(Default)]
pub struct Hub {
    users: DashMap<i64, Vec<Conn>>,
    next_id: AtomicU64,
}

/// A socket's place in the hub; leaving the hub happens when this is dropped.
pub struct Registration {
    hub: Arc<Hub>,
    user_id: i64,
    id: u64,
    pub rx: mpsc::Receiver<Outbound>,
    pub kill: Arc<Kill>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.remove(self.user_id, self.id);
    }
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn register(self: &Arc<Self>, user_id: i64, session_id: i64, queue: usize) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(queue);
        let kill = Arc::new(Kill::default());
        self.users.entry(user_id).or_default().push(Conn {
            id,
            session_id,
            tx,
            kill: kill.clone(),
        });
        metrics().ws_connections.inc();
        Registration {
            hub: self.clone(),
            user_id,
            id,
            rx,
            kill,
        }
    }

    fn remove(&self, user_id: i64, id: u64) {
        let now_empty = match self.users.get_mut(&user_id) {
            Some(mut conns) => {
                conns.retain(|c| c.id != id);
                conns.is_empty()
            }
            None => false,
        };
        if now_empty {
            self.users.remove_if(&user_id, |_, conns| conns.is_empty());
        }
        metrics().ws_connections.dec();
    }

    /// True if the user has a socket on this instance.
    pub fn has_user(&self, user_id: i64) -> bool {
        self.users.contains_key(&user_id)
    }

    pub fn connections(&self) -> usize {
        self.users.iter().map(|e| e.value().len()).sum()
    }

    /// Hands a todo event to every socket of the user.
    pub fn publish_event(&self, user_id: i64, seq: i64, frame: Frame) {
        self.deliver(user_id, Outbound::Event { seq, frame });
    }

    /// Hands a frame to every socket of the user.
    pub fn send_to_user(&self, user_id: i64, frame: Frame) {
        self.deliver(user_id, Outbound::Frame(frame));
    }

    fn deliver(&self, user_id: i64, out: Outbound) {
        let Some(conns) = self.users.get(&user_id) else {
            return;
        };
        for c in conns.iter() {
            match c.tx.try_send(out.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => c.kill.kick(Kick::TooSlow),
                // The socket is on its way out; its registration is about to be dropped.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Closes (4001) every socket of a revoked or expired session.
    pub fn expire_session(&self, user_id: i64, session_id: i64) {
        if let Some(conns) = self.users.get(&user_id) {
            for c in conns.iter().filter(|c| c.session_id == session_id) {
                c.kill.kick(Kick::SessionExpired);
            }
        }
    }

    /// Closes every socket (1001), for graceful shutdown.
    pub fn shutdown(&self) {
        for conns in self.users.iter() {
            for c in conns.iter() {
                c.kill.kick(Kick::Shutdown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_reach_every_socket_of_the_user_only() {
        let hub = Hub::new();
        let mut a = hub.register(1, 10, 4);
        let mut b = hub.register(1, 11, 4);
        let mut other = hub.register(2, 12, 4);
        hub.publish_event(1, 1, Frame::from("x"));
        for r in [&mut a, &mut b] {
            assert!(matches!(
                r.rx.recv().await,
                Some(Outbound::Event { seq: 1, .. })
            ));
        }
        assert!(other.rx.try_recv().is_err());
        assert_eq!(hub.connections(), 3);
        drop(a);
        assert_eq!(hub.connections(), 2);
        drop(b);
        assert!(!hub.has_user(1));
    }

    #[tokio::test]
    async fn a_full_queue_kicks_the_slow_socket() {
        let hub = Hub::new();
        let slow = hub.register(1, 10, 2);
        for seq in 1..=3 {
            hub.publish_event(1, seq, Frame::from("x"));
        }
        assert_eq!(slow.kill.kicked().await, Kick::TooSlow);
    }

    #[tokio::test]
    async fn expiring_a_session_kicks_only_its_sockets() {
        let hub = Hub::new();
        let a = hub.register(1, 10, 2);
        let b = hub.register(1, 11, 2);
        hub.expire_session(1, 10);
        assert_eq!(a.kill.kicked().await, Kick::SessionExpired);
        assert!(b.kill.reason.lock().unwrap().is_none());
    }
}
