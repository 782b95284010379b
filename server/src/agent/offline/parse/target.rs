//! Which task a phrase points at — an id ("task 3", "#3", "three"), a group ("all completed
//! tasks") or title words ("the milk task") — and which status a phrase names.

use protocol::StatusFilter;

use super::super::command::Target;
use super::text::{first_prefix, strip_quotes, strip_suffix_ci};

/// Which task a phrase points at: an id ("task 3", "#3", "three"), a group ("all completed
/// tasks") or title words ("the milk task").
pub(super) fn target(phrase: &str) -> Target {
    let mut t = strip_quotes(phrase.trim()).trim();
    const LEAD: &[&str] = &[
        "the task called ",
        "the task named ",
        "the task titled ",
        "the task about ",
        "the task to ",
        "the todo called ",
        "the todo to ",
        "the one about ",
        "the one with ",
        "the one called ",
        "the one to ",
        "the one for ",
        "task called ",
        "task named ",
        "task number ",
        "todo number ",
        "number ",
        "no. ",
        "the ",
        "my ",
        "task ",
        "tasks ",
        "todo ",
        "todos ",
        "to-do ",
        "item ",
        "items ",
        "id ",
        "#",
    ];
    loop {
        let before = t;
        if let Some(r) = first_prefix(t, LEAD) {
            t = r;
        }
        for trail in [
            " task", " tasks", " todo", " todos", " item", " one", " ones", " entry",
        ] {
            if let Some(r) = strip_suffix_ci(t, trail) {
                t = r.trim_end();
            }
        }
        if t == before {
            break;
        }
    }
    let t = strip_quotes(t.trim_start_matches('#'));
    // A bare "the task" or "it" names nothing: the caller asks which one.
    if [
        "task", "tasks", "todo", "todos", "item", "one", "it", "this", "that", "this one",
        "that one",
    ]
    .iter()
    .any(|w| t.eq_ignore_ascii_case(w))
    {
        return Target::Title(String::new());
    }
    if let Some(id) = number(t) {
        return Target::Id(id);
    }
    let lower = t.to_lowercase();
    let all = lower == "all"
        || lower == "everything"
        || lower.starts_with("all ")
        || lower.starts_with("every ");
    let group = match lower.as_str() {
        "completed" | "done" | "finished" | "completed ones" | "done ones" => {
            Some(StatusFilter::Completed)
        }
        "pending" | "open" | "remaining" | "unfinished" => Some(StatusFilter::Pending),
        _ => None,
    };
    if all || group.is_some() {
        let status = group
            .or_else(|| status_words(&lower))
            .unwrap_or(StatusFilter::All);
        return Target::All(status);
    }
    Target::Title(t.to_owned())
}

/// "3", "three", "#3".
fn number(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('#');
    if let Ok(n) = s.parse::<i64>() {
        return (n > 0).then_some(n);
    }
    const WORDS: &[&str] = &[
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    WORDS
        .iter()
        .position(|w| s.eq_ignore_ascii_case(w))
        .map(|i| i as i64 + 1)
}

/// The status a phrase asks about, if it names one. "not done" is checked before "done".
pub(super) fn status_words(t: &str) -> Option<StatusFilter> {
    const PENDING: &[&str] = &[
        "pending",
        "left",
        "remaining",
        "open",
        "outstanding",
        "incomplete",
        "unfinished",
        "not done",
        "not completed",
        "to do",
        "todo",
        "undone",
        "active",
        "need to do",
        "have to do",
        "should do",
        "to-do",
        "not finished",
        "due",
    ];
    const DONE: &[&str] = &[
        "completed",
        "done",
        "finished",
        "complete",
        "checked off",
        "ticked off",
        "closed",
    ];
    let has = |w: &&str| {
        t.split(|c: char| !c.is_alphanumeric() && c != '-')
            .collect::<Vec<_>>()
            .join(" ")
            .contains(w)
    };
    let words = |ws: &[&str]| ws.iter().any(has);
    // "list my todos" mentions "todos" but means everything: a "to…" word alone does not
    // make it a pending list when the message names todos.
    let todo_noun = t.contains("todos") || t.contains("to-dos") || t.contains("todo list");
    let pending_beyond_todo = PENDING.iter().filter(|w| !w.starts_with("to")).any(has);
    if words(PENDING) && (!todo_noun || pending_beyond_todo) {
        return Some(StatusFilter::Pending);
    }
    if words(DONE) {
        return Some(StatusFilter::Completed);
    }
    None
}
