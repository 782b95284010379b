//! The OpenAI-compatible provider: one streamed chat completion per step, through async-openai,
//! against `OPENAI_BASE_URL` (OpenAI, Ollama, vLLM, llama.cpp's server, LM Studio…).
//!
//! Servers differ in small ways, so the chunks are read into lenient local types (every field
//! optional) with async-openai's bring-your-own-type streaming, and tool-call fragments are
//! assembled by `id` when the server repeats it and by `index` otherwise. Every failure —
//! refused connection, error status, a chunk that is not JSON, silence longer than the chunk
//! timeout — becomes a [`ProviderError`] with a readable message; nothing here can hang a turn.

use std::time::Duration;

use anyhow::Context;
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestUserMessage, ChatCompletionTool, ChatCompletionTools,
    CreateChatCompletionRequest, FunctionCall, FunctionObject,
};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{
    AgentMessage, ErrorKind, Provider, ProviderError, StepEvent, StepStream, ToolCallRequest, tools,
};
use crate::config::Config;
use secrecy::ExposeSecret;

/// What the model is told about its job. Short on purpose: small local models follow short
/// instructions better.
const SYSTEM_PROMPT: &str = "You are the assistant of a todo app. You read and change the user's \
tasks only through the tools add_task, list_tasks, complete_task, update_task and delete_task. \
Tasks are identified by integer ids; when the user names a task by its title, call list_tasks \
first to find its id, and never invent an id. If several tasks could match, ask which one. \
Answer briefly in plain text.";

/// After the model said it is finished, how long to wait for the rest of the stream (`[DONE]`,
/// a usage chunk) before closing it anyway: a server that never sends `[DONE]` must not hold
/// the turn open for a whole chunk timeout.
const AFTER_FINISH_GRACE: Duration = Duration::from_secs(2);

/// Events buffered between the upstream reader and the chat loop.
const EVENT_BUFFER: usize = 64;

pub struct OpenAi {
    client: Client<OpenAIConfig>,
    model: String,
    chunk_timeout: Duration,
    /// Bound on getting the response started, async-openai's own retries included.
    open_timeout: Duration,
    tools: Vec<ChatCompletionTools>,
}

impl OpenAi {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let key = config
            .openai_api_key
            .as_ref()
            .map(|k| k.expose_secret().to_owned())
            .unwrap_or_default();
        // async-openai builds the Authorization header with `unwrap`: check it here, at start,
        // rather than panic inside a turn.
        http::HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            anyhow::anyhow!("OPENAI_API_KEY: contains characters not allowed in a header")
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.openai_connect_timeout)
            .build()
            .context("building the HTTP client for the model server")?;
        let openai = OpenAIConfig::new()
            .with_api_base(config.openai_base_url.trim_end_matches('/'))
            .with_api_key(key);
        let tools = tools::specs()
            .into_iter()
            .map(|t| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: t.name.to_owned(),
                        description: Some(t.description.to_owned()),
                        parameters: Some(t.parameters),
                        strict: None,
                    },
                })
            })
            .collect();
        Ok(Self {
            client: Client::build(http, openai),
            model: config.openai_model.clone(),
            chunk_timeout: config.openai_chunk_timeout,
            open_timeout: config.openai_connect_timeout + config.openai_chunk_timeout,
            tools,
        })
    }

    fn request(&self, messages: Vec<AgentMessage>) -> CreateChatCompletionRequest {
        let mut out = Vec::with_capacity(messages.len() + 1);
        out.push(ChatCompletionRequestMessage::System(
            ChatCompletionRequestSystemMessage {
                content: SYSTEM_PROMPT.into(),
                name: None,
            },
        ));
        for m in messages {
            out.push(match m {
                AgentMessage::User(text) => {
                    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                        content: text.into(),
                        name: None,
                    })
                }
                AgentMessage::Assistant {
                    content,
                    tool_calls,
                } => {
                    let calls: Vec<_> = tool_calls
                        .into_iter()
                        .map(|c| {
                            ChatCompletionMessageToolCalls::Function(
                                ChatCompletionMessageToolCall {
                                    id: c.id,
                                    function: FunctionCall {
                                        name: c.name,
                                        arguments: c.arguments,
                                    },
                                },
                            )
                        })
                        .collect();
                    #[allow(deprecated)] // `function_call` is deprecated but still a field
                    ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                        content: (!content.is_empty() || calls.is_empty()).then(|| content.into()),
                        tool_calls: (!calls.is_empty()).then_some(calls),
                        ..Default::default()
                    })
                }
                AgentMessage::Tool {
                    call_id, content, ..
                } => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
                    content: content.into(),
                    tool_call_id: call_id,
                }),
            });
        }
        CreateChatCompletionRequest {
            model: self.model.clone(),
            messages: out,
            tools: Some(self.tools.clone()),
            stream: Some(true),
            ..Default::default()
        }
    }
}

impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn step(&self, messages: Vec<AgentMessage>) -> StepStream {
        let request = self.request(messages);
        let client = self.client.clone();
        let (chunk_timeout, open_timeout) = (self.chunk_timeout, self.open_timeout);
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        // The reader is polled as part of the returned stream (not spawned): dropping the stream
        // drops the reader, and with it the upstream request. That is what makes a cancel
        // reach the model server at once.
        let reader = async move {
            if let Err(e) = read_step(client, request, chunk_timeout, open_timeout, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        };
        let reader = futures_util::stream::once(reader).filter_map(|()| async { None });
        futures_util::stream::select(ReceiverStream::new(rx), reader).boxed()
    }
}

type Events = mpsc::Sender<Result<StepEvent, ProviderError>>;

async fn read_step(
    client: Client<OpenAIConfig>,
    request: CreateChatCompletionRequest,
    chunk_timeout: Duration,
    open_timeout: Duration,
    tx: &Events,
) -> Result<(), ProviderError> {
    let opened = tokio::time::timeout(
        open_timeout,
        client.chat().create_stream_byot::<_, Chunk>(request),
    )
    .await;
    let mut stream = match opened {
        Err(_) => {
            return Err(ProviderError::new(
                ErrorKind::Timeout,
                format!(
                    "the model server did not answer within {} s",
                    open_timeout.as_secs()
                ),
            ));
        }
        Ok(Err(e)) => return Err(upstream_error(e)),
        Ok(Ok(s)) => s,
    };
    let mut calls = Assembler::default();
    let mut finished = false;
    loop {
        let wait = if finished {
            AFTER_FINISH_GRACE.min(chunk_timeout)
        } else {
            chunk_timeout
        };
        let chunk = match tokio::time::timeout(wait, stream.next()).await {
            Ok(None) => break,
            // What follows the finish (usage, `[DONE]`) is not needed: a stall or a broken
            // connection there does not spoil a complete answer.
            Err(_) | Ok(Some(Err(_))) if finished => break,
            Err(_) => {
                return Err(ProviderError::new(
                    ErrorKind::Timeout,
                    format!(
                        "the model server went quiet for more than {} s",
                        chunk_timeout.as_secs()
                    ),
                ));
            }
            Ok(Some(Err(e))) => return Err(upstream_error(e)),
            Ok(Some(Ok(chunk))) => chunk,
        };
        if let Some(error) = chunk.error {
            return Err(ProviderError::new(
                ErrorKind::Status,
                format!("the model server reported an error: {}", error_text(&error)),
            ));
        }
        // Only one choice is asked for (`n` unset); a server that sends more is ignored past
        // the first.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            for text in [choice.delta.content, choice.delta.refusal]
                .into_iter()
                .flatten()
            {
                if !text.is_empty() && tx.send(Ok(StepEvent::Delta(text))).await.is_err() {
                    return Ok(());
                }
            }
            for fragment in choice.delta.tool_calls.into_iter().flatten() {
                calls.push(fragment);
            }
            if choice.finish_reason.is_some() {
                finished = true;
            }
        }
    }
    // A stream that ends without a finish reason is taken as finished: some servers omit it, and
    // a connection that broke mid-body has already surfaced as an error above.
    for call in calls.finish() {
        if tx.send(Ok(StepEvent::ToolCall(call))).await.is_err() {
            return Ok(());
        }
    }
    let _ = tx.send(Ok(StepEvent::Finish)).await;
    Ok(())
}

/// A readable sentence for an upstream failure. Never includes the key or the raw body.
fn upstream_error(e: OpenAIError) -> ProviderError {
    tracing::warn!(error = %e, "model server error");
    match e {
        OpenAIError::Reqwest(e) if e.is_connect() => ProviderError::new(
            ErrorKind::Connect,
            "cannot connect to the model server (is OPENAI_BASE_URL right and the server running?)",
        ),
        OpenAIError::Reqwest(e) if e.is_timeout() => {
            ProviderError::new(ErrorKind::Timeout, "the model server timed out")
        }
        OpenAIError::Reqwest(_) => ProviderError::new(
            ErrorKind::Stream,
            "the connection to the model server failed",
        ),
        OpenAIError::ApiError(r) => {
            let status = r.status_code;
            let detail = short(&r.api_error.message);
            let message = if detail.is_empty() {
                format!("the model server answered {status}")
            } else {
                format!("the model server answered {status}: {detail}")
            };
            ProviderError::new(ErrorKind::Status, message)
        }
        OpenAIError::JSONDeserialize(..) => ProviderError::new(
            ErrorKind::Malformed,
            "the model server sent a malformed response (is OPENAI_BASE_URL an OpenAI-compatible /v1 endpoint?)",
        ),
        OpenAIError::StreamError(_) => {
            ProviderError::new(ErrorKind::Stream, "the model server's stream broke off")
        }
        other => ProviderError::new(
            ErrorKind::Malformed,
            format!(
                "the request to the model server failed: {}",
                short(&other.to_string())
            ),
        ),
    }
}

/// At most 300 characters of an upstream message, on one line.
fn short(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

fn error_text(error: &Value) -> String {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| error.to_string());
    short(&message)
}

/// One streamed chunk, every field optional: servers differ in what they include.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Chunk {
    choices: Vec<ChoiceChunk>,
    /// Some servers report a failure mid-stream as `data: {"error": …}`.
    error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChoiceChunk {
    index: u32,
    delta: DeltaChunk,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DeltaChunk {
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<ToolCallChunk>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ToolCallChunk {
    index: Option<u32>,
    id: Option<String>,
    function: Option<FunctionChunk>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FunctionChunk {
    name: Option<String>,
    /// A string fragment by the spec; a few servers send the whole object instead.
    arguments: Option<Value>,
}

/// Puts tool-call fragments back together.
///
/// OpenAI sends `id` and `name` in a call's first fragment and then only `index` with argument
/// pieces. Other servers repeat the `id` on every fragment, or give every call index 0 with
/// distinct ids. So: a fragment with a known `id` goes to that call; one with a new `id` starts
/// a call; one without an `id` goes to the latest call with its `index`.
#[derive(Debug, Default)]
struct Assembler {
    calls: Vec<Partial>,
}

#[derive(Debug, Default)]
struct Partial {
    index: Option<u32>,
    id: Option<String>,
    name: String,
    arguments: String,
}

impl Assembler {
    fn push(&mut self, f: ToolCallChunk) {
        let id = f.id.filter(|s| !s.is_empty());
        let slot = match &id {
            Some(id) => self
                .calls
                .iter()
                .position(|c| c.id.as_deref() == Some(id))
                .or_else(|| {
                    // The first fragment may come without an id and a later one with it.
                    self.calls
                        .iter()
                        .rposition(|c| c.id.is_none() && c.index == f.index && f.index.is_some())
                }),
            None => self.calls.iter().rposition(|c| c.index == f.index),
        };
        let call = match slot {
            Some(i) => &mut self.calls[i],
            None => {
                self.calls.push(Partial {
                    index: f.index,
                    ..Partial::default()
                });
                let last = self.calls.len() - 1;
                &mut self.calls[last]
            }
        };
        if call.id.is_none() {
            call.id = id;
        }
        if let Some(function) = f.function {
            if let Some(name) = function.name.filter(|n| !n.is_empty()) {
                // Some servers repeat the whole name on every fragment.
                if !tools::NAMES.contains(&call.name.as_str()) {
                    call.name.push_str(&name);
                }
            }
            match function.arguments {
                Some(Value::String(piece)) => call.arguments.push_str(&piece),
                Some(Value::Null) | None => {}
                Some(whole) => call.arguments = whole.to_string(),
            }
        }
    }

    fn finish(self) -> Vec<ToolCallRequest> {
        self.calls
            .into_iter()
            .enumerate()
            .map(|(n, c)| ToolCallRequest {
                id: c.id.unwrap_or_else(|| format!("call_{n}")),
                name: c.name,
                arguments: c.arguments,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(index: Option<u32>, id: Option<&str>, name: Option<&str>, args: &str) -> ToolCallChunk {
        ToolCallChunk {
            index,
            id: id.map(str::to_owned),
            function: Some(FunctionChunk {
                name: name.map(str::to_owned),
                arguments: Some(Value::String(args.to_owned())),
            }),
        }
    }

    #[test]
    fn openai_style_fragments_assemble_by_index() {
        let mut a = Assembler::default();
        a.push(frag(Some(0), Some("c1"), Some("add_task"), ""));
        a.push(frag(Some(1), Some("c2"), Some("list_tasks"), ""));
        a.push(frag(Some(0), None, None, "{\"title\":"));
        a.push(frag(Some(1), None, None, "{}"));
        a.push(frag(Some(0), None, None, "\"milk\"}"));
        let calls = a.finish();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].id, "c1");
        assert_eq!(calls[0].name, "add_task");
        assert_eq!(calls[0].arguments, "{\"title\":\"milk\"}");
        assert_eq!(calls[1].name, "list_tasks");
    }

    #[test]
    fn same_index_with_distinct_ids_are_distinct_calls() {
        let mut a = Assembler::default();
        a.push(frag(
            Some(0),
            Some("a"),
            Some("add_task"),
            "{\"title\":\"x\"}",
        ));
        a.push(frag(Some(0), Some("b"), Some("add_task"), "{\"title\":"));
        a.push(frag(Some(0), None, None, "\"y\"}"));
        a.push(frag(Some(0), Some("b"), Some("add_task"), ""));
        let calls = a.finish();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].arguments, "{\"title\":\"y\"}");
        assert_eq!(calls[1].name, "add_task");
    }

    #[test]
    fn missing_ids_and_indexes_still_give_calls() {
        let mut a = Assembler::default();
        a.push(frag(None, None, Some("list_tasks"), "{}"));
        let calls = a.finish();
        assert_eq!(calls[0].id, "call_0");
        assert_eq!(calls[0].name, "list_tasks");
    }

    #[test]
    fn lenient_chunks_parse() {
        let c: Chunk = serde_json::from_str(r#"{"choices":[{"delta":{"content":"hi"}}]}"#).unwrap();
        assert_eq!(c.choices[0].delta.content.as_deref(), Some("hi"));
        let c: Chunk = serde_json::from_str(
            r#"{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"eos"}]}"#,
        )
        .unwrap();
        assert_eq!(c.choices[0].finish_reason.as_deref(), Some("eos"));
        assert!(serde_json::from_str::<Chunk>("[1]").is_err());
        assert!(short(&"x".repeat(400)).ends_with('…'));
    }
}
