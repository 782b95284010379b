//! The assistant's brain, behind one trait: a [`Provider`] runs *one model step* over a
//! conversation and streams what the model says ([`StepEvent`]): pieces of text, the tool calls
//! it wants, and the end of the step.
//!
//! Two providers implement it: [`openai::OpenAi`] (any OpenAI-compatible chat-completions
//! server) and [`offline::Offline`] (a deterministic plain-English parser, no network). The loop
//! around them — run a step, execute the tool calls through [`tools`], feed the results back,
//! step again, up to a cap — lives in `service::chat` and is the same for both, so the socket,
//! the saved rows and the tests cannot tell which one answered.

pub mod offline;
pub mod openai;
pub mod tools;

use futures_util::stream::BoxStream;

/// One message of the conversation as a provider sees it (model-neutral).
#[derive(Debug, Clone, PartialEq)]
pub enum AgentMessage {
    User(String),
    /// What the assistant said, with the tool calls it made in the same message.
    Assistant {
        content: String,
        tool_calls: Vec<ToolCallRequest>,
    },
    /// The result (JSON text) of one tool call.
    Tool {
        call_id: String,
        name: String,
        content: String,
    },
}

/// A tool call as the model asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallRequest {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: JSON text, not yet checked.
    pub arguments: String,
}

/// What one model step streams, in order: any number of `Delta` and `ToolCall`, then `Finish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepEvent {
    /// A piece of the answer's text.
    Delta(String),
    /// A complete tool call (arguments assembled).
    ToolCall(ToolCallRequest),
    /// The step is over. If it made tool calls, the loop runs them and steps again.
    Finish,
}

/// Why the model could not answer; `message` is shown to the user, so it never carries keys,
/// URLs with credentials or internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The kinds of upstream failure, the `kind` label of `agent_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorKind {
    /// The model server could not be reached.
    Connect,
    /// It answered with an error status.
    Status,
    /// It sent something that is not a chat-completion chunk.
    Malformed,
    /// It went quiet for longer than the configured timeout.
    Timeout,
    /// The stream broke off.
    Stream,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The stream of one step. Dropping it aborts the step at once (the upstream request is
/// closed), which is how `chat.cancel` works.
pub type StepStream = BoxStream<'static, Result<StepEvent, ProviderError>>;

/// A model: given the conversation so far, stream one step of the assistant's answer.
pub trait Provider: Send + Sync + 'static {
    /// A short name for logs and the `provider` metric label.
    fn name(&self) -> &'static str;

    /// Starts one step over `messages` (oldest first; the newest user message is in there).
    fn step(&self, messages: Vec<AgentMessage>) -> StepStream;
}
