//! A fake OpenAI-compatible server on 127.0.0.1:0 that speaks the real streaming format: an
//! HTTP/1.1 response with `Content-Type: text/event-stream`, chunked, one
//! `data: {chat.completion.chunk}` event per chunk, tool-call arguments split across chunks,
//! `finish_reason`, `data: [DONE]`. Each request takes the next scripted [`Reply`] (a plain
//! "ok" answer when the script is empty) and is recorded with its JSON body, so tests can
//! assert what the model was sent, and whether the server dropped the connection early.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// What the fake answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 and a stream of events.
    Stream(Vec<Ev>),
    /// This status and body, not streamed.
    Status(u16, String),
}

/// One step of a streamed answer.
#[derive(Debug, Clone)]
pub enum Ev {
    /// `data: <json>`.
    Chunk(Value),
    /// `data: <text>` as is (for malformed chunks).
    Raw(String),
    /// Wait (noticing if the client hangs up meanwhile).
    Sleep(Duration),
    /// Wait until the client hangs up.
    Stall,
    /// `data: [DONE]`.
    Done,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub received: Instant,
    /// When the first chunk was written.
    pub first_chunk: Option<Instant>,
    /// The client closed the connection before the answer was complete.
    pub dropped: bool,
    pub finished: bool,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
}

pub struct FakeOpenAi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let _ = conn.set_nodelay(true);
                tokio::spawn(serve(conn, s.clone()));
            }
        });
        Self { addr, shared, task }
    }

    /// The base URL to give the server (`OPENAI_BASE_URL`).
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues the answer to a future request.
    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().unwrap().push_back(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The JSON body of request `i`.
    pub fn body(&self, i: usize) -> Value {
        self.requests()[i].body.clone()
    }

    /// Waits until request `i` has been dropped by the client (false after `within`).
    pub async fn wait_dropped(&self, i: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.requests().get(i).is_some_and(|r| r.dropped) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

/// A `chat.completion.chunk` with one choice.
pub fn chunk(delta: Value, finish_reason: Option<&str>) -> Ev {
    Ev::Chunk(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
    }))
}

/// A text answer streamed in these pieces.
pub fn text(pieces: &[&str]) -> Reply {
    let mut evs = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    evs.extend(pieces.iter().map(|p| chunk(json!({"content": p}), None)));
    evs.push(chunk(json!({}), Some("stop")));
    evs.push(Ev::Done);
    Reply::Stream(evs)
}

/// Tool calls `(id, name, arguments JSON)`, the way OpenAI streams them: the first fragment of
/// each has its index, id and name; the arguments follow in pieces of a few characters that
/// carry only the index, the calls' fragments interleaved.
pub fn tool_calls(calls: &[(&str, &str, &str)]) -> Reply {
    let mut evs = vec![chunk(json!({"role": "assistant", "content": null}), None)];
    for (i, (id, name, _)) in calls.iter().enumerate() {
        evs.push(chunk(
            json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                                    "function": {"name": name, "arguments": ""}}]}),
            None,
        ));
    }
    let pieces: Vec<Vec<String>> = calls
        .iter()
        .map(|(_, _, args)| {
            args.chars()
                .collect::<Vec<_>>()
                .chunks(5)
                .map(|c| c.iter().collect())
                .collect()
        })
        .collect();
    let longest = pieces.iter().map(Vec::len).max().unwrap_or(0);
    for n in 0..longest {
        for (i, p) in pieces.iter().enumerate() {
            if let Some(piece) = p.get(n) {
                evs.push(chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
        }
    }
    evs.push(chunk(json!({}), Some("tool_calls")));
    evs.push(Ev::Done);
    Reply::Stream(evs)
}

async fn serve(conn: tokio::net::TcpStream, shared: Arc<Shared>) {
    let (mut rd, mut wr) = conn.into_split();
    let Some((head, body)) = read_request(&mut rd).await else {
        return;
    };
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_owned();
    let authorization = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("authorization")
            .then(|| v.trim().to_owned())
    });
    let index = {
        let mut reqs = shared.requests.lock().unwrap();
        reqs.push(Recorded {
            path,
            authorization,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            received: Instant::now(),
            first_chunk: None,
            dropped: false,
            finished: false,
        });
        reqs.len() - 1
    };
    let reply = shared
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| text(&["ok"]));
    let mark = |f: &dyn Fn(&mut Recorded)| {
        if let Some(r) = shared.requests.lock().unwrap().get_mut(index) {
            f(r);
        }
    };
    match reply {
        Reply::Status(code, body) => {
            let head = format!(
                "HTTP/1.1 {code} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = wr.write_all(head.as_bytes()).await;
            let _ = wr.write_all(body.as_bytes()).await;
            let _ = wr.shutdown().await;
            mark(&|r| r.finished = true);
        }
        Reply::Stream(events) => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            if wr.write_all(head.as_bytes()).await.is_err() {
                mark(&|r| r.dropped = true);
                return;
            }
            for ev in events {
                let ok = match ev {
                    Ev::Chunk(v) => {
                        let ok = send_event(&mut wr, &v.to_string()).await;
                        mark(&|r| {
                            r.first_chunk.get_or_insert_with(Instant::now);
                        });
                        ok
                    }
                    Ev::Raw(s) => send_event(&mut wr, &s).await,
                    Ev::Done => send_event(&mut wr, "[DONE]").await,
                    Ev::Sleep(d) => !hung_up_within(&mut rd, Some(d)).await,
                    Ev::Stall => !hung_up_within(&mut rd, None).await,
                };
                if !ok {
                    mark(&|r| r.dropped = true);
                    return;
                }
            }
            let _ = wr.write_all(b"0\r\n\r\n").await;
            let _ = wr.shutdown().await;
            mark(&|r| r.finished = true);
        }
    }
}

/// Writes one SSE event as one HTTP chunk; false if the client is gone.
async fn send_event(wr: &mut OwnedWriteHalf, data: &str) -> bool {
    let event = format!("data: {data}\n\n");
    let framed = format!("{:x}\r\n{event}\r\n", event.len());
    wr.write_all(framed.as_bytes()).await.is_ok() && wr.flush().await.is_ok()
}

/// True if the client closes its side within `wait` (forever when `None`).
async fn hung_up_within(rd: &mut OwnedReadHalf, wait: Option<Duration>) -> bool {
    let mut buf = [0u8; 256];
    let closed = async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    match wait {
        Some(d) => tokio::time::timeout(d, closed).await.is_ok(),
        None => {
            closed.await;
            true
        }
    }
}

/// Reads one request: the head (as text) and the body (by Content-Length).
async fn read_request(rd: &mut OwnedReadHalf) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = rd.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = rd.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some((head, body))
}
