//! The words of the reply: what each tool call's result means in a sentence, small talk, and
//! the text cut into small pieces that stream like a model's.

use protocol::{StatusFilter, Todo};
use serde_json::Value;

use super::command::{Command, Say, Target};
use super::plan::Planned;
use crate::agent::StepEvent;
use crate::agent::tools::{self, ADD_TASK, COMPLETE_TASK, DELETE_TASK, LIST_TASKS, UPDATE_TASK};

/// The events of a text-only step: the text in small pieces, then `Finish`.
pub(super) fn text_step(text: &str) -> Vec<StepEvent> {
    let mut events: Vec<StepEvent> = pieces(text).into_iter().map(StepEvent::Delta).collect();
    events.push(StepEvent::Finish);
    events
}

/// Splits `text` into pieces of about two words (whitespace kept), which concatenate back to
/// exactly `text`.
pub fn pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut words = 0;
    let mut in_space = false;
    for ch in text.chars() {
        if ch.is_whitespace() {
            in_space = true;
        } else if in_space {
            in_space = false;
            words += 1;
            if words == 2 {
                out.push(std::mem::take(&mut cur));
                words = 0;
            }
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The last step's text: the outcome of each planned command, in order. `results` are the
/// results of the action calls, in the order they were made (`None`: no result came back).
pub(super) fn outcome<'a>(
    plan: &[Planned],
    mut results: impl Iterator<Item = Option<&'a Value>>,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    for p in plan {
        if let Some(note) = &p.note {
            parts.push(note.clone());
        }
        for (name, args) in &p.calls {
            let result = results.next().flatten().cloned().unwrap_or(Value::Null);
            parts.push(describe(name, args, &result, &p.command));
        }
        if let (true, None, Some(s)) = (p.calls.is_empty(), &p.note, empty_note(&p.command)) {
            parts.push(s);
        }
    }
    let joiner = if parts.iter().any(|p| p.contains('\n')) {
        "\n"
    } else {
        " "
    };
    parts.join(joiner)
}

/// What to say for a command that made no call and has no note.
fn empty_note(command: &Command) -> Option<String> {
    Some(match command {
        Command::Say(say) => say_text(say),
        Command::Complete(Target::All(_)) => "There is nothing left to complete.".into(),
        Command::Reopen(Target::All(_)) => "There is nothing to reopen.".into(),
        Command::Delete(Target::All(s)) => match s {
            StatusFilter::Completed => "There are no completed tasks to delete.".into(),
            StatusFilter::Pending => "There are no pending tasks to delete.".into(),
            StatusFilter::All => "There are no tasks to delete.".into(),
        },
        _ => return None,
    })
}

const EXAMPLES: &str = "“add buy milk”, “what's pending?”, “complete the milk task”, “rename task 3 to call mom” or “delete task 3”";

fn say_text(say: &Say) -> String {
    match say {
        Say::Identity => format!(
            "I'm the offline assistant built into this server: a small rule-based helper, not an AI model, so I understand short, plain requests about your tasks. Try {EXAMPLES}."
        ),
        Say::Help => format!(
            "I can add, list, complete, reopen, rename and delete your tasks, several at once if you like (“add milk and eggs”). Try {EXAMPLES}."
        ),
        Say::Greeting => format!("Hello! What shall we do with your tasks? Try {EXAMPLES}."),
        Say::Thanks => "You're welcome!".to_owned(),
        Say::AskTitle => "What should the new task be called? Say e.g. “add buy milk”.".to_owned(),
        Say::NotUnderstood(text) => format!(
            "Sorry, I didn't understand “{text}”. I can add, list, complete, reopen, rename and delete tasks: try {EXAMPLES}."
        ),
    }
}

/// One sentence (or a list) about a tool call's result.
fn describe(name: &str, args: &Value, result: &Value, command: &Command) -> String {
    let id = args.get("task_id").and_then(Value::as_i64);
    if let Some(err) = result.get("error") {
        let code = err.get("code").and_then(Value::as_str).unwrap_or("");
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("something went wrong");
        return match (code, id) {
            ("not_found", Some(id)) => format!("I couldn't find task #{id}."),
            (_, Some(id)) => format!("I couldn't change task #{id}: {message}."),
            (_, None) => {
                let title = args.get("title").and_then(Value::as_str).unwrap_or("");
                format!("I couldn't add “{title}”: {message}.")
            }
        };
    }
    let todo: Option<Todo> = result
        .get("todo")
        .cloned()
        .and_then(|t| serde_json::from_value(t).ok());
    match (name, todo) {
        (ADD_TASK, Some(t)) => format!("Added “{}” (#{}).", t.title, t.id),
        (COMPLETE_TASK, Some(t)) => format!("Marked “{}” (#{}) as done.", t.title, t.id),
        (UPDATE_TASK, Some(t)) => match command {
            Command::Reopen(_) => format!("Reopened “{}” (#{}).", t.title, t.id),
            Command::Describe { .. } => {
                format!("Updated the description of “{}” (#{}).", t.title, t.id)
            }
            _ => format!("Renamed #{} to “{}”.", t.id, t.title),
        },
        (DELETE_TASK, _) => {
            let title = result.get("title").and_then(Value::as_str).unwrap_or("");
            match id {
                Some(id) => format!("Deleted “{title}” (#{id})."),
                None => format!("Deleted “{title}”."),
            }
        }
        (LIST_TASKS, _) => describe_list(result),
        _ => "Done.".to_owned(),
    }
}

fn describe_list(result: &Value) -> String {
    let todos: Vec<Todo> = result
        .get("todos")
        .cloned()
        .and_then(|t| serde_json::from_value(t).ok())
        .unwrap_or_default();
    let status = result
        .get("status")
        .and_then(Value::as_str)
        .and_then(tools::parse_status)
        .unwrap_or(StatusFilter::All);
    if todos.is_empty() {
        return match status {
            StatusFilter::All => "You have no tasks yet.",
            StatusFilter::Pending => "Nothing pending: you're all done!",
            StatusFilter::Completed => "You haven't completed any tasks yet.",
        }
        .to_owned();
    }
    let n = todos.len();
    let plural = if n == 1 { "task" } else { "tasks" };
    let mut out = match status {
        StatusFilter::All => format!("You have {n} {plural}:"),
        StatusFilter::Pending => format!("You have {n} pending {plural}:"),
        StatusFilter::Completed => format!("You have completed {n} {plural}:"),
    };
    for t in &todos {
        let done = if status == StatusFilter::All && t.completed {
            " (done)"
        } else {
            ""
        };
        out.push_str(&format!("\n- #{} {}{done}", t.id, t.title));
    }
    out
}
