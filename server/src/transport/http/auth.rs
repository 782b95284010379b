//! `/api/auth/*`: register, login, verify, refresh, logout (the devices are in `sessions`).

use http::StatusCode;
use http::header::{HeaderValue, SET_COOKIE};
use protocol::{
    Email, ErrorCode, LoginRequest, Password, REFRESH_COOKIE, RegisterRequest, SessionResponse,
    UserResponse, missing, parse_name,
};
use warp::reply::Response;

use super::cookies::{self, CookiePolicy};
use super::guard;
use crate::error::{Error, Result};
use crate::service::auth::{Device, Issued, Login, Refreshed};
use crate::state::AppState;
use crate::transport::reply::{error_response, json, no_content, parse_json, rate_limited};
use crate::transport::request::{Caller, Request};

fn limit_ip(state: &AppState, req: &Request) -> Option<Response> {
    state.auth.check_ip(req.client_ip).err().map(|wait| {
        rate_limited(
            wait.secs(),
            "too many attempts from this address; try again later",
        )
    })
}

/// What the sessions list will show about this login.
fn device(req: &Request) -> (Option<String>, String) {
    let agent = req
        .header(http::header::USER_AGENT)
        .map(|ua| ua.chars().take(256).collect());
    (agent, req.client_ip.to_string())
}

fn with_session_cookies(state: &AppState, mut resp: Response, issued: &Issued) -> Response {
    let cookies = CookiePolicy::new(&state.config);
    for c in [
        cookies.access(&issued.access_token),
        cookies.refresh(&issued.refresh_token),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
    resp
}

pub(super) fn with_cleared_cookies(state: &AppState, mut resp: Response) -> Response {
    for c in CookiePolicy::new(&state.config).cleared() {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
    resp
}

pub async fn register(state: &AppState, req: Request) -> Result<Response> {
    if let Some(r) = limit_ip(state, &req) {
        return Ok(r);
    }
    let body: RegisterRequest = parse_json(&req.body)?;
    let email = Email::parse(body.email.as_deref().ok_or_else(|| missing("email"))?)?;
    let password = Password::parse(
        body.password
            .as_deref()
            .ok_or_else(|| missing("password"))?,
    )?;
    let name = parse_name(body.name.as_deref())?;
    let (agent, ip) = device(&req);
    let device = Device {
        user_agent: agent.as_deref(),
        ip: Some(&ip),
    };
    let issued = state.auth.register(email, password, name, &device).await?;
    let resp = json(
        StatusCode::CREATED,
        &UserResponse {
            user: issued.user.clone(),
        },
    );
    Ok(with_session_cookies(state, resp, &issued))
}

pub async fn login(state: &AppState, req: Request) -> Result<Response> {
    if let Some(r) = limit_ip(state, &req) {
        return Ok(r);
    }
    let body: LoginRequest = parse_json(&req.body)?;
    let raw_email = body.email.as_deref().ok_or_else(|| missing("email"))?;
    let password = body
        .password
        .as_deref()
        .ok_or_else(|| missing("password"))?;
    let (agent, ip) = device(&req);
    let device = Device {
        user_agent: agent.as_deref(),
        ip: Some(&ip),
    };
    match state.auth.login(raw_email, password, &device).await? {
        Login::Issued(issued) => {
            let resp = json(
                StatusCode::OK,
                &UserResponse {
                    user: issued.user.clone(),
                },
            );
            Ok(with_session_cookies(state, resp, &issued))
        }
        Login::Invalid => Err(Error::api(
            ErrorCode::InvalidCredentials,
            "the email or password is wrong",
        )),
        Login::Locked(wait) => Ok(rate_limited(
            wait.secs(),
            "too many failed logins for this account; try again later",
        )),
    }
}

pub async fn verify(state: &AppState, who: Caller, _req: Request) -> Result<Response> {
    let user = state.auth.user(who.user_id).await?;
    Ok(json(
        StatusCode::OK,
        &SessionResponse {
            user,
            expires_at: who.expires_at,
        },
    ))
}

pub async fn refresh(state: &AppState, req: Request) -> Result<Response> {
    if let Some(r) = limit_ip(state, &req) {
        return Ok(r);
    }
    let token = req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| cookies::read(c, REFRESH_COOKIE))
        .map(str::to_owned);
    let Some(token) = token else {
        return Err(Error::api(ErrorCode::Unauthenticated, "no refresh token"));
    };
    match state.auth.refresh(&token).await? {
        Refreshed::Issued(issued) => {
            let resp = json(
                StatusCode::OK,
                &SessionResponse {
                    user: issued.user.clone(),
                    expires_at: issued.access_expires_at,
                },
            );
            Ok(with_session_cookies(state, resp, &issued))
        }
        Refreshed::Refused => Ok(with_cleared_cookies(
            state,
            error_response(&Error::api(
                ErrorCode::Unauthenticated,
                "the refresh token is invalid or expired",
            )),
        )),
        Refreshed::Reused => Ok(with_cleared_cookies(
            state,
            error_response(&Error::api(
                ErrorCode::Unauthenticated,
                "this refresh token was already used; the session has been ended",
            )),
        )),
    }
}

/// Revokes the caller's session at once (REST and sockets, every instance). Without a valid
/// access token the answer is 401, and the cookies are cleared either way.
pub async fn logout(state: &AppState, req: Request) -> Result<Response> {
    let ended = match guard::access_token(&req.headers) {
        Some(token) => state.auth.logout(token).await,
        None => Err(Error::unauthenticated()),
    };
    Ok(with_cleared_cookies(
        state,
        match ended {
            Ok(_) => no_content(),
            Err(e) => error_response(&e),
        },
    ))
}
