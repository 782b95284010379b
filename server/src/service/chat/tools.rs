//! Runs the model's tool calls through [`Todos`], the one todo service, with the user id of the
//! session that started the turn — never one taken from the model's arguments — so a tool can
//! only touch the caller's todos and every change becomes a todo event like any other. A tool
//! never fails the turn: bad arguments, an unknown id or a refused title become an
//! `{"error": …}` result the model can read and explain.

use protocol::{StatusFilter, Todo, UpdateTodo};
use serde_json::{Map, Value, json};

use crate::agent::tools::{
    ADD_TASK, COMPLETE_TASK, DELETE_TASK, LIST_TASKS, NAMES, UPDATE_TASK, arguments_value,
    parse_status,
};
use crate::error::Error;
use crate::service::todos::Todos;

/// Runs tool `name` for `user_id` with the model's `arguments` (JSON text) and returns the
/// result object. Never fails: problems are `{"error": {"code", "message"}}`.
pub async fn execute(todos: &Todos, user_id: i64, name: &str, arguments: &str) -> Value {
    let args = match arguments_value(arguments) {
        Value::Object(m) => m,
        _ => return error("bad_arguments", "the arguments must be a JSON object"),
    };
    let result = match name {
        ADD_TASK => add(todos, user_id, &args).await,
        LIST_TASKS => list(todos, user_id, &args).await,
        COMPLETE_TASK => complete(todos, user_id, &args).await,
        UPDATE_TASK => update(todos, user_id, &args).await,
        DELETE_TASK => delete(todos, user_id, &args).await,
        other => Err(error(
            "unknown_tool",
            &format!(
                "there is no tool named {other:?}; use one of {}",
                NAMES.join(", ")
            ),
        )),
    };
    result.unwrap_or_else(|e| e)
}

type ToolResult = Result<Value, Value>;

fn error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// A service error as a tool result. Internal details are logged by `to_api` and not shown.
fn service_error(e: &Error) -> Value {
    let api = e.to_api();
    error(api.code.as_str(), &api.message)
}

fn todo_result(todo: &Todo) -> Value {
    json!({"todo": todo})
}

fn string_arg<'a>(args: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Value> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(error("bad_arguments", &format!("{key} must be a string"))),
    }
}

/// `task_id` as an integer. Models sometimes write `"3"` or `"#3"`: accepted.
fn task_id(args: &Map<String, Value>) -> Result<i64, Value> {
    let bad = || {
        error(
            "bad_arguments",
            "task_id must be the task's integer id (see list_tasks)",
        )
    };
    match args.get("task_id") {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(bad),
        Some(Value::String(s)) => s.trim().trim_start_matches('#').parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

async fn add(todos: &Todos, user_id: i64, args: &Map<String, Value>) -> ToolResult {
    let title = string_arg(args, "title")?.unwrap_or("");
    let description = string_arg(args, "description")?;
    let todo = todos
        .create(user_id, title, description)
        .await
        .map_err(|e| service_error(&e))?;
    Ok(todo_result(&todo))
}

async fn list(todos: &Todos, user_id: i64, args: &Map<String, Value>) -> ToolResult {
    let status = match string_arg(args, "status")? {
        None => StatusFilter::All,
        Some(s) => parse_status(s)
            .ok_or_else(|| error("bad_arguments", "status must be all, pending or completed"))?,
    };
    let list = todos
        .list(user_id, status)
        .await
        .map_err(|e| service_error(&e))?;
    Ok(json!({"status": status.as_str(), "todos": list}))
}

async fn complete(todos: &Todos, user_id: i64, args: &Map<String, Value>) -> ToolResult {
    let id = task_id(args)?;
    let patch = UpdateTodo {
        completed: Some(true),
        ..Default::default()
    };
    let todo = todos
        .update(user_id, id, &patch)
        .await
        .map_err(|e| service_error(&e))?;
    Ok(todo_result(&todo))
}

async fn update(todos: &Todos, user_id: i64, args: &Map<String, Value>) -> ToolResult {
    let id = task_id(args)?;
    let completed = match args.get("completed") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(error("bad_arguments", "completed must be true or false")),
    };
    let patch = UpdateTodo {
        title: string_arg(args, "title")?.map(str::to_owned),
        description: string_arg(args, "description")?.map(str::to_owned),
        completed,
    };
    if patch.is_empty() {
        return Err(error(
            "bad_arguments",
            "give at least one of title, description, completed",
        ));
    }
    let todo = todos
        .update(user_id, id, &patch)
        .await
        .map_err(|e| service_error(&e))?;
    Ok(todo_result(&todo))
}

async fn delete(todos: &Todos, user_id: i64, args: &Map<String, Value>) -> ToolResult {
    let id = task_id(args)?;
    // Read it first so the result can say what was deleted (the chip and the reply show it).
    let todo = todos
        .get(user_id, id)
        .await
        .map_err(|e| service_error(&e))?;
    todos
        .delete(user_id, id)
        .await
        .map_err(|e| service_error(&e))?;
    Ok(json!({"deleted": true, "task_id": id, "title": todo.title}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_taken_leniently() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(task_id(&m(json!({"task_id": 3}))).ok(), Some(3));
        assert_eq!(task_id(&m(json!({"task_id": "#4"}))).ok(), Some(4));
        assert_eq!(task_id(&m(json!({"task_id": 5.0}))).ok(), Some(5));
        assert!(task_id(&m(json!({"task_id": "x"}))).is_err());
        assert!(task_id(&m(json!({}))).is_err());
    }
}
