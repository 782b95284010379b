//! Black-box tests: each boots the real server on 127.0.0.1:0 with a fresh database and talks
//! to it as a client would, over HTTP and WebSocket.
//!
//! One test binary (modules below) keeps link time down. The database is SQLite by default;
//! with `TEST_DATABASE_URL=postgres://…` every test gets its own PostgreSQL database instead,
//! so the same suite runs on both.

mod helpers;

mod auth;
mod chat;
mod fake_openai;
mod ops;
mod sessions;
mod socket;
mod todos;
