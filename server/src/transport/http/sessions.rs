//! `/api/auth/sessions` and `/api/auth/logout-all`: the caller's devices, signing one out, and
//! signing out everywhere.

use http::StatusCode;
use protocol::SessionsResponse;
use warp::reply::Response;

use super::auth::with_cleared_cookies;
use crate::error::Result;
use crate::state::AppState;
use crate::transport::reply::{json, no_content};
use crate::transport::request::{Caller, Request};

pub async fn list(state: &AppState, caller: Caller, _req: Request) -> Result<Response> {
    let sessions = state.auth.sessions(&caller).await?;
    Ok(json(StatusCode::OK, &SessionsResponse { sessions }))
}

pub async fn delete(state: &AppState, caller: Caller, req: Request) -> Result<Response> {
    let id = req.id()?;
    state.auth.end_session(&caller, id).await?;
    let resp = no_content();
    // Ending this very session is a logout: its cookies go too.
    Ok(if id == caller.session_id {
        with_cleared_cookies(state, resp)
    } else {
        resp
    })
}

pub async fn logout_all(state: &AppState, caller: Caller, _req: Request) -> Result<Response> {
    state.auth.logout_all(&caller).await?;
    Ok(with_cleared_cookies(state, no_content()))
}
