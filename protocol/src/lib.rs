//! The wire contract (`docs/CONTRACT.md`) as Rust types.
//!
//! Everything that crosses the network — REST bodies, WebSocket frames, error codes, cookie
//! names, close codes — is spelled here once, and the server, the web client and the load tester
//! all use these types. The crate does no I/O and compiles for wasm32, so the browser shares it.
//!
//! Names are fixed by the contract: tests in `tests/contract.rs` spell the JSON out literally so a
//! rename cannot slip through.

pub mod error;
pub mod rest;
#[cfg(feature = "schema")]
pub mod schema;
pub mod validate;
pub mod ws;

pub use error::{ApiError, ErrorBody, ErrorCode};
pub use rest::*;
pub use validate::*;
pub use ws::*;

/// Version carried in `welcome.protocol`; bumped on an incompatible change of the socket frames.
pub const PROTOCOL_VERSION: u32 = 1;

/// Name of the cookie holding the access JWT (`Path=/`).
pub const ACCESS_COOKIE: &str = "access_token";
/// Name of the cookie holding the opaque refresh token (`Path=/api/auth`).
pub const REFRESH_COOKIE: &str = "refresh_token";
/// The path the refresh cookie is scoped to.
pub const REFRESH_COOKIE_PATH: &str = "/api/auth";

/// WebSocket close codes used by the server.
pub mod close {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (graceful shutdown).
    pub const GOING_AWAY: u16 = 1001;
    /// Policy violation (origin/auth after the upgrade, a client too slow to keep up).
    pub const POLICY: u16 = 1008;
    /// A frame over `WS_MAX_MESSAGE_BYTES`.
    pub const TOO_BIG: u16 = 1009;
    /// The session was revoked (logout, refresh-token reuse) or expired.
    pub const SESSION_EXPIRED: u16 = 4001;
    /// The server hit an unexpected condition (e.g. the database is unreachable).
    pub const INTERNAL: u16 = 1011;
    /// Repeatedly over the per-user message rate.
    pub const RATE_LIMITED: u16 = 4029;
}
