//! `/api/conversations`: the assistant's saved conversations (the turns themselves run over the
//! socket).

use http::StatusCode;
use protocol::{ConversationsResponse, MessagesResponse};
use warp::reply::Response;

use crate::error::Result;
use crate::state::AppState;
use crate::transport::reply::{json, no_content};
use crate::transport::request::{Caller, Request};

pub async fn list(state: &AppState, who: Caller, _req: Request) -> Result<Response> {
    let conversations = state.chat.conversations(who.user_id).await?;
    Ok(json(
        StatusCode::OK,
        &ConversationsResponse { conversations },
    ))
}

pub async fn messages(state: &AppState, who: Caller, req: Request) -> Result<Response> {
    let messages = state.chat.messages(who.user_id, req.id()?).await?;
    Ok(json(StatusCode::OK, &MessagesResponse { messages }))
}

pub async fn delete(state: &AppState, who: Caller, req: Request) -> Result<Response> {
    state.chat.delete(who.user_id, req.id()?).await?;
    Ok(no_content())
}
