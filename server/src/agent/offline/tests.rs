//! The offline assistant against an in-memory todo list: each phrasing is run through the whole
//! step loop (lookup → actions → reply) and the action tool calls it made are compared.

use super::*;
use crate::agent::tools::{self, ADD_TASK, COMPLETE_TASK, DELETE_TASK, LIST_TASKS, UPDATE_TASK};
use chrono::Utc;
use protocol::StatusFilter;

/// A todo list that answers tool calls like `agent::tools` does.
struct World {
    todos: Vec<Todo>,
    next: i64,
}

fn todo(id: i64, title: &str, completed: bool) -> Todo {
    Todo {
        id,
        title: title.into(),
        description: String::new(),
        completed,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

impl World {
    fn standard() -> Self {
        Self::with(&[
            ("buy milk", false),
            ("call mom", false),
            ("walk the dog", true),
            ("pay rent", false),
            ("book dentist appointment", false),
        ])
    }

    fn with(items: &[(&str, bool)]) -> Self {
        let todos: Vec<Todo> = items
            .iter()
            .enumerate()
            .map(|(i, (t, c))| todo(i as i64 + 1, t, *c))
            .collect();
        let next = todos.len() as i64 + 1;
        Self { todos, next }
    }

    fn execute(&mut self, name: &str, args: &Value) -> Value {
        let id = args.get("task_id").and_then(Value::as_i64);
        let not_found = json!({"error": {"code": "not_found", "message": "todo not found"}});
        let pos = id.and_then(|id| self.todos.iter().position(|t| t.id == id));
        match name {
            ADD_TASK => {
                let t = todo(self.next, args["title"].as_str().unwrap_or(""), false);
                self.next += 1;
                self.todos.push(t.clone());
                json!({"todo": t})
            }
            LIST_TASKS => {
                let status = tools::parse_status(args["status"].as_str().unwrap_or("all"))
                    .unwrap_or(StatusFilter::All);
                let list: Vec<&Todo> = self.todos.iter().filter(|t| status.matches(t)).collect();
                json!({"status": status.as_str(), "todos": list})
            }
            COMPLETE_TASK | UPDATE_TASK => {
                let Some(i) = pos else { return not_found };
                let t = &mut self.todos[i];
                if name == COMPLETE_TASK {
                    t.completed = true;
                }
                if let Some(c) = args.get("completed").and_then(Value::as_bool) {
                    t.completed = c;
                }
                if let Some(title) = args.get("title").and_then(Value::as_str) {
                    t.title = title.into();
                }
                if let Some(d) = args.get("description").and_then(Value::as_str) {
                    t.description = d.into();
                }
                json!({"todo": t})
            }
            DELETE_TASK => {
                let Some(i) = pos else { return not_found };
                let t = self.todos.remove(i);
                json!({"deleted": true, "task_id": t.id, "title": t.title})
            }
            _ => json!({"error": {"code": "unknown_tool", "message": "no such tool"}}),
        }
    }
}

/// A whole turn: (every tool call, the reply text).
fn turn(world: &mut World, text: &str) -> (Vec<(String, Value)>, String) {
    let mut messages = vec![AgentMessage::User(text.into())];
    let mut calls = Vec::new();
    for step in 0..5 {
        let events = respond(&messages, &format!("n{step}"));
        assert_eq!(
            events.last(),
            Some(&StepEvent::Finish),
            "{text}: {events:?}"
        );
        let mut content = String::new();
        let mut step_calls = Vec::new();
        for e in events {
            match e {
                StepEvent::Delta(d) => content.push_str(&d),
                StepEvent::ToolCall(c) => step_calls.push(c),
                StepEvent::Finish => {}
            }
        }
        if step_calls.is_empty() {
            return (calls, content);
        }
        assert!(content.is_empty(), "{text}: text with tool calls");
        messages.push(AgentMessage::Assistant {
            content,
            tool_calls: step_calls.clone(),
        });
        for c in step_calls {
            let args: Value = serde_json::from_str(&c.arguments).unwrap();
            let result = world.execute(&c.name, &args);
            calls.push((c.name.clone(), args));
            messages.push(AgentMessage::Tool {
                call_id: c.id,
                name: c.name,
                content: result.to_string(),
            });
        }
    }
    panic!("{text}: more than 5 steps");
}

/// The calls that act (the title lookup left out).
fn actions(world: &mut World, text: &str) -> (Vec<(String, Value)>, String) {
    let (calls, reply) = turn(world, text);
    let mut acts: Vec<(String, Value)> = calls;
    // A lookup is `list_tasks {status: all}` made before anything else when names are used.
    if acts.len() > 1 && acts[0] == (LIST_TASKS.to_owned(), json!({"status": "all"})) {
        acts.remove(0);
    } else if acts.len() == 1
        && acts[0] == (LIST_TASKS.to_owned(), json!({"status": "all"}))
        && !reply.starts_with("You have")
    {
        acts.clear();
    }
    (acts, reply)
}

fn add(t: &str) -> (String, Value) {
    (ADD_TASK.into(), json!({"title": t}))
}
fn list(s: &str) -> (String, Value) {
    (LIST_TASKS.into(), json!({"status": s}))
}
fn complete(id: i64) -> (String, Value) {
    (COMPLETE_TASK.into(), json!({"task_id": id}))
}
fn reopen(id: i64) -> (String, Value) {
    (
        UPDATE_TASK.into(),
        json!({"task_id": id, "completed": false}),
    )
}
fn rename(id: i64, title: &str) -> (String, Value) {
    (UPDATE_TASK.into(), json!({"task_id": id, "title": title}))
}
fn delete(id: i64) -> (String, Value) {
    (DELETE_TASK.into(), json!({"task_id": id}))
}

#[test]
fn phrasings_become_the_expected_tool_calls() {
    let table: Vec<(&str, Vec<(String, Value)>)> = vec![
        // The contract's phrasings.
        ("add a task to buy milk", vec![add("buy milk")]),
        ("add buy milk", vec![add("buy milk")]),
        ("list my tasks", vec![list("all")]),
        ("what's pending?", vec![list("pending")]),
        ("complete the milk task", vec![complete(1)]),
        ("mark task 3 as done", vec![complete(3)]),
        ("rename task 3 to call mom", vec![rename(3, "call mom")]),
        ("delete task 3", vec![delete(3)]),
        // Adding.
        ("add milk and eggs", vec![add("milk"), add("eggs")]),
        (
            "add milk, eggs, and bread",
            vec![add("milk"), add("eggs"), add("bread")],
        ),
        (
            "Add a task to call the plumber and show me what's pending",
            vec![add("call the plumber"), list("pending")],
        ),
        (
            "please add “bread and butter” to my list",
            vec![add("bread and butter")],
        ),
        (
            "remind me to water the plants",
            vec![add("water the plants")],
        ),
        ("new task: renew passport", vec![add("renew passport")]),
        ("Create a todo called Taxes", vec![add("Taxes")]),
        (
            "can you add taskforce meeting",
            vec![add("taskforce meeting")],
        ),
        ("I need to pick up the kids", vec![add("pick up the kids")]),
        // Listing.
        ("show me everything", vec![list("all")]),
        ("what have I done?", vec![list("completed")]),
        ("show completed tasks", vec![list("completed")]),
        ("what do I still need to do?", vec![list("pending")]),
        ("any tasks left?", vec![list("pending")]),
        ("how many tasks do I have", vec![list("all")]),
        ("list my todos", vec![list("all")]),
        // Completing.
        ("complete task 4", vec![complete(4)]),
        ("finish #2", vec![complete(2)]),
        ("check off the dentist appointment", vec![complete(5)]),
        ("mark buy milk as complete", vec![complete(1)]),
        ("task 2 is done", vec![complete(2)]),
        ("I finished the rent task", vec![complete(4)]),
        ("complete tasks 1 and 2", vec![complete(1), complete(2)]),
        (
            "can you mark task three as finished please",
            vec![complete(3)],
        ),
        ("complete the dentst task", vec![complete(5)]),
        ("change task 4 to done", vec![complete(4)]),
        (
            "complete all tasks",
            vec![complete(1), complete(2), complete(4), complete(5)],
        ),
        // Reopening.
        ("reopen task 3", vec![reopen(3)]),
        ("mark walk the dog as not done", vec![reopen(3)]),
        ("uncheck the dog task", vec![reopen(3)]),
        // Renaming and describing.
        (
            "rename buy milk to buy oat milk",
            vec![rename(1, "buy oat milk")],
        ),
        (
            "change the title of task 2 to call mom and dad",
            vec![rename(2, "call mom and dad")],
        ),
        (
            "rename the rent task to pay the rent today",
            vec![rename(4, "pay the rent today")],
        ),
        (
            "set the description of task 1 to two litres, semi-skimmed",
            vec![(
                UPDATE_TASK.into(),
                json!({"task_id": 1, "description": "two litres, semi-skimmed"}),
            )],
        ),
        // Deleting.
        ("delete the milk task", vec![delete(1)]),
        ("remove call mom", vec![delete(2)]),
        ("get rid of task #5", vec![delete(5)]),
        ("delete tasks 4 and 5", vec![delete(4), delete(5)]),
        ("clear completed", vec![delete(3)]),
        // Several requests at once.
        (
            "delete task 3 and add call grandma",
            vec![delete(3), add("call grandma")],
        ),
        (
            "Complete the milk task, then list what's left",
            vec![complete(1), list("pending")],
        ),
        // Not todo commands: no calls.
        ("who are you?", vec![]),
        ("hello", vec![]),
        ("add a task", vec![]),
        ("complete the unicorn task", vec![]),
    ];
    assert!(table.len() >= 40);
    let mut failures = Vec::new();
    for (phrase, want) in &table {
        let mut world = World::standard();
        let (got, reply) = actions(&mut world, phrase);
        if &got != want {
            failures.push(format!(
                "{phrase:?}\n   want {want:?}\n    got {got:?}\n  reply {reply:?}"
            ));
        }
        assert!(!reply.is_empty(), "{phrase}: empty reply");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_name_matching_several_tasks_gets_a_question() {
    let mut world = World::with(&[("buy milk", false), ("milk the cow", false)]);
    let (acts, reply) = actions(&mut world, "complete the milk task");
    assert!(acts.is_empty(), "{acts:?}");
    assert!(reply.contains("Which one"), "{reply}");
    assert!(
        reply.contains("#1 “buy milk”") && reply.contains("#2 “milk the cow”"),
        "{reply}"
    );
    // The status breaks a tie: only one of them is still pending.
    let mut world = World::with(&[("buy milk", true), ("milk the cow", false)]);
    assert_eq!(
        actions(&mut world, "complete the milk task").0,
        vec![complete(2)]
    );
}

#[test]
fn replies_say_what_happened() {
    let mut world = World::standard();
    assert_eq!(
        actions(&mut world, "add buy bread").1,
        "Added “buy bread” (#6)."
    );
    assert_eq!(
        actions(&mut world, "complete the bread task").1,
        "Marked “buy bread” (#6) as done."
    );
    assert_eq!(
        actions(&mut world, "delete task 99").1,
        "I couldn't find task #99."
    );
    assert_eq!(
        actions(&mut world, "delete task 6").1,
        "Deleted “buy bread” (#6)."
    );
    let (_, reply) = actions(&mut world, "what's pending?");
    assert!(
        reply.starts_with("You have 4 pending tasks:\n- #1 buy milk"),
        "{reply}"
    );
    assert!(
        actions(&mut world, "what are you?")
            .1
            .contains("offline assistant")
    );
    assert!(
        actions(&mut world, "add a task")
            .1
            .contains("What should the new task be called")
    );
    assert!(
        actions(&mut world, "frobnicate the widget")
            .1
            .starts_with("Sorry, I didn't understand")
    );
}

#[test]
fn only_names_need_a_lookup() {
    let mut world = World::standard();
    let (calls, _) = turn(&mut world, "delete task 3");
    assert_eq!(calls, vec![delete(3)]);
    let (calls, _) = turn(&mut world, "delete the rent task");
    assert_eq!(calls, vec![list("all"), delete(4)]);
    let (calls, reply) = turn(&mut world, "delete it");
    assert!(calls.is_empty(), "{calls:?}");
    assert!(reply.starts_with("Which task do you mean?"), "{reply}");
}

#[test]
fn pieces_concatenate_to_the_text() {
    for text in [
        "",
        "one",
        "Added “buy milk” (#3).",
        "You have 2 tasks:\n- #1 a\n- #2 b  c ",
    ] {
        let p = pieces(text);
        assert_eq!(p.concat(), text);
        assert!(p.iter().all(|x| x.split_whitespace().count() <= 2), "{p:?}");
    }
}
