//! REST bodies and the domain objects they carry (`User`, `Todo`, conversations).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user as every answer shows it. Never carries a password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct User {
    pub id: i64,
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::email"))]
    pub email: String,
    #[cfg_attr(
        feature = "schema",
        schemars(required, schema_with = "crate::schema::name")
    )]
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A todo item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Todo {
    pub id: i64,
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::title"))]
    pub title: String,
    /// Empty when the todo has no description.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::description")
    )]
    pub description: String,
    pub completed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which todos a listing returns (`?status=` over REST, `status` in `todo.list`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum StatusFilter {
    #[default]
    All,
    Pending,
    Completed,
}

impl StatusFilter {
    pub fn matches(self, todo: &Todo) -> bool {
        match self {
            StatusFilter::All => true,
            StatusFilter::Pending => !todo.completed,
            StatusFilter::Completed => todo.completed,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// `POST /api/auth/register`.
///
/// Fields are optional so that a missing one is a 422 naming the field (the server's
/// validation), while a field of the wrong JSON type is a 400.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RegisterRequest {
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(!default, required, schema_with = "crate::schema::email")
    )]
    pub email: Option<String>,
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(!default, required, schema_with = "crate::schema::password")
    )]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::name"))]
    pub name: Option<String>,
}

/// `POST /api/auth/login`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoginRequest {
    /// Any string: an address that could not be registered is just not found (401).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(!default, required, with = "String"))]
    pub email: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(!default, required, with = "String"))]
    pub password: Option<String>,
}

/// `201 register` and `200 login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UserResponse {
    pub user: User,
}

/// `200 verify` and `200 refresh`: the user and when the access token expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SessionResponse {
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/todos`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreateTodo {
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(!default, required, schema_with = "crate::schema::title")
    )]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::optional_description")
    )]
    pub description: Option<String>,
}

/// `PATCH /api/todos/{id}`: any of the fields; absent ones are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(transform = crate::schema::at_least_one_field)
)]
pub struct UpdateTodo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::optional_title")
    )]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::optional_description")
    )]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
}

impl UpdateTodo {
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none() && self.completed.is_none()
    }
}

/// `{"todo": Todo}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TodoResponse {
    pub todo: Todo,
}

/// `{"todos": [Todo]}`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TodosResponse {
    pub todos: Vec<Todo>,
}

/// A conversation with the assistant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Conversation {
    pub id: i64,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/conversations`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ConversationsResponse {
    pub conversations: Vec<Conversation>,
}

/// Who wrote a message.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<Role> {
        s.parse().ok()
    }
}

/// A tool call the assistant made, as saved on its message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ToolCall {
    pub call_id: String,
    pub name: String,
    pub arguments: serde_json::Value,
}

/// One message of a conversation.
///
/// Assistant messages carry the `tool_calls` they made; tool messages carry the `call_id` and
/// `name` they answer, with the result (JSON text) as `content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Message {
    pub id: i64,
    pub role: Role,
    pub content: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `GET /api/conversations/{id}/messages`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MessagesResponse {
    pub messages: Vec<Message>,
}

/// One of the caller's live sessions (a device), for `GET /api/auth/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SessionInfo {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// When the session was last used (updated at most once a minute).
    pub last_seen_at: DateTime<Utc>,
    /// The `User-Agent` of the login that opened it, if it sent one.
    pub user_agent: Option<String>,
    /// The client address of that login.
    pub ip: Option<String>,
    /// True for the session making this request.
    pub current: bool,
}

/// `GET /api/auth/sessions`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SessionsResponse {
    pub sessions: Vec<SessionInfo>,
}
