//! The offline provider: a deterministic assistant for plain English that needs no key and no
//! network. It is the default when no `OPENAI_API_KEY` is set, and what every test can rely on.
//!
//! It behaves like a model, through the same loop and the same tools, and is a pure function of
//! the conversation it is given:
//!
//! 1. It parses the newest user message into [`Command`]s ("add milk and eggs" is two adds).
//! 2. If a command names a task by title ("complete the milk task") or by a group ("delete all
//!    completed tasks"), its first step is a `list_tasks` call to look the tasks up, as a model
//!    would.
//! 3. The next step resolves those names against the listed tasks (fuzzy, by words) and calls
//!    the action tools; an ambiguous name gets a clarifying question instead.
//! 4. The last step reads the tool results and words the reply, streamed in small pieces.
//!
//! Which step it is in is read from the turn's own tool calls (the lookup's call id ends in
//! `_lookup`), so no state is kept between steps.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use protocol::{StatusFilter, Todo};
use serde_json::{Value, json};

use super::tools::{self, ADD_TASK, COMPLETE_TASK, DELETE_TASK, LIST_TASKS, UPDATE_TASK};
use super::{AgentMessage, Provider, StepEvent, StepStream, ToolCallRequest};

/// The suffix of the lookup call's id.
const LOOKUP: &str = "_lookup";

/// The offline assistant. `delay` is the pause before each streamed piece, so the client sees
/// the answer arrive the way a model's does.
pub struct Offline {
    delay: Duration,
}

impl Offline {
    pub fn new(delay: Duration) -> Self {
        Self { delay }
    }
}

impl Default for Offline {
    fn default() -> Self {
        Self::new(Duration::from_millis(8))
    }
}

impl Provider for Offline {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn step(&self, messages: Vec<AgentMessage>) -> StepStream {
        let nonce: u32 = rand::random();
        let events = respond(&messages, &format!("off{nonce:08x}"));
        let delay = self.delay;
        futures_util::stream::iter(events)
            .then(move |e| async move {
                if matches!(e, StepEvent::Delta(_)) && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok(e)
            })
            .boxed()
    }
}

/// One step of the offline assistant over `messages`. `nonce` makes the call ids of this step
/// unique in the conversation (the client matches results to calls by id).
pub fn respond(messages: &[AgentMessage], nonce: &str) -> Vec<StepEvent> {
    let Some(last_user) = messages
        .iter()
        .rposition(|m| matches!(m, AgentMessage::User(_)))
    else {
        return reply("What can I do for you? Try “add buy milk” or “what's pending?”.");
    };
    let AgentMessage::User(text) = &messages[last_user] else {
        return Vec::new();
    };
    let turn = &messages[last_user + 1..];
    let commands = parse(text);

    let mut calls = Vec::new();
    let mut results: HashMap<&str, Value> = HashMap::new();
    for m in turn {
        match m {
            AgentMessage::Assistant { tool_calls, .. } => calls.extend(tool_calls.iter()),
            AgentMessage::Tool {
                call_id, content, ..
            } => {
                results.insert(
                    call_id.as_str(),
                    serde_json::from_str(content).unwrap_or(Value::Null),
                );
            }
            AgentMessage::User(_) => {}
        }
    }
    let lookup = calls
        .iter()
        .find(|c| c.id.ends_with(LOOKUP))
        .and_then(|c| results.get(c.id.as_str()))
        .map(|r| {
            r.get("todos")
                .cloned()
                .and_then(|t| serde_json::from_value::<Vec<Todo>>(t).ok())
                .unwrap_or_default()
        });
    let actions: Vec<&&ToolCallRequest> =
        calls.iter().filter(|c| !c.id.ends_with(LOOKUP)).collect();

    let needs_lookup = commands.iter().any(Command::needs_lookup);
    if calls.is_empty() && needs_lookup {
        return vec![
            StepEvent::ToolCall(ToolCallRequest {
                id: format!("{nonce}{LOOKUP}"),
                name: LIST_TASKS.into(),
                arguments: json!({"status": "all"}).to_string(),
            }),
            StepEvent::Finish,
        ];
    }
    let todos = lookup.unwrap_or_default();
    let plan = plan(&commands, &todos);
    if actions.is_empty() && (calls.is_empty() || needs_lookup) {
        let planned: Vec<StepEvent> = plan
            .iter()
            .flat_map(|p| p.calls.iter())
            .enumerate()
            .map(|(i, (name, args))| {
                StepEvent::ToolCall(ToolCallRequest {
                    id: format!("{nonce}_{i}"),
                    name: (*name).into(),
                    arguments: args.to_string(),
                })
            })
            .collect();
        if !planned.is_empty() {
            let mut events = planned;
            events.push(StepEvent::Finish);
            return events;
        }
    }
    // The last step: word the outcome of each command, in order.
    let mut outcomes = actions
        .iter()
        .map(|c| (c.name.as_str(), results.get(c.id.as_str())));
    let mut parts: Vec<String> = Vec::new();
    for p in &plan {
        if let Some(note) = &p.note {
            parts.push(note.clone());
        }
        for (name, args) in &p.calls {
            let result = outcomes
                .next()
                .and_then(|(_, r)| r.cloned())
                .unwrap_or(Value::Null);
            parts.push(describe(name, args, &result, &p.command));
        }
        if let (true, None, Some(s)) = (p.calls.is_empty(), &p.note, p.empty_note()) {
            parts.push(s);
        }
    }
    let joiner = if parts.iter().any(|p| p.contains('\n')) {
        "\n"
    } else {
        " "
    };
    reply(&parts.join(joiner))
}

/// The events of a text-only step: the text in small pieces, then `Finish`.
fn reply(text: &str) -> Vec<StepEvent> {
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

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Add {
        title: String,
        description: Option<String>,
    },
    List(StatusFilter),
    Complete(Target),
    Reopen(Target),
    Rename {
        target: Target,
        title: String,
    },
    Describe {
        target: Target,
        description: String,
    },
    Delete(Target),
    /// Not about todos: answer in words.
    Say(Say),
}

/// Which task(s) a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Id(i64),
    /// Words of the title, matched fuzzily.
    Title(String),
    /// Every task with this status.
    All(StatusFilter),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say {
    Identity,
    Help,
    Greeting,
    Thanks,
    /// "add" with nothing to add.
    AskTitle,
    NotUnderstood(String),
}

impl Command {
    /// A name or a group must be looked up; an id need not, and an empty name ("delete it")
    /// gets a question without one.
    fn needs_lookup(&self) -> bool {
        match self.target() {
            Some(Target::Title(t)) => !t.is_empty(),
            Some(Target::All(_)) => true,
            _ => false,
        }
    }

    fn target(&self) -> Option<&Target> {
        match self {
            Command::Complete(t) | Command::Reopen(t) | Command::Delete(t) => Some(t),
            Command::Rename { target, .. } | Command::Describe { target, .. } => Some(target),
            _ => None,
        }
    }
}

/// Parses a message into commands. Never empty: what is not understood is a `Say`.
pub fn parse(message: &str) -> Vec<Command> {
    let text = normalize(message);
    if let Some(say) = small_talk(&text) {
        return vec![Command::Say(say)];
    }
    let mut commands: Vec<Command> = Vec::new();
    for sentence in split_with_separators(&text, SENTENCE_SEPARATORS) {
        let mut previous: Option<usize> = None;
        for (sep, segment) in split_with_separators(sentence.1, ITEM_SEPARATORS) {
            let segment = trim_segment(segment);
            if segment.is_empty() {
                continue;
            }
            if let Some(cmd) = command(segment) {
                previous = Some(commands.len());
                commands.push(cmd);
                continue;
            }
            // No verb: more of the same ("add milk and eggs", "delete tasks 3 and 4").
            let Some(i) = previous else {
                commands.push(Command::Say(Say::NotUnderstood(segment.to_owned())));
                continue;
            };
            let follow = match &mut commands[i] {
                Command::Add { .. } => Some(add_command(segment)),
                Command::Complete(_) => Some(Command::Complete(target(segment))),
                Command::Reopen(_) => Some(Command::Reopen(target(segment))),
                Command::Delete(_) => Some(Command::Delete(target(segment))),
                // A new title or description that itself contains "and" or a comma.
                Command::Rename { title, .. } => {
                    title.push_str(sep);
                    title.push_str(segment);
                    None
                }
                Command::Describe { description, .. } => {
                    description.push_str(sep);
                    description.push_str(segment);
                    None
                }
                Command::List(_) | Command::Say(_) => None,
            };
            if let Some(cmd) = follow {
                commands.push(cmd);
                previous = Some(commands.len() - 1);
            }
        }
    }
    if commands.is_empty() {
        commands.push(Command::Say(Say::NotUnderstood(text)));
    }
    commands
}

const SENTENCE_SEPARATORS: &[&str] = &[
    ". ",
    "; ",
    "! ",
    "? ",
    "\n",
    ", and then ",
    " and then ",
    ", then ",
    " then ",
    " and also ",
    ", also ",
];
const ITEM_SEPARATORS: &[&str] = &[", and ", ", ", " and ", " & ", " as well as "];

/// One line, single spaces, straight apostrophes, no trailing punctuation.
fn normalize(s: &str) -> String {
    let s = s.replace(['’', '‘'], "'");
    let s: String = s
        .split([' ', '\t', '\r'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    s.trim()
        .trim_end_matches(['.', '!', '?', ' '])
        .trim()
        .to_owned()
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '“' | '”')
}

/// Splits at any of `seps` (case-insensitive) outside double quotes, so a quoted title keeps
/// its "and"s. Returns (the separator before the piece, the piece).
fn split_with_separators<'a>(s: &'a str, seps: &[&'static str]) -> Vec<(&'static str, &'a str)> {
    let mut out = Vec::new();
    let mut in_quote = false;
    let mut start = 0;
    let mut last_sep: &'static str = "";
    let mut i = 0;
    while i < s.len() {
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        if is_quote(c) {
            in_quote = !in_quote;
        } else if let Some(sep) = seps
            .iter()
            .find(|sep| !in_quote && starts_with_ci(&s[i..], sep))
        {
            out.push((last_sep, &s[start..i]));
            last_sep = sep;
            i += sep.len();
            start = i;
            continue;
        }
        i += c.len_utf8();
    }
    out.push((last_sep, &s[start..]));
    out
}

fn starts_with_ci(s: &str, p: &str) -> bool {
    s.len() >= p.len()
        && s.is_char_boundary(p.len())
        && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

fn strip_prefix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    starts_with_ci(s, p).then(|| &s[p.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    let n = s.len().checked_sub(p.len())?;
    (s.is_char_boundary(n) && s.as_bytes()[n..].eq_ignore_ascii_case(p.as_bytes())).then(|| &s[..n])
}

/// The first position of `p` in `s`, case-insensitive, at a char boundary.
fn find_ci(s: &str, p: &str) -> Option<usize> {
    (0..s.len()).find(|&i| s.is_char_boundary(i) && starts_with_ci(&s[i..], p))
}

/// Removes politeness and filler around a request.
fn trim_segment(s: &str) -> &str {
    const LEAD: &[&str] = &[
        "please ",
        "pls ",
        "plz ",
        "kindly ",
        "can you ",
        "could you ",
        "would you ",
        "will you ",
        "can u ",
        "i want you to ",
        "i'd like you to ",
        "i want to ",
        "i'd like to ",
        "i would like to ",
        "go ahead and ",
        "let's ",
        "lets ",
        "just ",
        "now ",
        "also ",
        "then ",
        "and ",
        "ok ",
        "ok, ",
        "okay ",
        "okay, ",
        "hey ",
        "hey, ",
        "oh ",
        "so ",
        "assistant, ",
    ];
    const TRAIL: &[&str] = &[
        " please",
        " pls",
        " for me",
        " thanks",
        " thank you",
        " now",
        " too",
        " as well",
        " asap",
        ",",
    ];
    let mut s = s.trim().trim_end_matches(['.', '!', '?', ',']).trim();
    loop {
        let before = s;
        for p in LEAD {
            if let Some(rest) = strip_prefix_ci(s, p) {
                s = rest.trim_start();
            }
        }
        for p in TRAIL {
            if let Some(rest) = strip_suffix_ci(s, p) {
                s = rest.trim_end();
            }
        }
        if s == before {
            return s;
        }
    }
}

/// Greetings, thanks, "who are you", "help": whole-message small talk.
fn small_talk(text: &str) -> Option<Say> {
    let t = text.to_lowercase();
    let t = t.trim_end_matches(['?', '!', '.', ' ']);
    const IDENTITY: &[&str] = &[
        "who are you",
        "what are you",
        "are you a bot",
        "are you an ai",
        "are you ai",
        "are you human",
        "are you a human",
        "are you real",
        "are you chatgpt",
        "are you gpt",
        "are you a model",
        "are you an llm",
        "what model",
        "which model",
        "are you offline",
        "who made you",
        "what is this assistant",
        "introduce yourself",
    ];
    const HELP: &[&str] = &[
        "help",
        "help me",
        "can you help",
        "can you help me",
        "i need help",
        "what can i say",
        "what do you understand",
        "how do you work",
        "how does this work",
        "commands",
        "what can i ask",
    ];
    if IDENTITY.iter().any(|p| t.contains(p)) {
        return Some(Say::Identity);
    }
    if HELP.contains(&t) || t.starts_with("what can you") || t.starts_with("how do i use") {
        return Some(Say::Help);
    }
    const GREETINGS: &[&str] = &[
        "hi",
        "hello",
        "hey",
        "hi there",
        "hello there",
        "hey there",
        "good morning",
        "good afternoon",
        "good evening",
        "yo",
        "howdy",
    ];
    if GREETINGS.contains(&t) {
        return Some(Say::Greeting);
    }
    const THANKS: &[&str] = &[
        "thanks",
        "thank you",
        "thx",
        "ty",
        "cheers",
        "great",
        "great, thanks",
        "perfect",
        "awesome",
        "cool",
        "ok",
        "okay",
        "nice",
        "thanks a lot",
        "thank you so much",
    ];
    if THANKS.contains(&t) {
        return Some(Say::Thanks);
    }
    None
}

/// The command a segment starts with, if any.
fn command(s: &str) -> Option<Command> {
    rename(s)
        .or_else(|| describe_command(s))
        .or_else(|| reopen(s))
        .or_else(|| complete(s))
        .or_else(|| delete(s))
        .or_else(|| add(s))
        .or_else(|| list(s))
        .or_else(|| done_suffix(s))
}

fn first_prefix<'a>(s: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes
        .iter()
        .find_map(|p| strip_prefix_ci(s, p))
        .map(str::trim)
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

/// Every position of any of `seps` in `s`, left to right: (index, separator length).
fn split_points(s: &str, seps: &[&str]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for i in 0..s.len() {
        if !s.is_char_boundary(i) {
            continue;
        }
        if let Some(sep) = seps.iter().find(|p| starts_with_ci(&s[i..], p)) {
            out.push((i, sep.len()));
        }
    }
    out
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
fn add_command(rest: &str) -> Command {
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

/// The status a phrase asks about, if it names one. "not done" is checked before "done".
fn status_words(t: &str) -> Option<StatusFilter> {
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

/// Which task a phrase points at: an id ("task 3", "#3", "three"), a group ("all completed
/// tasks") or title words ("the milk task").
fn target(phrase: &str) -> Target {
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

fn strip_quotes(s: &str) -> &str {
    let s = s.trim();
    for (open, close) in [('"', '"'), ('“', '”'), ('\'', '\''), ('«', '»')] {
        if let Some(inner) = s.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
            return inner.trim();
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Resolving names and planning tool calls
// ---------------------------------------------------------------------------------------------

/// What one command turns into: its tool calls, or a note (a question, "not found").
struct Planned {
    command: Command,
    calls: Vec<(&'static str, Value)>,
    note: Option<String>,
}

impl Planned {
    /// What to say for a command that made no call and has no note.
    fn empty_note(&self) -> Option<String> {
        Some(match &self.command {
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
}

fn plan(commands: &[Command], todos: &[Todo]) -> Vec<Planned> {
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

// ---------------------------------------------------------------------------------------------
// Wording the reply
// ---------------------------------------------------------------------------------------------

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
    // `count` is how many there are; the list shows the first of them.
    let n = result
        .get("count")
        .and_then(Value::as_u64)
        .map_or(todos.len(), |c| c as usize);
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
    if n > todos.len() {
        out.push_str(&format!("\n…and {} more.", n - todos.len()));
    }
    out
}

#[cfg(test)]
mod tests;
