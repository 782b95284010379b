//! Building responses: JSON bodies, the contract's error body, parsing JSON request bodies.

use bytes::Bytes;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use protocol::{ErrorBody, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use warp::reply::{Reply, Response};

use crate::error::Error;

/// A JSON answer with this status.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => with_type(status, bytes, "application/json"),
        Err(e) => error_response(&Error::Internal(e.into())),
    }
}

/// Bytes with a content type.
pub fn with_type(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response {
    let mut resp = Response::new(body.into().into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The contract's error body, with `Retry-After` for rate limits when given.
pub fn error_response(e: &Error) -> Response {
    let api = e.to_api();
    let status =
        StatusCode::from_u16(api.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, &ErrorBody { error: api })
}

/// 429 with `Retry-After` in whole seconds.
pub fn rate_limited(retry_after_secs: u64, message: &str) -> Response {
    let mut resp = error_response(&Error::api(ErrorCode::RateLimited, message));
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        resp.headers_mut().insert(RETRY_AFTER, v);
    }
    resp
}

/// Parses a JSON object body. Not JSON, not an object, or a field of the wrong type: 400.
/// (Missing required fields are the handler's 422, since request types keep them optional.)
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request("a JSON object body is required"));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::bad_request("the body must be a JSON object"));
    }
    serde_json::from_value(value)
        .map_err(|e| Error::bad_request(format!("the body has a field of the wrong type: {e}")))
}
