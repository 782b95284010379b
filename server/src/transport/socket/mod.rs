//! The WebSocket: `GET /ws` is a route like any other (the route table authenticates it and
//! checks its `Origin`); [`upgrade`] completes the handshake and starts one task per socket,
//! [`conn`], which reads → runs → answers while forwarding the user's events in `seq` order.
//! [`commands`] maps each client message to a service call.
//!
//! The upgrade is taken from hyper directly (not `warp::ws`) so the socket's buffers can be
//! sized: tungstenite's default 128 KiB read buffer per socket would alone be twice the
//! 64 KiB-per-idle-socket budget.

mod commands;
mod conn;

use http::StatusCode;
use http::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tracing::Instrument;
use warp::reply::Response;

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::transport::request::{Caller, Request};

/// `GET /ws`: 401 without a valid session, 400 if it is not a WebSocket handshake, else 101.
pub async fn upgrade(state: &AppState, who: Caller, req: Request) -> Result<Response> {
    let header_has = |name, want: &str| {
        req.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(want))
    };
    let key = req.header(SEC_WEBSOCKET_KEY).map(str::to_owned);
    let (Some(key), true, true, true, Some(on_upgrade)) = (
        key,
        header_has(UPGRADE, "websocket"),
        header_has(CONNECTION, "upgrade"),
        req.header("sec-websocket-version") == Some("13"),
        req.upgrade,
    ) else {
        return Err(Error::bad_request(
            "expected a WebSocket upgrade (version 13)",
        ));
    };
    let user = state.auth.user(who.user_id).await?;
    let state2 = state.clone();
    let span = tracing::info_span!("ws", user_id = who.user_id, session_id = who.session_id);
    tokio::spawn(
        async move {
            let upgraded = match on_upgrade.await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(error = %e, "upgrade failed");
                    return;
                }
            };
            let config = WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(0)
                .max_write_buffer_size(1 << 20)
                .max_message_size(Some(state2.config.ws_max_message_bytes))
                .max_frame_size(Some(state2.config.ws_max_message_bytes));
            let ws = WebSocketStream::from_raw_socket(
                hyper_util::rt::TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            conn::run(state2, who, user, ws).await;
        }
        .instrument(span),
    );
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut resp = crate::transport::reply::no_content();
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok(resp)
}
