//! Commands → tool calls. A command that names its task by id becomes its call at once; one
//! that names it by title words is resolved against the listed tasks (fuzzy, by words: exact,
//! plural, prefix or one typo), and a group ("all completed tasks") becomes one call per task.
//! A name that matches nothing, or several equally well, becomes a note (a question) instead.

use protocol::{StatusFilter, Todo};
use serde_json::{Value, json};

use super::command::{Command, Target};
use crate::agent::tools::{ADD_TASK, COMPLETE_TASK, DELETE_TASK, LIST_TASKS, UPDATE_TASK};

/// What one command turns into: its tool calls, or a note (a question, "not found").
pub(super) struct Planned {
    pub(super) command: Command,
    pub(super) calls: Vec<(&'static str, Value)>,
    pub(super) note: Option<String>,
}

pub(super) fn plan(commands: &[Command], todos: &[Todo]) -> Vec<Planned> {
    commands
        .iter()
        .map(|c| {
            let mut p = Planned {
                command: c.clone(),
                calls: Vec::new(),
                note: None,
            };
            match c {
                Command::Add { title, description } => {
                    let mut args = json!({"title": title});
                    if let Some(d) = description {
                        args["description"] = json!(d);
                    }
                    p.calls.push((ADD_TASK, args));
                }
                Command::List(status) => {
                    p.calls
                        .push((LIST_TASKS, json!({"status": status.as_str()})));
                }
                Command::Say(_) => {}
                Command::Complete(t) => {
                    resolve_into(&mut p, t, todos, Want::Pending, |id| {
                        (COMPLETE_TASK, json!({"task_id": id}))
                    });
                }
                Command::Reopen(t) => {
                    resolve_into(&mut p, t, todos, Want::Completed, |id| {
                        (UPDATE_TASK, json!({"task_id": id, "completed": false}))
                    });
                }
                Command::Delete(t) => {
                    resolve_into(&mut p, t, todos, Want::Any, |id| {
                        (DELETE_TASK, json!({"task_id": id}))
                    });
                }
                Command::Rename { target, title } => {
                    let title = title.clone();
                    resolve_into(&mut p, target, todos, Want::Any, move |id| {
                        (UPDATE_TASK, json!({"task_id": id, "title": title}))
                    });
                }
                Command::Describe {
                    target,
                    description,
                } => {
                    let d = description.clone();
                    resolve_into(&mut p, target, todos, Want::Any, move |id| {
                        (UPDATE_TASK, json!({"task_id": id, "description": d}))
                    });
                }
            }
            p
        })
        .collect()
}

/// Which tasks a command would rather act on when a name matches several.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Pending,
    Completed,
    Any,
}

fn resolve_into(
    p: &mut Planned,
    target: &Target,
    todos: &[Todo],
    want: Want,
    call: impl Fn(i64) -> (&'static str, Value),
) {
    match target {
        Target::Id(id) => p.calls.push(call(*id)),
        Target::All(status) => {
            let status = match (status, want) {
                (StatusFilter::All, Want::Pending) => StatusFilter::Pending,
                (StatusFilter::All, Want::Completed) => StatusFilter::Completed,
                (s, _) => *s,
            };
            for t in todos.iter().filter(|t| status.matches(t)) {
                p.calls.push(call(t.id));
            }
        }
        Target::Title(query) => match resolve(query, todos, want) {
            Resolved::One(id) => p.calls.push(call(id)),
            Resolved::None => {
                p.note = Some(if query.is_empty() {
                    "Which task do you mean? Give its number, like “task 3”.".to_owned()
                } else {
                    format!("I couldn't find a task matching “{query}”.")
                });
            }
            Resolved::Ambiguous(candidates) => {
                let list: Vec<String> = candidates
                    .iter()
                    .map(|t| format!("#{} “{}”", t.id, t.title))
                    .collect();
                let options = match list.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                };
                let example = candidates.first().map_or(1, |t| t.id);
                let verb = match p.command {
                    Command::Complete(_) => "complete",
                    Command::Reopen(_) => "reopen",
                    Command::Delete(_) => "delete",
                    _ => "rename",
                };
                let example = if verb == "rename" {
                    format!("rename task {example} to …")
                } else {
                    format!("{verb} task {example}")
                };
                p.note = Some(format!(
                    "Which one do you mean: {options}? Say e.g. “{example}”."
                ));
            }
        },
    }
}

/// The result of matching a name against the tasks.
#[derive(Debug, PartialEq, Eq)]
enum Resolved<'a> {
    One(i64),
    None,
    Ambiguous(Vec<&'a Todo>),
}

const QUERY_STOPWORDS: &[&str] = &[
    "the", "a", "an", "my", "task", "tasks", "todo", "todos", "item", "one", "to", "about",
    "called", "named", "that", "says", "with", "for", "of",
];

fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// How well one query word matches one title word: exact, plural, prefix, or one typo.
fn word_match(q: &str, t: &str) -> bool {
    if q == t {
        return true;
    }
    let (qs, ts) = (q.trim_end_matches('s'), t.trim_end_matches('s'));
    if qs == ts {
        return true;
    }
    if q.len() >= 3 && t.starts_with(q) {
        return true;
    }
    q.chars().count() >= 4 && edit_distance_at_most_one(q, t)
}

fn edit_distance_at_most_one(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let (mut i, mut j, mut edits) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            i += 1;
            j += 1;
            continue;
        }
        edits += 1;
        if edits > 1 {
            return false;
        }
        match a.len().cmp(&b.len()) {
            std::cmp::Ordering::Greater => i += 1,
            std::cmp::Ordering::Less => j += 1,
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    edits + (a.len() - i) + (b.len() - j) <= 1
}

/// Scores each task for the query (0 = no match) and picks one, several, or none.
fn resolve<'a>(query: &str, todos: &'a [Todo], want: Want) -> Resolved<'a> {
    let q_all = words(query);
    let q: Vec<&String> = q_all
        .iter()
        .filter(|w| !QUERY_STOPWORDS.contains(&w.as_str()))
        .collect();
    if q.is_empty() {
        return Resolved::None;
    }
    let q_text = q_all.join(" ");
    let score = |todo: &Todo| -> u32 {
        let t_all = words(&todo.title);
        let t_text = t_all.join(" ");
        if t_text == q_text {
            return 100;
        }
        if format!(" {t_text} ").contains(&format!(" {q_text} ")) {
            return 80;
        }
        let hits = q
            .iter()
            .filter(|qw| t_all.iter().any(|tw| word_match(qw, tw)))
            .count();
        if hits == q.len() {
            60
        } else if hits * 2 >= q.len() && hits > 0 {
            30
        } else {
            0
        }
    };
    let scored: Vec<(u32, &Todo)> = todos
        .iter()
        .map(|t| (score(t), t))
        .filter(|(s, _)| *s > 0)
        .collect();
    let Some(best) = scored.iter().map(|(s, _)| *s).max() else {
        return Resolved::None;
    };
    let top: Vec<&Todo> = scored
        .iter()
        .filter(|(s, _)| *s == best)
        .map(|(_, t)| *t)
        .collect();
    if let [one] = top.as_slice() {
        return Resolved::One(one.id);
    }
    // Several equally good: the status the command wants breaks the tie.
    let preferred: Vec<&Todo> = top
        .iter()
        .copied()
        .filter(|t| match want {
            Want::Pending => !t.completed,
            Want::Completed => t.completed,
            Want::Any => true,
        })
        .collect();
    match preferred.as_slice() {
        [one] => Resolved::One(one.id),
        [] => Resolved::Ambiguous(top),
        _ => Resolved::Ambiguous(preferred),
    }
}
