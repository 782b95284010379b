//! The realtime todo server as a library: `main.rs` and the black-box tests both start it with
//! [`app::App::spawn`]. `docs/ARCHITECTURE.md` maps the modules and how a change travels.
//!
//! The modules are layers; imports point down only:
//!
//! | layer | modules | what lives there |
//! |---|---|---|
//! | wiring | [`app`], [`state`] | builds everything, binds, serves, shuts down; what a request handler gets |
//! | transport | [`transport`] | HTTP routes and the WebSocket loop, side by side: parse, call a service, answer |
//! | services | [`service`] | the rules: accounts and sessions, todos, chat turns — every write, every publish |
//! | below the services | [`store`], [`agent`], [`fanout`] | the database, the model side of the assistant, getting frames to sockets (this instance and the others) |
//! | ground | [`config`], [`error`], [`metrics`], [`telemetry`] | settings, the one error type, counters, logging |

pub mod agent;
pub mod app;
pub mod config;
pub mod error;
pub mod fanout;
pub mod metrics;
pub mod service;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod transport;
