//! The assistant's five tools: their JSON-schema descriptions (what the model is offered) and
//! their execution.
//!
//! Execution goes through [`Todos`], the one todo service, with the user id of the session that
//! started the turn — never one taken from the model's arguments — so a tool can only touch the
//! caller's todos and every change becomes a todo event like any other. A tool never fails the
//! turn: bad arguments, an unknown id or a refused title become an `{"error": …}` result the
//! model can read and explain.

use protocol::{StatusFilter, Todo, UpdateTodo};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::service::todos::Todos;

pub const ADD_TASK: &str = "add_task";
pub const LIST_TASKS: &str = "list_tasks";
pub const COMPLETE_TASK: &str = "complete_task";
pub const UPDATE_TASK: &str = "update_task";
pub const DELETE_TASK: &str = "delete_task";

/// Every tool name, in the order they are offered.
pub const NAMES: [&str; 5] = [
    ADD_TASK,
    LIST_TASKS,
    COMPLETE_TASK,
    UPDATE_TASK,
    DELETE_TASK,
];

/// A tool as the model sees it.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// The five tools with their argument schemas.
pub fn specs() -> Vec<ToolSpec> {
    let task_id =
        json!({"type": "integer", "description": "The task's id (the number shown as #id)."});
    vec![
        ToolSpec {
            name: ADD_TASK,
            description: "Add a new task to the user's todo list.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "title": {"type": "string", "description": "Short title, 1 to 500 characters."},
                    "description": {"type": "string", "description": "Optional longer notes."}
                },
                "required": ["title"]
            }),
        },
        ToolSpec {
            name: LIST_TASKS,
            description: "List the user's tasks, oldest first.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "status": {"type": "string", "enum": ["all", "pending", "completed"],
                               "description": "Which tasks to list; all by default."}
                }
            }),
        },
        ToolSpec {
            name: COMPLETE_TASK,
            description: "Mark one of the user's tasks as done.",
            parameters: json!({
                "type": "object",
                "properties": {"task_id": task_id},
                "required": ["task_id"]
            }),
        },
        ToolSpec {
            name: UPDATE_TASK,
            description: "Change a task's title or description, or reopen it (completed: false).",
            parameters: json!({
                "type": "object",
                "properties": {
                    "task_id": task_id,
                    "title": {"type": "string", "description": "The new title."},
                    "description": {"type": "string", "description": "The new description (empty clears it)."},
                    "completed": {"type": "boolean", "description": "false reopens a done task, true marks it done."}
                },
                "required": ["task_id"]
            }),
        },
        ToolSpec {
            name: DELETE_TASK,
            description: "Delete one of the user's tasks for good.",
            parameters: json!({
                "type": "object",
                "properties": {"task_id": task_id},
                "required": ["task_id"]
            }),
        },
    ]
}

/// The arguments as JSON for frames and rows: the parsed object, or the raw text as a JSON
/// string when the model did not write valid JSON.
pub fn arguments_value(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return Value::Object(Map::new());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

/// The arguments as the text a model expects back in the history (inverse of
/// [`arguments_value`]).
pub fn arguments_text(value: &Value) -> String {
    match value {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

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

/// A status filter, with the synonyms models and people use.
pub fn parse_status(s: &str) -> Option<StatusFilter> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "all" | "any" | "every" => Some(StatusFilter::All),
        "pending" | "open" | "todo" | "incomplete" | "active" | "not done" | "undone" => {
            Some(StatusFilter::Pending)
        }
        "completed" | "complete" | "done" | "finished" | "closed" => Some(StatusFilter::Completed),
        _ => None,
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
    fn arguments_round_trip_even_when_not_json() {
        assert_eq!(arguments_value(""), json!({}));
        assert_eq!(arguments_value(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(arguments_value("{oops"), json!("{oops"));
        assert_eq!(arguments_text(&json!("{oops")), "{oops");
        assert_eq!(arguments_text(&json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn task_ids_are_taken_leniently() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(task_id(&m(json!({"task_id": 3}))).ok(), Some(3));
        assert_eq!(task_id(&m(json!({"task_id": "#4"}))).ok(), Some(4));
        assert_eq!(task_id(&m(json!({"task_id": 5.0}))).ok(), Some(5));
        assert!(task_id(&m(json!({"task_id": "x"}))).is_err());
        assert!(task_id(&m(json!({}))).is_err());
    }

    #[test]
    fn every_tool_has_an_object_schema() {
        let specs = specs();
        assert_eq!(specs.len(), NAMES.len());
        for (s, n) in specs.iter().zip(NAMES) {
            assert_eq!(s.name, n);
            assert_eq!(s.parameters["type"], "object");
        }
    }
}
