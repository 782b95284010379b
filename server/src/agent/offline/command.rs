//! What the user asked for, as the offline assistant understands it: the vocabulary that
//! `parse` produces and `plan` and `reply` consume.

use protocol::StatusFilter;

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
    pub(super) fn needs_lookup(&self) -> bool {
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
