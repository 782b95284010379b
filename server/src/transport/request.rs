//! What a handler receives: the request, read and bounded ([`Request`]), and — on routes the
//! route table marks as needing a session — the authenticated [`Caller`] as its own argument.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, Method};
use warp::hyper::upgrade::OnUpgrade;

use crate::error::{Error, Result};

/// The caller of a route that needs a session: checked before the handler runs.
pub use crate::service::auth::Authenticated as Caller;

/// A request as the handlers see it: everything read, the body within the limit.
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub client_ip: IpAddr,
    /// The `{id}` of the route's pattern, when it has one.
    pub id: Option<i64>,
    /// The connection's upgrade handle, for `GET /ws`.
    pub upgrade: Option<OnUpgrade>,
}

impl Request {
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `{id}` path segment (resolution only routes here when it is a valid id).
    pub fn id(&self) -> Result<i64> {
        self.id.ok_or_else(|| Error::not_found("route"))
    }
}
