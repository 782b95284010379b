//! The floor: a bare in-process tokio-tungstenite server that answers like the real server
//! would, with no database, no auth check and no limits.
//!
//! It speaks the same frames (the `protocol` crate) so the very same client code runs against
//! it: `welcome` first; for each todo command an `ack` with the client's id, then the matching
//! `todo.*` event with the user's next `seq` to every socket of that user (sender included);
//! `chat.send` gets an ack and an immediate stream (`chat.started`, three deltas,
//! `chat.done`). The user is whatever follows `Bearer echo-` in the upgrade request. What the
//! real server adds on top of these numbers is its own cost.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use protocol::{
    AckResult, ClientFrame, ClientMessage, ErrorCode, FinishReason, PROTOCOL_VERSION,
    ServerMessage, StatusFilter, Todo, User,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

/// The bearer-token prefix that names the echo user (`echo-<id>`).
pub const TOKEN_PREFIX: &str = "echo-";

#[derive(Default)]
struct EchoUser {
    seq: i64,
    next_todo: i64,
    next_conversation: i64,
    todos: HashMap<i64, Todo>,
    sockets: Vec<(u64, mpsc::UnboundedSender<Message>)>,
}

#[derive(Default)]
struct Hub {
    users: HashMap<i64, EchoUser>,
    next_socket: u64,
}

type SharedHub = Arc<Mutex<Hub>>;

fn lock(hub: &SharedHub) -> std::sync::MutexGuard<'_, Hub> {
    hub.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running echo server; dropping it stops accepting.
pub struct EchoServer {
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl EchoServer {
    /// Listen on 127.0.0.1 on a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hub: SharedHub = Arc::default();
        let accept = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(serve(stream, hub.clone()));
                    }
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                }
            }
        });
        Ok(Self { addr, accept })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

// The handshake callback's error type is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
async fn serve(stream: TcpStream, hub: SharedHub) {
    let mut user_id: Option<i64> = None;
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        user_id = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|v| v.strip_prefix(TOKEN_PREFIX))
            .and_then(|v| v.parse().ok());
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(crate::session::client_ws_config()),
    )
    .await
    else {
        return;
    };
    let Some(user_id) = user_id else {
        let _ = ws.close(None).await;
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (socket_id, welcome) = {
        let mut hub = lock(&hub);
        hub.next_socket += 1;
        let socket_id = hub.next_socket;
        let user = hub.users.entry(user_id).or_default();
        user.sockets.push((socket_id, tx));
        let welcome = ServerMessage::Welcome {
            user: User {
                id: user_id,
                email: format!("echo-{user_id}@example.com"),
                name: None,
                created_at: Utc::now(),
            },
            session_id: user_id,
            seq: user.seq,
            protocol: PROTOCOL_VERSION,
        };
        (socket_id, welcome)
    };
    if ws.send(Message::text(welcome.to_json())).await.is_ok() {
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(msg) => if ws.send(msg).await.is_err() { break },
                    None => break,
                },
                inc = ws.next() => match inc {
                    Some(Ok(Message::Text(text))) => {
                        let reply = handle(&hub, user_id, &text);
                        if ws.send(Message::text(reply.to_json())).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    let mut hub = lock(&hub);
    if let Some(user) = hub.users.get_mut(&user_id) {
        user.sockets.retain(|(id, _)| *id != socket_id);
    }
}

/// Answer one client frame; events go to every socket of the user through the hub.
fn handle(hub: &SharedHub, user_id: i64, text: &str) -> ServerMessage {
    let frame: ClientFrame = match serde_json::from_str(text) {
        Ok(f) => f,
        Err(_) => {
            return ServerMessage::Error {
                id: None,
                code: ErrorCode::BadRequest,
                message: "not a client frame".into(),
            };
        }
    };
    let id = frame.id;
    let mut hub = lock(hub);
    let user = hub.users.entry(user_id).or_default();
    let now = Utc::now();
    let not_found = |id| ServerMessage::Error {
        id,
        code: ErrorCode::NotFound,
        message: "todo not found".into(),
    };
    // Completing is an update of one field, as on the server.
    let msg = match frame.msg {
        ClientMessage::TodoComplete { todo_id } => ClientMessage::TodoUpdate {
            todo_id,
            title: None,
            description: None,
            completed: Some(true),
        },
        other => other,
    };
    let (result, events): (AckResult, Vec<ServerMessage>) = match msg {
        ClientMessage::TodoAdd { title, description } => {
            user.next_todo += 1;
            let todo = Todo {
                id: user.next_todo,
                title,
                description: description.unwrap_or_default(),
                completed: false,
                created_at: now,
                updated_at: now,
            };
            user.todos.insert(todo.id, todo.clone());
            user.seq += 1;
            let ev = ServerMessage::TodoCreated {
                seq: user.seq,
                todo: todo.clone(),
            };
            (AckResult::Todo { todo }, vec![ev])
        }
        ClientMessage::TodoUpdate {
            todo_id,
            title,
            description,
            completed,
        } => {
            let Some(todo) = user.todos.get_mut(&todo_id) else {
                return not_found(id);
            };
            if let Some(t) = title {
                todo.title = t;
            }
            if let Some(d) = description {
                todo.description = d;
            }
            if let Some(c) = completed {
                todo.completed = c;
            }
            todo.updated_at = now;
            let todo = todo.clone();
            user.seq += 1;
            let ev = ServerMessage::TodoUpdated {
                seq: user.seq,
                todo: todo.clone(),
            };
            (AckResult::Todo { todo }, vec![ev])
        }
        ClientMessage::TodoDelete { todo_id } => {
            if user.todos.remove(&todo_id).is_none() {
                return not_found(id);
            }
            user.seq += 1;
            let ev = ServerMessage::TodoDeleted {
                seq: user.seq,
                todo_id,
            };
            (AckResult::Deleted { todo_id }, vec![ev])
        }
        ClientMessage::TodoList { status, .. } => {
            let filter = status.unwrap_or(StatusFilter::All);
            let mut todos: Vec<Todo> = user
                .todos
                .values()
                .filter(|t| filter.matches(t))
                .cloned()
                .collect();
            todos.sort_by_key(|t| t.id);
            (
                AckResult::Todos {
                    todos,
                    next_after: None,
                },
                vec![],
            )
        }
        ClientMessage::ChatSend {
            conversation_id, ..
        } => {
            let conversation_id = conversation_id.unwrap_or_else(|| {
                user.next_conversation += 1;
                user.next_conversation
            });
            let mut events = vec![ServerMessage::ChatStarted {
                conversation_id,
                message_id: conversation_id,
            }];
            for piece in ["Echo ", "says ", "hello."] {
                events.push(ServerMessage::ChatDelta {
                    conversation_id,
                    text: piece.into(),
                });
            }
            events.push(ServerMessage::ChatDone {
                conversation_id,
                message_id: conversation_id,
                finish_reason: FinishReason::Stop,
                error: None,
            });
            (AckResult::Conversation { conversation_id }, events)
        }
        ClientMessage::Hello { .. } => (AckResult::Resumed { seq: user.seq }, vec![]),
        ClientMessage::Ping => return ServerMessage::Pong { id },
        // Turned into an update above.
        ClientMessage::ChatCancel { .. } | ClientMessage::TodoComplete { .. } => {
            (AckResult::Empty {}, vec![])
        }
    };
    // Serialize each event once and hand the same bytes to every socket, like the real hub.
    for ev in events {
        let msg = Message::text(ev.to_json());
        for (_, tx) in &user.sockets {
            let _ = tx.send(msg.clone());
        }
    }
    ServerMessage::Ack { id, result }
}
