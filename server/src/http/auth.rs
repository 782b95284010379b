//! `/api/auth/*`: register, login, verify, refresh, logout.

use http::StatusCode;
use http::header::{HeaderValue, SET_COOKIE};
use protocol::{
    Email, ErrorCode, LoginRequest, Password, REFRESH_COOKIE, RegisterRequest, SessionResponse,
    UserResponse, missing, parse_name,
};
use warp::reply::Response;

use super::Request;
use super::guard::authenticate;
use super::reply::{error_response, json, no_content, parse_json, rate_limited};
use crate::app::AppState;
use crate::auth::{Issued, Refreshed, cookies};
use crate::error::{Error, Result};
use crate::metrics::metrics;

fn limit_ip(state: &AppState, req: &Request) -> Option<Response> {
    state.limits.check_ip(req.client_ip).err().map(|wait| {
        rate_limited(
            wait.secs(),
            "too many attempts from this address; try again later",
        )
    })
}

fn with_session_cookies(state: &AppState, mut resp: Response, issued: &Issued) -> Response {
    for c in [
        state.cookies.access(&issued.access_token),
        state.cookies.refresh(&issued.refresh_token),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
    resp
}

fn with_cleared_cookies(state: &AppState, mut resp: Response) -> Response {
    for c in state.cookies.cleared() {
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
    let issued = state.auth.register(email, password, name).await?;
    tracing::info!(user_id = issued.user.id, "registered");
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
    let invalid = || {
        Error::api(
            ErrorCode::InvalidCredentials,
            "the email or password is wrong",
        )
    };
    // A malformed email cannot name an account: the same answer as a wrong password.
    let Ok(email) = Email::parse(raw_email) else {
        metrics().logins.with_label_values(&["failure"]).inc();
        return Err(invalid());
    };
    if let Err(wait) = state.limits.check_account(email.as_str()) {
        metrics().logins.with_label_values(&["locked"]).inc();
        return Ok(rate_limited(
            wait.secs(),
            "too many failed logins for this account; try again later",
        ));
    }
    match state.auth.login(&email, password).await? {
        Some(issued) => {
            metrics().logins.with_label_values(&["success"]).inc();
            tracing::info!(user_id = issued.user.id, "logged in");
            let resp = json(
                StatusCode::OK,
                &UserResponse {
                    user: issued.user.clone(),
                },
            );
            Ok(with_session_cookies(state, resp, &issued))
        }
        None => {
            metrics().logins.with_label_values(&["failure"]).inc();
            state.limits.record_failure(email.as_str());
            Err(invalid())
        }
    }
}

pub async fn verify(state: &AppState, req: Request) -> Result<Response> {
    let who = authenticate(state, &req.headers).await?;
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
        Refreshed::Reused {
            user_id,
            session_id,
        } => {
            state.bus.session_revoked(user_id, session_id).await;
            Ok(with_cleared_cookies(
                state,
                error_response(&Error::api(
                    ErrorCode::Unauthenticated,
                    "this refresh token was already used; the session has been ended",
                )),
            ))
        }
    }
}

/// Revokes the caller's session at once (REST and sockets, every instance). Without a valid
/// access token the answer is 401, and the cookies are cleared either way.
pub async fn logout(state: &AppState, req: Request) -> Result<Response> {
    let who = match authenticate(state, &req.headers).await {
        Ok(who) => who,
        Err(e) => return Ok(with_cleared_cookies(state, error_response(&e))),
    };
    state.auth.logout(who.session_id).await?;
    state.bus.session_revoked(who.user_id, who.session_id).await;
    tracing::info!(session_id = who.session_id, "logged out");
    Ok(with_cleared_cookies(state, no_content()))
}
