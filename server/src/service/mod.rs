//! The rules. Every account and session change ([`auth`]), every todo change ([`todos`]) and
//! every chat turn ([`chat`]) goes through here, whoever asks (REST, the socket, the
//! assistant's tools), and so does every publish to the sockets. Services use the store, the
//! agent's providers and the fan-out below them, and never a transport.

pub mod auth;
pub mod chat;
pub mod todos;
