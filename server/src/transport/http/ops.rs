//! Operations: liveness, readiness, metrics. (The OpenAPI document is served by `routes`.)

use http::StatusCode;
use schemars::JsonSchema;
use serde::Serialize;
use warp::reply::Response;

use secrecy::ExposeSecret;

use crate::error::Result;
use crate::metrics::metrics as registry;
use crate::service::auth::tokens;
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

/// Prometheus text. The session gauge is refreshed from the database at scrape time. With
/// `METRICS_TOKEN` set, only `Authorization: Bearer <that token>` may read it (401 otherwise).
pub async fn metrics(state: &AppState, req: Request) -> Result<Response> {
    if let Some(expected) = &state.config.metrics_token {
        let presented = super::guard::bearer(&req.headers).flatten();
        // Compared as digests: equal length, constant time.
        let ok = presented.is_some_and(|p| {
            tokens::same_hash(
                &tokens::hash_secret(p),
                &tokens::hash_secret(expected.expose_secret()),
            )
        });
        if !ok {
            return Err(crate::error::Error::unauthenticated());
        }
    }
    if let Ok(n) = state.auth.active_sessions().await {
        registry().active_sessions.set(n);
    }
    Ok(with_type(
        StatusCode::OK,
        registry().render(),
        "text/plain; version=0.0.4; charset=utf-8",
    ))
}
