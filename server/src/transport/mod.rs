//! The transports, side by side: [`http`] (every REST route, the static web client and the
//! WebSocket upgrade, from one route table) and [`socket`] (one task per open WebSocket).
//! Both parse what arrives, call a service with the authenticated caller, and answer in the
//! contract's shapes ([`reply`]). No rule lives here.

pub mod http;
pub mod reply;
pub mod request;
pub mod socket;
