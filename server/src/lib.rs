//! The realtime todo server as a library: `main.rs` and the black-box tests both start it with
//! [`app::App::spawn`]. `ARCHITECTURE.md` at the repository root maps the modules.

pub mod agent;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod realtime;
pub mod service;
pub mod store;
pub mod telemetry;
