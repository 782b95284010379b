//! The rules: every todo change and every chat turn goes through here, whoever asks (REST, the
//! socket, the assistant's tools).

pub mod chat;
pub mod todos;
