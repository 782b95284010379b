//! REST over `fetch`, with the session rules of the contract: cookies only (`credentials:
//! include`, the JWT is never read by this code), and on a 401 one refresh then one retry.
//!
//! Refreshes are single-flight: the refresh token is single use and presenting a rotated one
//! again is treated by the server as theft (the whole session is revoked), so two requests
//! that get a 401 at the same time must share one `POST /api/auth/refresh`, and so must two
//! tabs (they share the cookies): see `refresh_across_tabs`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use protocol::{ApiError, ErrorBody};
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{Request, RequestCredentials, RequestInit, Response};

use crate::state::forms::{describe_failure, parse_retry_after};

/// A failed request. `status` 0 means the server could not be reached.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpError {
    pub status: u16,
    pub error: Option<ApiError>,
    pub retry_after: Option<u32>,
}

impl HttpError {
    fn network(why: &str) -> Self {
        Self {
            status: 0,
            error: Some(ApiError::new(protocol::ErrorCode::Unavailable, why)),
            retry_after: None,
        }
    }

    /// A sentence for the user.
    pub fn describe(&self) -> String {
        describe_failure(self.status, self.error.as_ref())
    }
}

/// Longest `Retry-After` (seconds) a background request waits out by itself before retrying;
/// longer waits are shown to the user instead.
const AUTO_RETRY_MAX_SECS: u32 = 10;

/// What runs when the session is gone for good.
type SessionLostHook = Rc<dyn Fn(String)>;

thread_local! {
    /// The refresh in progress, shared by every request that got a 401 meanwhile.
    static REFRESHING: RefCell<Option<Promise>> = const { RefCell::new(None) };
    /// Called once the session is gone for good (refresh refused): the app shows the login page.
    static SESSION_LOST: RefCell<Option<SessionLostHook>> = const { RefCell::new(None) };
}

/// Register what happens when the session cannot be recovered.
pub fn on_session_lost(f: impl Fn(String) + 'static) {
    SESSION_LOST.with(|s| *s.borrow_mut() = Some(Rc::new(f)));
}

fn session_lost(reason: &str) {
    let hook = SESSION_LOST.with(|s| s.borrow().clone());
    if let Some(hook) = hook {
        hook(reason.to_owned());
    }
}

fn js_err(e: JsValue) -> HttpError {
    HttpError::network(&e.as_string().unwrap_or_else(|| "network error".into()))
}

/// One request, no session handling: `(status, body text, Retry-After)`.
async fn send_once(
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String, Option<u32>), HttpError> {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::Include);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    let request = Request::new_with_str_and_init(path, &init).map_err(js_err)?;
    if body.is_some() {
        request
            .headers()
            .set("Content-Type", "application/json")
            .map_err(js_err)?;
    }
    request
        .headers()
        .set("Accept", "application/json")
        .map_err(js_err)?;
    let window = web_sys::window().ok_or_else(|| HttpError::network("no window"))?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| HttpError::network("Cannot reach the server."))?
        .dyn_into()
        .map_err(js_err)?;
    let retry_after = parse_retry_after(
        response
            .headers()
            .get("Retry-After")
            .ok()
            .flatten()
            .as_deref(),
    );
    let text = match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    Ok((response.status(), text, retry_after))
}

fn failure(status: u16, text: &str, retry_after: Option<u32>) -> HttpError {
    HttpError {
        status,
        error: serde_json::from_str::<ErrorBody>(text)
            .ok()
            .map(|b| b.error),
        retry_after,
    }
}

/// Wait `ms` milliseconds.
pub async fn sleep(ms: u32) {
    let promise = Promise::new(&mut |resolve, _reject| {
        if let Some(w) = web_sys::window() {
            // If scheduling fails the promise never resolves; the caller simply stops there,
            // which is what an unusable window means anyway.
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                &resolve,
                ms.min(i32::MAX as u32) as i32,
            );
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Name of the Web Lock that serializes refreshes across the tabs of this origin.
const REFRESH_LOCK: &str = "todo-auth-refresh";

/// The refresh itself, run while holding the cross-tab lock. When the lock had to be waited for
/// (`waited`), another tab may have refreshed meanwhile: the cookies are shared, so the access
/// cookie is then already new, and refreshing again would present a rotated refresh token (which
/// the server treats as theft and answers by revoking the session) — so it asks `verify` first.
/// A lock taken at once needs no such check, which keeps a logged-out visit to one `verify`.
async fn refresh_now(waited: bool) -> bool {
    if waited
        && matches!(
            send_once("GET", "/api/auth/verify", None).await,
            Ok((200, _, _))
        )
    {
        return true;
    }
    matches!(
        send_once("POST", "/api/auth/refresh", None).await,
        Ok((200, _, _))
    )
}

/// What a lock callback hands back when `ifAvailable` found the lock taken.
const LOCK_BUSY: &str = "busy";

/// `navigator.locks.request(REFRESH_LOCK, options, callback)`; the callback runs `refresh_now`
/// (or answers `LOCK_BUSY` when `ifAvailable` got no lock). `None` when the call failed.
async fn refresh_locked(
    locks: &JsValue,
    request: &js_sys::Function,
    if_available: bool,
) -> Option<JsValue> {
    let options = js_sys::Object::new();
    if if_available {
        js_sys::Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE).ok()?;
    }
    let callback = Closure::once_into_js(move |lock: JsValue| -> Promise {
        if lock.is_null() {
            return Promise::resolve(&JsValue::from_str(LOCK_BUSY));
        }
        future_to_promise(async move { Ok(JsValue::from_bool(refresh_now(!if_available).await)) })
    });
    let promise = js_sys::Reflect::apply(
        request,
        locks,
        &js_sys::Array::of3(&JsValue::from_str(REFRESH_LOCK), &options, &callback),
    )
    .ok()?
    .dyn_into::<Promise>()
    .ok()?;
    JsFuture::from(promise).await.ok()
}

/// `refresh_now` under `navigator.locks` (Web Locks API, secure contexts: HTTPS or localhost):
/// first without waiting, and when another tab holds the lock, after it. Where the API is
/// missing it runs unlocked, which is safe for a single tab.
async fn refresh_across_tabs() -> bool {
    let locks = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &JsValue::from_str("locks")).ok())
        .filter(|l| l.is_object());
    let request = locks.as_ref().and_then(|l| {
        js_sys::Reflect::get(l, &JsValue::from_str("request"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    });
    let (Some(locks), Some(request)) = (locks, request) else {
        return refresh_now(false).await;
    };
    let answer = match refresh_locked(&locks, &request, true).await {
        Some(v) if v.as_string().as_deref() == Some(LOCK_BUSY) => {
            refresh_locked(&locks, &request, false).await
        }
        other => other,
    };
    match answer {
        Some(v) => v.as_bool().unwrap_or(false),
        None => refresh_now(true).await,
    }
}

/// `POST /api/auth/refresh`, shared by concurrent callers. `true` when a new access cookie is set.
pub async fn refresh() -> bool {
    let existing = REFRESHING.with(|r| r.borrow().clone());
    let promise = match existing {
        Some(p) => p,
        None => {
            // Created outside any borrow of REFRESHING: the future clears it when done.
            let p = future_to_promise(async {
                let ok = refresh_across_tabs().await;
                REFRESHING.with(|r| *r.borrow_mut() = None);
                Ok(JsValue::from_bool(ok))
            });
            REFRESHING.with(|r| *r.borrow_mut() = Some(p.clone()));
            p
        }
    };
    JsFuture::from(promise)
        .await
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// A request with the session rules: on 401, one refresh then one retry; if that fails, the
/// session is lost (the login page shows). A short 429 is waited out once.
pub async fn request(method: &str, path: &str, body: Option<&str>) -> Result<String, HttpError> {
    let mut refreshed = false;
    let mut waited = false;
    loop {
        let (status, text, retry_after) = send_once(method, path, body).await?;
        match status {
            200..=299 => return Ok(text),
            401 if !refreshed => {
                refreshed = true;
                if !refresh().await {
                    session_lost("Your session has ended. Please log in again.");
                    return Err(failure(status, &text, retry_after));
                }
            }
            401 => {
                session_lost("Your session has ended. Please log in again.");
                return Err(failure(status, &text, retry_after));
            }
            429 if !waited && retry_after.is_some_and(|s| s <= AUTO_RETRY_MAX_SECS) => {
                waited = true;
                sleep(retry_after.unwrap_or(1) * 1000).await;
            }
            _ => return Err(failure(status, &text, retry_after)),
        }
    }
}

/// A request answered with JSON.
pub async fn json<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<T, HttpError> {
    let text = request(method, path, body).await?;
    serde_json::from_str(&text).map_err(|e| HttpError {
        status: 500,
        error: Some(ApiError::new(
            protocol::ErrorCode::Internal,
            format!("unexpected answer: {e}"),
        )),
        retry_after: None,
    })
}

/// An auth request (login, register, logout): no refresh dance, the caller shows the error.
pub async fn auth<T: DeserializeOwned>(path: &str, body: Option<&str>) -> Result<T, HttpError> {
    let (status, text, retry_after) = send_once("POST", path, body).await?;
    if !(200..=299).contains(&status) {
        return Err(failure(status, &text, retry_after));
    }
    serde_json::from_str(&text).map_err(|_| failure(500, "", None))
}

/// `GET /api/auth/verify`, refreshing once on 401; `None` when there is no usable session.
pub async fn verify() -> Result<Option<protocol::SessionResponse>, HttpError> {
    for attempt in 0..2 {
        let (status, text, retry_after) = send_once("GET", "/api/auth/verify", None).await?;
        match status {
            200 => {
                return serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|_| failure(500, "", None));
            }
            401 if attempt == 0 => {
                if !refresh().await {
                    return Ok(None);
                }
            }
            401 => return Ok(None),
            _ => return Err(failure(status, &text, retry_after)),
        }
    }
    Ok(None)
}

/// `POST /api/auth/logout` (this device) or `/api/auth/logout-all` (every device); the cookies
/// are cleared by the answer. A 401 means the session was already gone: logged out all the same.
pub async fn logout(everywhere: bool) -> Result<(), HttpError> {
    let path = if everywhere {
        "/api/auth/logout-all"
    } else {
        "/api/auth/logout"
    };
    let (status, text, retry_after) = send_once("POST", path, None).await?;
    match status {
        200..=299 | 401 => Ok(()),
        _ => Err(failure(status, &text, retry_after)),
    }
}
