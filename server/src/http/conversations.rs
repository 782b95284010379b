//! `/api/conversations`: the assistant's saved conversations (the turns themselves run over the
//! socket).

use http::StatusCode;
use protocol::{ConversationsResponse, MessagesResponse};
use warp::reply::Response;

use super::Request;
use super::guard::authenticate;
use super::reply::{json, no_content};
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::store::conversations;

pub async fn list(state: &AppState, req: Request) -> Result<Response> {
    let who = authenticate(state, &req.headers).await?;
    let conversations = conversations::list(&state.db, who.user_id).await?;
    Ok(json(
        StatusCode::OK,
        &ConversationsResponse { conversations },
    ))
}

pub async fn messages(state: &AppState, req: Request, id: i64) -> Result<Response> {
    let who = authenticate(state, &req.headers).await?;
    let messages = conversations::messages(&state.db, who.user_id, id)
        .await?
        .ok_or_else(|| Error::not_found("conversation"))?;
    Ok(json(StatusCode::OK, &MessagesResponse { messages }))
}

pub async fn delete(state: &AppState, req: Request, id: i64) -> Result<Response> {
    let who = authenticate(state, &req.headers).await?;
    // A turn still generating for it is stopped first (on whichever instance runs it), so it
    // does not write into a deleted conversation.
    state.chat.cancel_if_running(who.user_id, id).await;
    if !conversations::delete(&state.db, who.user_id, id).await? {
        return Err(Error::not_found("conversation"));
    }
    Ok(no_content())
}
