//! The accept loop: every TCP connection passes here before any HTTP is spoken on it.
//!
//! warp's own `serve` builds hyper's connection without a timer, so a client that sends its
//! headers one byte at a time (or never) holds a connection — and a file descriptor — for
//! ever; a few hundred such clients take the server down (slowloris). Here each connection is:
//!
//! - **counted** before it is served: at most `MAX_CONNECTIONS` open at once (503 + `Retry-After`
//!   above), and at most `MAX_CONNECTIONS_PER_IP` from one client address (IPv6: one /64;
//!   429 + `Retry-After` above). A trusted proxy's connections carry many clients, so it is not
//!   held to the per-address count. The answers to refused connections are written straight on
//!   the socket, a bounded number at a time ([`Config::refusals_at_once`]).
//! - **timed** by [`Guarded`], the socket wrapper hyper reads and writes through: request
//!   headers must be complete `HEADER_READ_TIMEOUT_SECS` after their first byte (408, then
//!   close) and a new connection must start its first request within that time too; an idle
//!   keep-alive connection is closed after `KEEPALIVE_IDLE_SECS`; a response the client stops
//!   reading for `BODY_READ_TIMEOUT_SECS` is abandoned. (Reading a stalled *body* is timed where
//!   it is read, see [`super::read_body`].) Once upgraded to a WebSocket, the socket loop times
//!   its own reads and writes.
//! - **closed gracefully**: when the server drops a connection the client has not finished
//!   sending on (an early error, a timeout, a closed WebSocket), closing at once with unread
//!   bytes would make the kernel send a reset, which can destroy the answer on its way to the
//!   client. Instead the write side is shut and what still arrives is read and discarded for up
//!   to [`LINGER`] ("lingering close", as nginx and Apache do).
//!
//! Each request gets a [`ConnInfo`] extension naming the TCP peer (the client IP is worked out
//! from it and `TRUSTED_PROXIES` in [`super::client_ip`]).

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use dashmap::DashMap;
use hyper_util::rt::TokioIo;
use protocol::{ApiError, ErrorBody, ErrorCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use warp::Filter;
use warp::hyper::server::conn::http1;
use warp::hyper::service::service_fn;
use warp::reply::Response;

use crate::config::{Cidr, Config};
use crate::service::auth::limits::client_key;

/// How long a closing connection keeps reading (and discarding) what the client still sends.
pub const LINGER: Duration = Duration::from_secs(2);
/// `Retry-After` on a refused connection, seconds.
const RETRY_AFTER_SECS: u64 = 5;

/// The TCP peer of the connection a request came on (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
}

/// The connection rules, from the configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read: Duration,
    pub keepalive_idle: Duration,
    /// How long a response may wait for the client to read it.
    pub write_stall: Duration,
    pub max_connections: usize,
    pub refusals_at_once: usize,
    pub max_per_ip: usize,
    pub trusted_proxies: Arc<Vec<Cidr>>,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        Self {
            header_read: config.header_read_timeout,
            keepalive_idle: config.keepalive_idle,
            write_stall: config.body_read_timeout,
            max_connections: config.connection_limit(),
            refusals_at_once: config.refusals_at_once(),
            max_per_ip: config.max_connections_per_ip,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        }
    }
}

/// Serves `filter` on every connection `listener` accepts until `stop` resolves; then stops
/// accepting, lets each connection finish the request it is serving (idle ones close at
/// once), and returns when all have.
pub async fn serve<F>(
    listener: TcpListener,
    filter: F,
    limits: Limits,
    stop: impl std::future::Future<Output = ()>,
) where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let gate = Arc::new(Gate::new(&limits));
    let (closing, closing_rx) = watch::channel(false);
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors (EMFILE) or a connection reset before accept: wait a
                    // moment instead of spinning; the connection cap should keep us away from
                    // the first.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        match gate.admit(peer.ip()) {
            Ok(permit) => {
                let io = Guarded::new(stream, permit, &limits);
                tokio::spawn(connection(io, peer, filter.clone(), closing_rx.clone()));
            }
            Err(refusal) => gate.refuse(stream, refusal),
        }
    }
    drop(listener);
    let _ = closing.send(true);
    drop(closing_rx);
    closing.closed().await;
}

/// Speaks HTTP/1.1 on one connection until it ends (or is handed to a WebSocket).
async fn connection<F>(io: Guarded, peer: SocketAddr, filter: F, mut closing: watch::Receiver<bool>)
where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let clock = io.clock.clone();
    let svc = hyper_util::service::TowerToHyperService::new(warp::service(filter));
    let info = ConnInfo { peer };
    let service = service_fn(move |mut req: http::Request<warp::hyper::body::Incoming>| {
        req.extensions_mut().insert(info);
        let busy = Busy::begin(clock.clone());
        let answer = warp::hyper::service::Service::call(&svc, req);
        async move {
            let resp = answer.await;
            if let Ok(r) = &resp
                && r.status() == http::StatusCode::SWITCHING_PROTOCOLS
            {
                busy.upgraded();
            }
            resp
        }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        // Timed by `Guarded` instead: hyper's timer would also cut idle keep-alive connections
        // at the header timeout, and it closes without the 408.
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let closing = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = closing => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Marks a request being answered on a connection; dropped when the answer is ready.
struct Busy {
    clock: Arc<Clock>,
    upgraded: bool,
}

impl Busy {
    fn begin(clock: Arc<Clock>) -> Self {
        clock.with(|p| {
            p.busy += 1;
            p.served = true;
            p.head_started = None;
        });
        Self {
            clock,
            upgraded: false,
        }
    }

    fn upgraded(mut self) {
        self.upgraded = true;
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let upgraded = self.upgraded;
        let reader = self.clock.with(|p| {
            p.busy = p.busy.saturating_sub(1);
            p.idle_since = Instant::now();
            p.upgraded |= upgraded;
            p.reader.take()
        });
        // A read that started waiting while the request was answered waits without a
        // deadline: wake it so it takes the idle one.
        if let Some(w) = reader {
            w.wake();
        }
    }
}

/// Where a connection is between requests, for its read deadline.
struct Phase {
    /// Requests being answered.
    busy: usize,
    /// Handed to a WebSocket: the socket loop times it from now on.
    upgraded: bool,
    /// At least one request was answered (so waiting now is keep-alive idling).
    served: bool,
    /// When the connection was accepted or its last answer was ready.
    idle_since: Instant,
    /// When the first byte of the next request's head arrived.
    head_started: Option<Instant>,
    /// A read waiting without a deadline (while a request is answered), to wake when the
    /// answer is ready.
    reader: Option<std::task::Waker>,
}

/// Why a read deadline exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// For the rest of a request's head: 408.
    Head,
    /// For a request to start: just close.
    Idle,
}

struct Clock(Mutex<Phase>);

impl Clock {
    fn with<T>(&self, f: impl FnOnce(&mut Phase) -> T) -> T {
        // Poisoning needs a panic while the lock is held, and nothing here panics.
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut p)
    }

    /// Bytes arrived.
    fn heard(&self) {
        self.with(|p| {
            if p.busy == 0 && !p.upgraded && p.head_started.is_none() {
                p.head_started = Some(Instant::now());
            }
        });
    }

    /// When a read still waiting must give up, and why; `None` while a request is being
    /// answered (its body is timed where it is read; the read is woken when the answer is
    /// ready, to take the idle deadline) or after an upgrade.
    fn read_deadline(&self, limits: &Limits, cx: &Context<'_>) -> Option<(Instant, Waiting)> {
        self.with(|p| {
            if p.upgraded {
                return None;
            }
            if p.busy > 0 {
                p.reader = Some(cx.waker().clone());
                return None;
            }
            Some(match p.head_started {
                Some(at) => (at + limits.header_read, Waiting::Head),
                None if p.served => (p.idle_since + limits.keepalive_idle, Waiting::Idle),
                None => (p.idle_since + limits.header_read, Waiting::Idle),
            })
        })
    }
}

/// The TCP stream of one connection, with its deadlines, its place in the connection counts,
/// and a lingering close when dropped.
pub struct Guarded {
    stream: Option<TcpStream>,
    clock: Arc<Clock>,
    limits: Limits,
    read_timer: Pin<Box<Sleep>>,
    read_armed: Option<Instant>,
    write_timer: Option<Pin<Box<Sleep>>>,
    /// The client has finished sending: closing cannot reset anything.
    saw_eof: bool,
    permit: Option<Permit>,
}

impl Guarded {
    fn new(stream: TcpStream, permit: Permit, limits: &Limits) -> Self {
        let now = Instant::now();
        Self {
            stream: Some(stream),
            clock: Arc::new(Clock(Mutex::new(Phase {
                busy: 0,
                upgraded: false,
                served: false,
                idle_since: now,
                head_started: None,
                reader: None,
            }))),
            limits: limits.clone(),
            read_timer: Box::pin(tokio::time::sleep_until(now + limits.header_read)),
            read_armed: None,
            write_timer: None,
            saw_eof: false,
            permit: Some(permit),
        }
    }

    fn timed_out(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let before = buf.filled().len();
        match Pin::new(&mut *stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() == before {
                    this.saw_eof = true;
                } else {
                    this.clock.heard();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some((deadline, why)) = this.clock.read_deadline(&this.limits, cx) else {
                    return Poll::Pending;
                };
                if this.read_armed != Some(deadline) {
                    this.read_timer.as_mut().reset(deadline);
                    this.read_armed = Some(deadline);
                }
                if this.read_timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                crate::metrics::metrics()
                    .connections_timed_out
                    .with_label_values(&[match why {
                        Waiting::Head => "head",
                        Waiting::Idle => "idle",
                    }])
                    .inc();
                if why == Waiting::Head && this.write_timer.is_none() {
                    // Part of a request arrived and nothing of ours is half-written: say why
                    // we close (best effort: a few hundred bytes into an empty send buffer).
                    let _ = stream.try_write(&canned(
                        "408 Request Timeout",
                        ErrorCode::RequestTimeout,
                        "the request headers did not arrive in time",
                        None,
                    ));
                }
                Poll::Ready(Err(Self::timed_out("request timed out")))
            }
        }
    }
}

impl Guarded {
    /// Runs a write, abandoning it when the client has not read for `write_stall`.
    fn poll_timed_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        match write(Pin::new(stream), cx) {
            Poll::Ready(r) => {
                self.write_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let stall = self.limits.write_stall;
                let timer = self
                    .write_timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                if timer.as_mut().poll(cx).is_ready() {
                    crate::metrics::metrics()
                        .connections_timed_out
                        .with_label_values(&["write"])
                        .inc();
                    return Poll::Ready(Err(Self::timed_out("the client stopped reading")));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_timed_write(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_timed_write(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .poll_timed_write(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream.as_mut() {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        if self.saw_eof {
            return;
        }
        let permit = self.permit.take();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(linger(stream, permit));
        }
    }
}

/// Shuts the write side (the client sees the end of our answer) and discards what the client
/// still sends, until it closes too or [`LINGER`] passes; then the socket closes without a
/// reset. Holds the connection's place in the counts meanwhile: it still holds a descriptor.
async fn linger(mut stream: TcpStream, permit: Option<Permit>) {
    let _ = tokio::time::timeout(LINGER, async {
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    drop(permit);
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `MAX_CONNECTIONS` are open.
    Full,
    /// `MAX_CONNECTIONS_PER_IP` are open from this address (or /64).
    PerIp,
}

/// The connection counts.
struct Gate {
    open: Arc<Semaphore>,
    per_ip: Arc<DashMap<IpAddr, usize>>,
    max_per_ip: usize,
    trusted: Arc<Vec<Cidr>>,
    refusing: Arc<Semaphore>,
}

/// A connection's place in the counts; given back when dropped.
pub struct Permit {
    _open: OwnedSemaphorePermit,
    per_ip: Option<(Arc<DashMap<IpAddr, usize>>, IpAddr)>,
}

impl Permit {
    fn new(
        open: OwnedSemaphorePermit,
        per_ip: Option<(Arc<DashMap<IpAddr, usize>>, IpAddr)>,
    ) -> Self {
        crate::metrics::metrics().http_connections.inc();
        Self {
            _open: open,
            per_ip,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        crate::metrics::metrics().http_connections.dec();
        if let Some((map, key)) = &self.per_ip {
            if let Some(mut n) = map.get_mut(key) {
                *n = n.saturating_sub(1);
            }
            map.remove_if(key, |_, n| *n == 0);
        }
    }
}

impl Gate {
    fn new(limits: &Limits) -> Self {
        Self {
            open: Arc::new(Semaphore::new(limits.max_connections)),
            per_ip: Arc::new(DashMap::new()),
            max_per_ip: limits.max_per_ip,
            trusted: limits.trusted_proxies.clone(),
            refusing: Arc::new(Semaphore::new(limits.refusals_at_once)),
        }
    }

    /// A place for a connection from `ip`, or why there is none.
    fn admit(&self, ip: IpAddr) -> Result<Permit, Refusal> {
        let open = self
            .open
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Full)?;
        if self.trusted.iter().any(|c| c.contains(ip)) {
            return Ok(Permit::new(open, None));
        }
        let key = client_key(ip);
        let mut n = self.per_ip.entry(key).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *n += 1;
        drop(n);
        Ok(Permit::new(open, Some((self.per_ip.clone(), key))))
    }

    /// Answers a refused connection (503 or 429 with `Retry-After`) and closes it without a
    /// reset — or, when too many refusals are already being answered, just closes it.
    fn refuse(&self, stream: TcpStream, why: Refusal) {
        let metric = match why {
            Refusal::Full => "full",
            Refusal::PerIp => "per_ip",
        };
        crate::metrics::metrics()
            .connections_refused
            .with_label_values(&[metric])
            .inc();
        let Ok(slot) = self.refusing.clone().try_acquire_owned() else {
            return;
        };
        let answer = match why {
            Refusal::Full => canned(
                "503 Service Unavailable",
                ErrorCode::Unavailable,
                "the server is at its connection limit; try again shortly",
                Some(RETRY_AFTER_SECS),
            ),
            Refusal::PerIp => canned(
                "429 Too Many Requests",
                ErrorCode::RateLimited,
                "too many open connections from this address; close some first",
                Some(RETRY_AFTER_SECS),
            ),
        };
        tokio::spawn(async move {
            let mut stream = stream;
            let _ = tokio::time::timeout(LINGER, stream.write_all(&answer)).await;
            linger(stream, None).await;
            drop(slot);
        });
    }
}

/// A complete HTTP/1.1 error answer in the contract's shape, for writing straight on a socket
/// that hyper is not serving (or has not started to).
fn canned(status: &str, code: ErrorCode, message: &str, retry_after: Option<u64>) -> Vec<u8> {
    let body = serde_json::to_string(&ErrorBody {
        error: ApiError::new(code, message),
    })
    .unwrap_or_default();
    let retry = retry_after.map_or(String::new(), |s| format!("retry-after: {s}\r\n"));
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         {retry}cache-control: no-store\r\nx-content-type-options: nosniff\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_ip: usize, trusted: &[&str]) -> Limits {
        Limits {
            header_read: Duration::from_secs(1),
            keepalive_idle: Duration::from_secs(2),
            write_stall: Duration::from_secs(1),
            max_connections: max,
            refusals_at_once: 4,
            max_per_ip: per_ip,
            trusted_proxies: Arc::new(trusted.iter().map(|c| Cidr::parse(c).unwrap()).collect()),
        }
    }

    #[test]
    fn the_gate_counts_connections_in_all_and_per_address() {
        let gate = Gate::new(&limits(3, 2, &["10.0.0.1"]));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let p1 = gate.admit(a).unwrap();
        let _p2 = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).err(), Some(Refusal::PerIp));
        drop(p1);
        let _p3 = gate.admit(a).unwrap();
        // A trusted proxy is only held to the total (3).
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let _p4 = gate.admit(proxy).unwrap();
        assert_eq!(gate.admit(proxy).err(), Some(Refusal::Full));
        assert_eq!(gate.admit(a).err(), Some(Refusal::Full));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let gate = Gate::new(&limits(10, 2, &[]));
        let _a = gate.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        let _b = gate.admit("2001:db8:1:2:ffff::9".parse().unwrap()).unwrap();
        assert_eq!(
            gate.admit("2001:db8:1:2::3".parse().unwrap()).err(),
            Some(Refusal::PerIp)
        );
        assert!(gate.admit("2001:db8:1:3::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn canned_answers_are_complete_http() {
        let text = String::from_utf8(canned(
            "503 Service Unavailable",
            ErrorCode::Unavailable,
            "full",
            Some(5),
        ))
        .unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("retry-after: 5"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let parsed: ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.error.code, ErrorCode::Unavailable);
    }
}
