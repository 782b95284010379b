//! Plain English → [`Command`]s. A message is cut into sentences and then items ("add milk and
//! eggs. then list my tasks"), each item is stripped of politeness ("could you please …") and
//! read by the first verb that recognizes it ([`verbs`]); an item without a verb continues the
//! command before it ("delete tasks 3 and 4"). Whole-message small talk ("hi", "who are you")
//! is answered in words.
//!
//! The pieces: [`text`] has the case-insensitive string helpers, [`target`] reads which task a
//! phrase points at, [`verbs`] has one recognizer per command.

mod target;
mod text;
mod verbs;

use super::command::{Command, Say};
use target::target;
use text::{normalize, split_with_separators, strip_prefix_ci, strip_suffix_ci};
use verbs::{add_command, command};

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
