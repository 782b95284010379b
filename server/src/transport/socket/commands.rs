//! What each client message does: one service call, and the `ack` or `error` that answers it.

use protocol::{AckResult, ClientMessage, ServerMessage, UpdateTodo};

use crate::error::Result;
use crate::state::AppState;

/// Runs one todo or chat command through the services, for the ack.
pub(super) async fn execute(
    state: &AppState,
    user_id: i64,
    msg: ClientMessage,
) -> Result<AckResult> {
    let todos = &state.todos;
    Ok(match msg {
        // Paging is added with the socket's size limits; the whole list answers for now.
        ClientMessage::TodoList { status, .. } => AckResult::Todos {
            todos: todos.list(user_id, status.unwrap_or_default()).await?,
            next_after: None,
        },
        ClientMessage::TodoAdd { title, description } => AckResult::Todo {
            todo: todos
                .create(user_id, &title, description.as_deref())
                .await?,
        },
        ClientMessage::TodoUpdate {
            todo_id,
            title,
            description,
            completed,
        } => {
            let patch = UpdateTodo {
                title,
                description,
                completed,
            };
            AckResult::Todo {
                todo: todos.update(user_id, todo_id, &patch).await?,
            }
        }
        ClientMessage::TodoComplete { todo_id } => {
            let patch = UpdateTodo {
                completed: Some(true),
                ..Default::default()
            };
            AckResult::Todo {
                todo: todos.update(user_id, todo_id, &patch).await?,
            }
        }
        ClientMessage::TodoDelete { todo_id } => {
            todos.delete(user_id, todo_id).await?;
            AckResult::Deleted { todo_id }
        }
        ClientMessage::ChatSend {
            text,
            conversation_id,
        } => AckResult::Conversation {
            conversation_id: state.chat.send(user_id, conversation_id, &text).await?,
        },
        ClientMessage::ChatCancel { conversation_id } => {
            state.chat.cancel(user_id, conversation_id).await?;
            AckResult::Conversation { conversation_id }
        }
        // Answered inline by the socket loop.
        ClientMessage::Ping | ClientMessage::Hello { .. } => AckResult::Empty {},
    })
}

/// The `ack` or `error` answering a command.
pub(super) fn reply_for(id: Option<String>, result: Result<AckResult>) -> ServerMessage {
    match result {
        Ok(result) => ServerMessage::Ack { id, result },
        Err(e) => {
            let api = e.to_api();
            ServerMessage::Error {
                id,
                code: api.code,
                message: api.message,
            }
        }
    }
}
