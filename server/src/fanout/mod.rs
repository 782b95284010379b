//! Getting frames to sockets: the [`hub::Hub`] knows this instance's open sockets by user, and
//! the [`bus::Bus`] is the one channel between instances (todo events, chat frames, chat
//! cancels, session revocations), PostgreSQL LISTEN/NOTIFY when several instances share a
//! database. Services publish here; the socket loop (in `transport`) consumes the hub.

pub mod bus;
pub mod hub;
