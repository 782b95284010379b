//! One recognizer per command: each takes a trimmed item and returns its [`Command`] when the
//! item starts (or ends) with one of its phrasings. [`command`] tries them in an order that
//! lets the more specific win ("change the description of …" before "change … to …").

use protocol::StatusFilter;

use super::super::command::{Command, Say, Target};
use super::target::{status_words, target};
use super::text::{
    find_ci, first_prefix, split_points, starts_with_ci, strip_quotes, strip_suffix_ci,
};

/// The command a segment starts with, if any.
pub(super) fn command(s: &str) -> Option<Command> {
    rename(s)
        .or_else(|| describe_command(s))
        .or_else(|| reopen(s))
        .or_else(|| complete(s))
        .or_else(|| delete(s))
        .or_else(|| add(s))
        .or_else(|| list(s))
        .or_else(|| done_suffix(s))
}

/// "rename task 3 to call mom", "change the title of buy milk to buy oat milk".
fn rename(s: &str) -> Option<Command> {
    const STRICT: &[&str] = &["rename ", "retitle ", "re-title "];
    const LOOSE: &[&str] = &[
        "change the title of ",
        "change the name of ",
        "update the title of ",
        "update the name of ",
        "set the title of ",
        "set the name of ",
        "change title of ",
        "change ",
        "update ",
        "edit ",
        "modify ",
    ];
    let (rest, strict) = match first_prefix(s, STRICT) {
        Some(r) => (r, true),
        None => (first_prefix(s, LOOSE)?, false),
    };
    // "change the description of …" is a description, not a rename.
    if starts_with_ci(rest, "the description") || starts_with_ci(rest, "description") {
        return None;
    }
    let connectives: &[&str] = if strict {
        &[" to ", " as ", " into ", ": "]
    } else {
        &[" to ", ": ", " into "]
    };
    for (at, len) in split_points(rest, connectives) {
        let (t, title) = (&rest[..at], &rest[at + len..]);
        let target = target(t);
        if matches!(&target, Target::Title(x) if x.is_empty()) {
            continue;
        }
        let title = strip_quotes(first_prefix(title, &["say ", "read ", "be "]).unwrap_or(title));
        if title.is_empty() {
            return None;
        }
        // "change task 3 to done" is about its status, not its title.
        match title.to_lowercase().as_str() {
            "done" | "complete" | "completed" | "finished" => {
                return Some(Command::Complete(target));
            }
            "pending" | "not done" | "undone" | "open" | "incomplete" | "not completed" => {
                return Some(Command::Reopen(target));
            }
            _ => {}
        }
        return Some(Command::Rename {
            target,
            title: title.to_owned(),
        });
    }
    None
}

/// "set the description of task 3 to two litres", "describe task 3 as …",
/// "add a note to task 3: …".
fn describe_command(s: &str) -> Option<Command> {
    const TO: &[&str] = &[
        "set the description of ",
        "change the description of ",
        "update the description of ",
        "set description of ",
        "change description of ",
        "update description of ",
    ];
    const AS: &[&str] = &["describe "];
    const NOTE: &[&str] = &[
        "add a note to ",
        "add note to ",
        "add a description to ",
        "add description to ",
    ];
    let (rest, seps): (&str, &[&str]) = if let Some(r) = first_prefix(s, TO) {
        (r, &[" to ", ": "])
    } else if let Some(r) = first_prefix(s, AS) {
        (r, &[" as ", ": "])
    } else if let Some(r) = first_prefix(s, NOTE) {
        (r, &[": ", " saying ", " that says "])
    } else {
        return None;
    };
    for (at, len) in split_points(rest, seps) {
        let target = target(&rest[..at]);
        if matches!(&target, Target::Title(x) if x.is_empty()) {
            continue;
        }
        let description = strip_quotes(&rest[at + len..]).to_owned();
        return Some(Command::Describe {
            target,
            description,
        });
    }
    None
}

const DONE_WORDS: &[&str] = &[
    " as done",
    " as complete",
    " as completed",
    " as finished",
    " done",
    " complete",
    " completed",
    " finished",
    " as checked",
    " checked",
    " off",
];
const UNDONE_WORDS: &[&str] = &[
    " as not done",
    " as undone",
    " as pending",
    " as incomplete",
    " as not complete",
    " as not completed",
    " as open",
    " as todo",
    " as to do",
    " as unfinished",
    " not done",
    " undone",
    " pending",
    " incomplete",
    " unfinished",
    " as active",
];

/// "reopen task 3", "mark the milk task as not done".
fn reopen(s: &str) -> Option<Command> {
    if let Some(rest) = first_prefix(
        s,
        &[
            "reopen ",
            "re-open ",
            "uncomplete ",
            "un-complete ",
            "unmark ",
            "uncheck ",
            "undo ",
            "restore ",
        ],
    ) {
        return Some(Command::Reopen(target(rest)));
    }
    let rest = first_prefix(s, &["mark ", "set ", "put "])?;
    UNDONE_WORDS.iter().find_map(|w| {
        strip_suffix_ci(rest, w)
            .map(|t| t.trim_end_matches(" back").trim_end_matches(" to"))
            .map(|t| Command::Reopen(target(t)))
    })
}

/// "complete the milk task", "mark task 3 as done", "check off milk", "finish 4".
fn complete(s: &str) -> Option<Command> {
    if let Some(rest) = first_prefix(
        s,
        &[
            "complete ",
            "finish ",
            "i finished ",
            "i've finished ",
            "i have finished ",
            "i completed ",
            "i've completed ",
            "i have completed ",
            "i'm done with ",
            "i am done with ",
            "done with ",
            "check off ",
            "tick off ",
            "cross off ",
            "close ",
        ],
    ) {
        let rest = strip_suffix_ci(rest, " off").unwrap_or(rest);
        return Some(Command::Complete(target(rest)));
    }
    let rest = first_prefix(s, &["mark ", "set ", "flag "])?;
    DONE_WORDS.iter().find_map(|w| {
        strip_suffix_ci(rest, w)
            .map(|t| strip_suffix_ci(t, " to").unwrap_or(t))
            .map(|t| Command::Complete(target(t)))
    })
}

/// "task 3 is done", "the milk task is finished".
fn done_suffix(s: &str) -> Option<Command> {
    const SUFFIXES: &[&str] = &[
        " is done",
        " is finished",
        " is complete",
        " is completed",
        " was done",
        " are done",
        " is taken care of",
    ];
    let t = SUFFIXES.iter().find_map(|w| strip_suffix_ci(s, w))?;
    Some(Command::Complete(target(t)))
}

/// "delete task 3", "remove the milk task", "clear completed".
fn delete(s: &str) -> Option<Command> {
    let rest = first_prefix(
        s,
        &[
            "delete ",
            "remove ",
            "erase ",
            "drop ",
            "get rid of ",
            "trash ",
            "discard ",
            "clear ",
            "clean up ",
            "wipe ",
            "forget ",
        ],
    )?;
    let rest = strip_suffix_ci(rest, " from my list")
        .or_else(|| strip_suffix_ci(rest, " from the list"))
        .or_else(|| strip_suffix_ci(rest, " from my tasks"))
        .unwrap_or(rest);
    Some(Command::Delete(target(rest)))
}

/// "add a task to buy milk", "add buy milk", "remind me to call mom", "new task: x".
fn add(s: &str) -> Option<Command> {
    const VERBS: &[&str] = &[
        "add ",
        "create ",
        "make a task ",
        "make a todo ",
        "make a new task ",
        "new task",
        "new todo",
        "new to-do",
        "new item",
        "remind me to ",
        "remind me about ",
        "i need to ",
        "i have to ",
        "i must ",
        "i should ",
        "don't forget to ",
        "dont forget to ",
        "remember to ",
        "put ",
        "note ",
        "jot down ",
        "schedule ",
        "todo:",
        "to-do:",
        "task:",
    ];
    let rest = first_prefix(s, VERBS)?;
    Some(add_command(rest))
}

/// An add's title (and description) from what follows the verb.
pub(super) fn add_command(rest: &str) -> Command {
    const LEAD: &[&str] = &[
        "a new task",
        "a new todo",
        "a new to-do",
        "a new item",
        "a task",
        "a todo",
        "a to-do",
        "an item",
        "a reminder",
        "new task",
        "tasks",
        "task",
        "todos",
        "todo",
        "to-do",
        "item",
        "reminder",
        "one",
    ];
    const JOIN: &[&str] = &[
        "to ",
        "called ",
        "named ",
        "titled ",
        "that says ",
        "saying ",
        ": ",
        ":",
        "- ",
        "for ",
        "about ",
    ];
    const STRICT_JOIN: &[&str] = &[": ", ":", "- ", "called ", "named ", "titled "];
    const TRAIL: &[&str] = &[
        " to my todo list",
        " to my to-do list",
        " to the todo list",
        " to the to-do list",
        " to my list",
        " to the list",
        " to my tasks",
        " to my todos",
        " to the tasks",
        " on my list",
        " on the list",
        " to list",
        " to todos",
        " as a task",
        " as a todo",
    ];
    let mut t = rest.trim();
    // "a task to buy milk" → "buy milk", but "taskforce meeting" stays as it is.
    match first_prefix(t, LEAD) {
        Some("") => t = "",
        Some(r) => {
            if let Some(r) = first_prefix(r, JOIN) {
                t = r;
            }
        }
        None => {
            if let Some(r) = first_prefix(t, STRICT_JOIN) {
                t = r;
            }
        }
    }
    // A quoted title is taken as is.
    let (mut title, mut description) = (t.trim(), None);
    for marker in [
        " with the description ",
        " with a description ",
        " with description ",
        " with a note ",
        " with note ",
        " with notes ",
        " described as ",
        " description: ",
        " note: ",
    ] {
        if let Some(at) = find_ci(title, marker) {
            description = Some(strip_quotes(&title[at + marker.len()..]).to_owned());
            title = &title[..at];
            break;
        }
    }
    for trail in TRAIL {
        if let Some(r) = strip_suffix_ci(title, trail) {
            title = r;
            break;
        }
    }
    let title = strip_quotes(title);
    if title.is_empty() {
        return Command::Say(Say::AskTitle);
    }
    Command::Add {
        title: title.to_owned(),
        description: description.filter(|d| !d.is_empty()),
    }
}

/// "list my tasks", "what's pending?", "show completed", "how many tasks do I have".
fn list(s: &str) -> Option<Command> {
    let t = s.to_lowercase();
    const STARTS: &[&str] = &[
        "list",
        "show",
        "display",
        "what",
        "which",
        "how many",
        "do i have",
        "view",
        "see ",
        "tell me",
        "give me",
        "get my",
        "any ",
        "anything",
        "print",
        "read",
        "are there",
        "is there",
        "my tasks",
        "my todos",
        "my to-dos",
        "my list",
        "tasks",
        "todos",
        "pending",
        "completed",
        "done",
        "open tasks",
        "remaining",
        "everything",
        "all tasks",
        "all my",
        "whats",
        "status",
    ];
    if !STARTS.iter().any(|p| t.starts_with(p)) {
        return None;
    }
    Some(Command::List(status_words(&t).unwrap_or(StatusFilter::All)))
}
