//! What every request passes: the Origin allowlist, CORS, the security headers, and reading
//! the caller's credentials (cookie or bearer).

use http::Method;
use http::header::{self, HeaderMap, HeaderValue};
use protocol::{ACCESS_COOKIE, ErrorCode};
use warp::reply::Response;

use super::cookies;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::transport::request::Caller;

/// Whether a request's `Origin` is checked: an unsafe method, a CORS preflight, or the socket
/// upgrade (`socket`).
pub fn origin_checked(method: &Method, socket: bool) -> bool {
    !matches!(*method, Method::GET | Method::HEAD) || socket
}

/// `403 forbidden_origin` for an unsafe method or the socket upgrade (`socket`) whose `Origin`
/// is present and not allowed. Requests without `Origin` (curl, websocat) pass.
pub fn check_origin(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    socket: bool,
) -> Result<()> {
    if !origin_checked(method, socket) {
        return Ok(());
    }
    match headers.get(header::ORIGIN) {
        None => Ok(()),
        Some(o) if o.to_str().is_ok_and(|o| state.origin_allowed(o)) => Ok(()),
        Some(_) => Err(Error::api(
            ErrorCode::ForbiddenOrigin,
            "this origin is not allowed",
        )),
    }
}

/// Answers a CORS preflight from an allowed origin (the origin check already refused others).
pub fn preflight(state: &AppState, headers: &HeaderMap) -> Response {
    let mut resp = crate::transport::reply::no_content();
    let allowed = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| state.origin_allowed(o));
    if allowed.is_some() {
        let h = resp.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PATCH, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, authorization"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    resp
}

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
/// The web client needs its own scripts, WebAssembly compilation, its stylesheet, and the
/// socket/REST calls to this origin. Nothing inline, nothing from elsewhere.
const APP_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; object-src 'none'; \
                       frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Adds CORS (for allowed origins) and security headers to every response; `is_app` for the
/// web client's files (their CSP lets the app run).
pub fn finish(state: &AppState, resp: &mut Response, origin: Option<&str>, is_app: bool) {
    let h = resp.headers_mut();
    if let Some(o) = origin.filter(|o| state.origin_allowed(o))
        && let Ok(v) = HeaderValue::from_str(o)
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after"),
        );
    }
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if is_app { APP_CSP } else { API_CSP }),
    );
    if !is_app && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The access token from `Authorization: Bearer …` or the `access_token` cookie.
pub fn access_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = v.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| cookies::read(c, ACCESS_COOKIE))
}

/// The authenticated caller, or 401. Only the route table's dispatch calls this.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller> {
    let token = access_token(headers).ok_or_else(Error::unauthenticated)?;
    let who = state.auth.authenticate(token).await?;
    tracing::Span::current().record("user_id", who.user_id);
    Ok(who)
}
