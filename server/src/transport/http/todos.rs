//! `/api/todos`: the same todo service the socket and the assistant use, so every change here
//! reaches the user's sockets too.

use http::StatusCode;
use protocol::{
    CreateTodo, ErrorCode, StatusFilter, TodoResponse, TodosResponse, UpdateTodo, missing,
};
use schemars::{Schema, SchemaGenerator, json_schema};
use warp::reply::Response;

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::transport::reply::{json, no_content, parse_json};
use crate::transport::request::{Caller, Request};

/// `?status=all|pending|completed` (default all); anything else is a 422 naming `status`.
fn status_filter(query: &str) -> Result<StatusFilter> {
    let mut status = StatusFilter::All;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "status" {
            status = match v {
                "" => StatusFilter::All,
                v => v.parse().map_err(|_| {
                    Error::api(
                        ErrorCode::ValidationFailed,
                        "status: must be one of all, pending, completed",
                    )
                })?,
            };
        }
    }
    Ok(status)
}

/// The schema of `?status=` for the OpenAPI document: a [`StatusFilter`], or empty (all).
pub fn status_schema(generator: &mut SchemaGenerator) -> Schema {
    let filter = generator.subschema_for::<StatusFilter>();
    json_schema!({"anyOf": [filter, {"const": ""}]})
}

pub async fn list(state: &AppState, who: Caller, req: Request) -> Result<Response> {
    let status = status_filter(&req.query)?;
    let todos = state.todos.list(who.user_id, status).await?;
    Ok(json(StatusCode::OK, &TodosResponse { todos }))
}

pub async fn create(state: &AppState, who: Caller, req: Request) -> Result<Response> {
    let body: CreateTodo = parse_json(&req.body)?;
    let title = body.title.as_deref().ok_or_else(|| missing("title"))?;
    let todo = state
        .todos
        .create(who.user_id, title, body.description.as_deref())
        .await?;
    Ok(json(StatusCode::CREATED, &TodoResponse { todo }))
}

pub async fn get(state: &AppState, who: Caller, req: Request) -> Result<Response> {
    let todo = state.todos.get(who.user_id, req.id()?).await?;
    Ok(json(StatusCode::OK, &TodoResponse { todo }))
}

pub async fn update(state: &AppState, who: Caller, req: Request) -> Result<Response> {
    let patch: UpdateTodo = parse_json(&req.body)?;
    let todo = state.todos.update(who.user_id, req.id()?, &patch).await?;
    Ok(json(StatusCode::OK, &TodoResponse { todo }))
}

pub async fn delete(state: &AppState, who: Caller, req: Request) -> Result<Response> {
    state.todos.delete(who.user_id, req.id()?).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filter_parses_the_query() {
        assert_eq!(status_filter("").unwrap(), StatusFilter::All);
        assert_eq!(
            status_filter("status=pending").unwrap(),
            StatusFilter::Pending
        );
        assert_eq!(
            status_filter("x=1&status=completed").unwrap(),
            StatusFilter::Completed
        );
        assert!(status_filter("status=done").is_err());
    }
}
