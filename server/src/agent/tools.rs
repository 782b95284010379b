//! The assistant's five tools as the model sees them: names, JSON-schema descriptions, and the
//! argument text ↔ JSON conversions. Running them is the chat service's job
//! (`service::chat::tools`), through the todo service.

use protocol::StatusFilter;
use serde_json::{Map, Value, json};

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
    fn every_tool_has_an_object_schema() {
        let specs = specs();
        assert_eq!(specs.len(), NAMES.len());
        for (s, n) in specs.iter().zip(NAMES) {
            assert_eq!(s.name, n);
            assert_eq!(s.parameters["type"], "object");
        }
    }
}
