//! What error answers must be: the contract's shape, nothing internal in it, and for bad input
//! a 422 that names the field.

use reqwest::StatusCode;

use super::http::Resp;

/// `422 validation_failed` whose message starts with the field's name.
pub fn assert_422(r: &Resp, field: &str) {
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{field}: {:?}",
        r.body
    );
    assert_eq!(r.code(), "validation_failed");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.starts_with(field), "the message names {field}: {msg}");
}

/// Fails unless an error answer has the contract's shape and carries nothing internal: SQL,
/// driver names, panics, source or file paths. (Success bodies echo the caller's own input, so
/// only errors are searched.)
pub fn assert_clean_error(r: &Resp) {
    if r.status.is_success() {
        return;
    }
    let text = r.body.to_string();
    assert!(
        r.body["error"]["code"].is_string() && r.body["error"]["message"].is_string(),
        "error shape: {text}"
    );
    for needle in [
        "sqlx",
        "SELECT",
        "INSERT",
        "UPDATE ",
        "panicked",
        "/home/",
        "/work/",
        "/tmp/",
        "src/",
        ".rs:",
        "backtrace",
    ] {
        assert!(!text.contains(needle), "body leaks {needle:?}: {text}");
    }
}

/// Bad input: never a 5xx, and a clean error.
pub fn assert_no_leak(r: &Resp) {
    assert!(
        r.status.as_u16() < 500,
        "a 5xx for bad input: {} {:?}",
        r.status,
        r.body
    );
    assert_clean_error(r);
}
