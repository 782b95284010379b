//! Operations: liveness, readiness, metrics. (The OpenAPI document is served by `routes`.)

use http::StatusCode;
use schemars::JsonSchema;
use serde::Serialize;
use warp::reply::Response;

use crate::error::Result;
use crate::metrics::metrics as registry;
use crate::state::AppState;
use crate::transport::reply::{json, with_type};
use crate::transport::request::Request;

/// The body of `/healthz` and `/readyz`.
#[derive(Serialize, JsonSchema)]
pub struct Status {
    /// `ok` (the process runs) or `ready` (the database answers).
    pub status: &'static str,
}

/// 200 while the process runs.
pub async fn healthz(_state: &AppState, _req: Request) -> Result<Response> {
    Ok(json(StatusCode::OK, &Status { status: "ok" }))
}

/// 200 when the database answers, 503 otherwise (and 200 again once it is back: the pool
/// reconnects by itself).
pub async fn readyz(state: &AppState, _req: Request) -> Result<Response> {
    Ok(ready(state).await)
}

async fn ready(state: &AppState) -> Response {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await;
    match ping {
        Ok(Ok(())) => json(StatusCode::OK, &Status { status: "ready" }),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database error");
            unavailable()
        }
        Err(_) => {
            tracing::warn!("readiness: database timed out");
            unavailable()
        }
    }
}

fn unavailable() -> Response {
    crate::transport::reply::error_response(&crate::error::Error::api(
        protocol::ErrorCode::Unavailable,
        "the database is not reachable",
    ))
}

/// Prometheus text. The session gauge is refreshed from the database at scrape time.
pub async fn metrics(state: &AppState, _req: Request) -> Result<Response> {
    if let Ok(n) = state.auth.active_sessions().await {
        registry().active_sessions.set(n);
    }
    Ok(with_type(
        StatusCode::OK,
        registry().render(),
        "text/plain; version=0.0.4; charset=utf-8",
    ))
}
