//! Attacks on connections and memory, as issue 10 found them: slowloris (heads that never end,
//! bodies that stall), more connections than the server can hold (in all, and from one
//! address), a keep-alive connection dropped after an early error, and the memory of password
//! hashing under a burst of failed logins. The server is the real one: in-process where a
//! test only talks to it, the built binary where it must control the process (its open-file
//! limit, its memory).

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use protocol::{AckResult, ClientMessage, ServerMessage};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::helpers::{PASSWORD, TestApp, connect, spawn_app_with, unique_email, user_with_token};

/// A connection that has sent `bytes` and stays open.
async fn open_with(addr: std::net::SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    if !bytes.is_empty() {
        s.write_all(bytes).await.expect("write");
    }
    s
}

/// Reads until the server closes the connection, for at most `within`: what it sent, or
/// `None` if it is still open then.
async fn closed_within(mut s: TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut got)).await {
        Ok(_) => Some(String::from_utf8_lossy(&got).into_owned()),
        Err(_) => None,
    }
}

/// One HTTP/1.1 answer read off a keep-alive connection: (status, head, body).
async fn read_answer(s: &mut BufReader<TcpStream>) -> (u16, String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), s.read_line(&mut line))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "the server closed the connection; head so far: {head:?}"
        );
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            if k.eq_ignore_ascii_case("content-length") {
                v.trim().parse().ok()
            } else {
                None
            }
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.expect("body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// What the normal client does while the server is under attack: register, log in, open a
/// socket, add a todo over it.
async fn a_normal_client_gets_through(app: &TestApp) {
    let (c, _, token) = user_with_token(app).await;
    assert_eq!(c.login(&c.email, PASSWORD).await.status, StatusCode::OK);
    let mut ws = connect(app, &token).await;
    let ack = ws
        .call(ClientMessage::TodoAdd {
            title: "milk".into(),
            description: None,
        })
        .await;
    assert!(
        matches!(
            ack,
            ServerMessage::Ack {
                result: AckResult::Todo { .. },
                ..
            }
        ),
        "{ack:?}"
    );
}

#[tokio::test]
async fn half_open_heads_and_stalled_bodies_are_closed_in_time_while_a_client_works() {
    const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
    const BODY_TIMEOUT: Duration = Duration::from_secs(3);
    // Both ends of every connection are in this process: two descriptors each.
    let fds = server::config::raise_fd_limit() as usize;
    let room = fds.saturating_sub(400) / 2;
    let (heads, bodies) = (500.min(room * 5 / 6), 100.min(room / 6));
    assert!(
        heads >= 100,
        "the open-file limit ({fds}) is too low for this test"
    );
    let app = spawn_app_with(|c| {
        c.header_read_timeout = HEAD_TIMEOUT;
        c.body_read_timeout = BODY_TIMEOUT;
        c.max_connections = Some(heads + bodies + 200);
        c.max_connections_per_ip = heads + bodies + 200;
    })
    .await;
    let addr = app.app.addr;

    let started = Instant::now();
    let mut attack = Vec::new();
    for i in 0..heads {
        // Half the heads trickle a first line, half send nothing at all.
        let bytes: &[u8] = if i % 2 == 0 {
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
        } else {
            b""
        };
        attack.push((false, open_with(addr, bytes).await));
    }
    for _ in 0..bodies {
        let head =
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                     Content-Length: 100\r\n\r\n{\"email\":";
        attack.push((true, open_with(addr, head).await));
    }
    let opened = started.elapsed();

    // The server keeps serving.
    tokio::time::timeout(Duration::from_secs(30), a_normal_client_gets_through(&app))
        .await
        .expect("a normal client gets through during the attack");

    // Every attacking connection is closed within its timeout (plus slack for a loaded box);
    // a stalled body is told why (408 request_timeout).
    let slack = Duration::from_secs(5);
    let deadline = opened + BODY_TIMEOUT.max(HEAD_TIMEOUT) + slack;
    let results = join_all(attack.into_iter().map(|(body, s)| async move {
        let left = deadline.saturating_sub(started.elapsed());
        (body, closed_within(s, left).await)
    }))
    .await;
    let mut timed_out_heads = 0;
    for (body, got) in results {
        let got = got.unwrap_or_else(|| panic!("still open after {deadline:?} (body: {body})"));
        if body {
            assert!(got.starts_with("HTTP/1.1 408"), "{got}");
            assert!(got.contains("\"request_timeout\""), "{got}");
        } else if got.starts_with("HTTP/1.1 408") {
            timed_out_heads += 1;
        } else {
            assert!(
                got.is_empty(),
                "a silent connection is just closed: {got:?}"
            );
        }
    }
    assert_eq!(
        timed_out_heads,
        heads.div_ceil(2),
        "every started head is answered 408"
    );
    // And the server is as good as new.
    a_normal_client_gets_through(&app).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_lasts_keepalive_idle_not_the_header_timeout() {
    let app = spawn_app_with(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.keepalive_idle = Duration::from_secs(3);
    })
    .await;
    let get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut s = BufReader::new(open_with(app.app.addr, get).await);
    assert_eq!(read_answer(&mut s).await.0, 200);
    // Idle for longer than the header timeout: still served.
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.get_mut().write_all(get).await.expect("write");
    assert_eq!(read_answer(&mut s).await.0, 200);
    // Idle for longer than KEEPALIVE_IDLE_SECS: closed (without an answer: nothing was asked).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest))
        .await
        .expect("closed by now")
        .expect("read");
    assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&rest));

    // A connection that never sends a byte is closed after the header timeout.
    let quiet = open_with(app.app.addr, b"").await;
    let t = Instant::now();
    assert_eq!(
        closed_within(quiet, Duration::from_secs(5))
            .await
            .as_deref(),
        Some("")
    );
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn past_max_connections_new_ones_get_503_and_past_the_per_address_limit_429() {
    let app = spawn_app_with(|c| c.max_connections = Some(6)).await;
    let addr = app.app.addr;
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(open_with(addr, b"").await);
    }
    // Accepted connections are counted as they are accepted: give the loop a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = open_with(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let got = closed_within(refused, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.to_ascii_lowercase().contains("retry-after: "), "{got}");
    assert!(got.contains("\"unavailable\""), "{got}");
    // Places come back as connections close.
    drop(held);
    let c = app.client();
    let mut ok = false;
    for _ in 0..50 {
        if c.get("/healthz").await.status == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "served again once the connections closed");

    // Per address (127.0.0.1 here): 429 with Retry-After…
    let app = spawn_app_with(|c| c.max_connections_per_ip = 3).await;
    let held: Vec<_> = join_all((0..3).map(|_| open_with(app.app.addr, b""))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = open_with(app.app.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let got = closed_within(refused, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    assert!(got.starts_with("HTTP/1.1 429"), "{got}");
    assert!(got.to_ascii_lowercase().contains("retry-after: "), "{got}");
    assert!(got.contains("\"rate_limited\""), "{got}");
    drop(held);

    // …unless the address is a trusted proxy, whose connections carry many clients.
    let app = spawn_app_with(|c| {
        c.max_connections_per_ip = 3;
        c.trusted_proxies = vec![server::config::Cidr::parse("127.0.0.1").unwrap()];
    })
    .await;
    let _held: Vec<_> = join_all((0..3).map(|_| open_with(app.app.addr, b""))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.client().get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_early_answer_drains_the_body_and_keeps_the_connection() {
    let app = spawn_app_with(|_| {}).await;
    let body = "x".repeat(200_000);
    let mut s = BufReader::new(open_with(app.app.addr, b"").await);
    for (request, want) in [
        // 404: no such route.
        (
            format!(
                "POST /api/nope HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            404,
        ),
        // 403: a foreign origin, refused before anything else.
        (
            format!(
                "POST /api/todos HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            403,
        ),
        // 401: no session.
        (
            format!(
                "POST /api/todos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            401,
        ),
    ] {
        s.get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write");
        let (status, head, _) = read_answer(&mut s).await;
        assert_eq!(status, want, "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        // The same connection serves the next request.
        s.get_mut()
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(read_answer(&mut s).await.0, 200, "after a {want}");
    }
}

// ---------------------------------------------------------------------------------------------
// The built binary, for what only a process of its own can show
// ---------------------------------------------------------------------------------------------

/// The server binary on a free port with a fresh data directory.
struct Process {
    child: tokio::process::Child,
    url: String,
    dir: std::path::PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The resident memory of process `pid`, MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    Some(kib / 1024.0)
}

impl Process {
    async fn start(env: &[(&str, &str)], nofile: Option<u64>) -> Process {
        let n: u64 = rand::random();
        let dir = std::env::temp_dir().join(format!("todo-abuse-{n:016x}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"));
        cmd.env_clear()
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("DATA_DIR", &dir)
            .env("AGENT", "offline")
            .env("RUST_LOG", "warn,server::app=info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(limit) = nofile {
            // SAFETY: setrlimit is async-signal-safe and changes only the child.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("server starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("listening on http://") {
                    let rest = &line[at + "listening on ".len()..];
                    return rest.split_whitespace().next().map(str::to_owned);
                }
            }
            None
        })
        .await
        .expect("started in time")
        .expect("logged its address");
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Process { child, url, dir }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }
}

#[tokio::test]
async fn password_hashing_memory_is_bounded_by_the_permits_and_given_back() {
    const PERMITS: f64 = 4.0;
    // The default (OWASP) cost: 19 MiB a hash.
    let server = Process::start(
        &[("AUTH_RATE_PER_MIN", "0"), ("HASH_CONCURRENCY", "4")],
        None,
    )
    .await;
    let pid = server.pid();
    let before = rss_mib(pid).expect("rss");
    let peak = std::sync::Arc::new(std::sync::Mutex::new(before));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Some(now) = rss_mib(pid) {
                    let mut p = peak.lock().unwrap();
                    *p = p.max(now);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    // 200 failed logins with unknown emails (no account needed), 16 at a time.
    let http = reqwest::Client::new();
    let url = format!("{}/api/auth/login", server.url);
    futures_util::stream::iter(0..200)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http
                    .post(&url)
                    .json(&json!({"email": unique_email(), "password": "wrong password"}))
                    .send()
                    .await
                    .expect("login");
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    sampling.abort();
    let peak = *peak.lock().unwrap();
    let bound = PERMITS * 19.0 + 64.0;
    assert!(
        peak < bound,
        "RSS peaked at {peak:.0} MiB, over {bound} MiB"
    );
    // Given back once nobody is hashing.
    let mut after = rss_mib(pid).expect("rss");
    for _ in 0..50 {
        if after <= before + 16.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = rss_mib(pid).expect("rss");
    }
    assert!(
        after <= before + 16.0,
        "RSS {before:.0} MiB before, {after:.0} MiB after (peak {peak:.0})"
    );
}

#[tokio::test]
async fn a_low_file_limit_caps_connections_and_the_server_keeps_answering() {
    // The run: 140 half-open requests against a 128-descriptor process made every
    // /healthz time out. Now MAX_CONNECTIONS is derived from the limit, the overflow is told
    // 503 at once, and the half-open ones are closed by the header timeout.
    let server = Process::start(&[("HEADER_READ_TIMEOUT_SECS", "2")], Some(128)).await;
    let addr: std::net::SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let mut held = Vec::new();
    for _ in 0..140 {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            let _ = s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await;
            held.push(s);
        }
    }
    // Every probe is answered promptly: 503 while full, 200 once the half-open ones are gone.
    // (Past the refusals being answered at once, a refused connection is closed without an
    // answer: that is a failed request, not a hang.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    let started = Instant::now();
    let mut statuses = Vec::new();
    while started.elapsed() < Duration::from_secs(8) {
        match http.get(format!("{}/healthz", server.url)).send().await {
            Ok(r) => statuses.push(r.status().as_u16()),
            Err(e) if e.is_timeout() => panic!("/healthz hung: {e} after {:?}", started.elapsed()),
            Err(_) => statuses.push(0),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        statuses.iter().all(|s| matches!(s, 0 | 200 | 503)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the overflow is told: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    drop(held);
}
