//! The client's state logic, free of any browser API so that it runs in native unit tests:
//! todos (events, pending commands, resume), chat (streams, chips), forms (validation and
//! where the server's errors go), the Devices view's words, the assistant's Markdown (as a tree
//! of allowed elements) and the reconnect backoff.

pub mod backoff;
pub mod chat;
pub mod devices;
pub mod forms;
pub mod markdown;
pub mod todos;
