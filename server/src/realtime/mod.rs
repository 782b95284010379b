//! The WebSocket side: the hub of open sockets, the bus between instances, and the socket loop.

pub mod bus;
pub mod hub;
pub mod socket;
