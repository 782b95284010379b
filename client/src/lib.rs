//! The web client of the realtime todo server.
//!
//! `state` holds every rule of the client (todo events, pending commands, resume, chat
//! streams, form checks, backoff) with no browser API, so `cargo test` runs it natively. `web`
//! is the Sycamore UI and the browser plumbing (fetch, WebSocket, timers); it exists only when
//! built for wasm32 (or natively with `--features lint-web`, for clippy only).

pub mod state;

#[cfg(any(target_arch = "wasm32", feature = "lint-web"))]
mod web;
