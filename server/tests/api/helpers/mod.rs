//! The one place for test helpers. Every test starts from [`spawn_app`] (a real server on
//! 127.0.0.1:0 with a fresh database) and talks to it as a client would:
//!
//! - `app`: booting servers (one, a second instance on the same database, a restart);
//! - `http`: [`Client`] (a browser's cookie jar), [`Bearer`], raw requests, `Set-Cookie` lines;
//! - `accounts`: users, their tokens, a JWT's claims;
//! - `socket`: [`Socket`], a WebSocket client that speaks the protocol crate;
//! - `checks`: what every error answer must look like.
//!
//! Everything is re-exported here, so a test module imports from `crate::helpers` alone.

#![allow(dead_code)]

mod accounts;
mod app;
mod checks;
mod http;
mod socket;

pub use accounts::*;
pub use app::*;
pub use checks::*;
pub use http::*;
pub use socket::*;
