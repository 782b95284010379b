-- The whole schema, SQLite flavour. Times are RFC 3339 UTC text written by the server.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,           -- trimmed and lower-cased: compared case-insensitively
    name          TEXT,
    password_hash TEXT    NOT NULL,           -- argon2id PHC string, with its own parameters
    last_seq      INTEGER NOT NULL DEFAULT 0, -- the user's latest todo event number
    created_at    TEXT    NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_hash TEXT    NOT NULL,            -- SHA-256 of the current refresh token's secret
    created_at   TEXT    NOT NULL,
    refreshed_at TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,            -- end of the refresh token's life
    revoked_at   TEXT                         -- set by logout or refresh-token reuse
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE todos (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    completed   BOOLEAN NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE INDEX todos_user ON todos (user_id, id);

-- The per-user event log: every todo change, numbered gap-free per user in the change's own
-- transaction. Sockets resume from it; old rows are pruned past EVENT_RETENTION.
CREATE TABLE todo_events (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    payload    TEXT    NOT NULL,              -- protocol::TodoEvent as JSON
    created_at TEXT    NOT NULL,
    PRIMARY KEY (user_id, seq)
);

CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
CREATE INDEX conversations_user ON conversations (user_id, updated_at);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT    NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
    content         TEXT    NOT NULL,
    tool_calls      TEXT,                     -- assistant: JSON array of protocol::ToolCall
    call_id         TEXT,                     -- tool: the call it answers
    name            TEXT,                     -- tool: the tool's name
    created_at      TEXT    NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);
