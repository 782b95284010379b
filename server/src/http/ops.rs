//! Operations: liveness, readiness, metrics, the OpenAPI document.

use http::StatusCode;
use serde_json::json;
use warp::reply::Response;

use super::reply::{json, with_type};
use crate::app::AppState;
use crate::metrics::metrics as registry;

/// 200 while the process runs.
pub fn healthz() -> Response {
    json(StatusCode::OK, &json!({"status": "ok"}))
}

/// 200 when the database answers, 503 otherwise (and 200 again once it is back: the pool
/// reconnects by itself).
pub async fn readyz(state: &AppState) -> Response {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await;
    match ping {
        Ok(Ok(())) => json(StatusCode::OK, &json!({"status": "ready"})),
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
    super::reply::error_response(&crate::error::Error::api(
        protocol::ErrorCode::Unavailable,
        "the database is not reachable",
    ))
}

/// Prometheus text. The session gauge is refreshed from the database at scrape time.
pub async fn metrics(state: &AppState) -> Response {
    if let Ok(n) = state.auth.active_sessions().await {
        registry().active_sessions.set(n);
    }
    with_type(
        StatusCode::OK,
        registry().render(),
        "text/plain; version=0.0.4; charset=utf-8",
    )
}

pub fn openapi() -> Response {
    with_type(
        StatusCode::OK,
        super::openapi::document(),
        "application/json",
    )
}
