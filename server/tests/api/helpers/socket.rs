//! A WebSocket client that speaks the protocol crate: [`connect`] opens `/ws` with a bearer
//! token and reads the welcome; [`Socket`] sends frames with fresh ids and reads replies,
//! events and the close code, each within [`TIMEOUT`].

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{ClientFrame, ClientMessage, ServerMessage};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::app::TestApp;

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket client that speaks the protocol crate.
pub struct Socket {
    pub ws: WsStream,
    pub welcome: ServerMessage,
    next_id: u64,
}

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Opens `/ws` with a bearer token and reads the welcome.
pub async fn connect(app: &TestApp, token: &str) -> Socket {
    let mut req = app.ws_url().into_client_request().expect("ws request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connects");
    let welcome = next_json(&mut ws).await;
    assert!(
        matches!(welcome, ServerMessage::Welcome { .. }),
        "{welcome:?}"
    );
    Socket {
        ws,
        welcome,
        next_id: 0,
    }
}

async fn next_json(ws: &mut WsStream) -> ServerMessage {
    loop {
        let msg = tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        match msg {
            Message::Text(t) => {
                return serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("{e}: {t}"));
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

impl Socket {
    pub fn welcome_seq(&self) -> i64 {
        match &self.welcome {
            ServerMessage::Welcome { seq, .. } => *seq,
            _ => unreachable!(),
        }
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Sends a message with a fresh id and returns the id.
    pub async fn send(&mut self, msg: ClientMessage) -> String {
        self.next_id += 1;
        let id = format!("c{}", self.next_id);
        let frame = ClientFrame {
            id: Some(id.clone()),
            msg,
        };
        self.send_raw(&serde_json::to_string(&frame).expect("json"))
            .await;
        id
    }

    pub async fn recv(&mut self) -> ServerMessage {
        next_json(&mut self.ws).await
    }

    /// Reads frames until the ack or error for `id`, returning it and the frames before it.
    pub async fn reply_to(&mut self, id: &str) -> (ServerMessage, Vec<ServerMessage>) {
        let mut before = Vec::new();
        loop {
            let m = self.recv().await;
            match &m {
                ServerMessage::Ack { id: Some(i), .. }
                | ServerMessage::Error { id: Some(i), .. }
                    if i == id =>
                {
                    return (m, before);
                }
                _ => before.push(m),
            }
        }
    }

    /// Sends and waits for the reply.
    pub async fn call(&mut self, msg: ClientMessage) -> ServerMessage {
        let id = self.send(msg).await;
        self.reply_to(&id).await.0
    }

    /// The next todo event (skipping acks and other frames).
    pub async fn next_event(&mut self) -> ServerMessage {
        loop {
            let m = self.recv().await;
            if m.seq().is_some() {
                return m;
            }
        }
    }

    /// Asserts nothing arrives for `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        match tokio::time::timeout(wait, self.ws.next()).await {
            Err(_) => {}
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("expected silence, got {other:?}"),
        }
    }

    /// Waits for the close frame and returns its code.
    pub async fn closed_with(&mut self) -> u16 {
        loop {
            match tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("close in time")
            {
                Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
                Some(Ok(Message::Close(None))) | None => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error before close: {e}"),
            }
        }
    }
}
