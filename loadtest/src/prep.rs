//! Targets and users: checks the URLs the tool was given (loopback only unless told
//! otherwise), and prepares users through the public API — register, or log in when the email
//! is already taken — keeping each user's access JWT for the `Authorization: Bearer` header of
//! its sockets. Nothing here bypasses the server's own auth.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use protocol::{ACCESS_COOKIE, ErrorBody, ErrorCode, LoginRequest, RegisterRequest};
use reqwest::{StatusCode, Url};

use crate::stats::Stats;

/// One server instance to load: its REST base and its socket URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub base: Url,
    pub ws: Url,
}

impl Target {
    /// Parse `http://HOST:PORT` (a path is ignored) into the REST base and `ws://HOST:PORT/ws`.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let base = Url::parse(raw.trim()).with_context(|| format!("bad --url {raw:?}"))?;
        let ws_scheme = match base.scheme() {
            "http" => "ws",
            "https" => "wss",
            other => anyhow::bail!("--url {raw:?}: scheme {other:?} is not http or https"),
        };
        if base.host_str().is_none() {
            anyhow::bail!("--url {raw:?} has no host");
        }
        let mut ws = base.clone();
        ws.set_path("/ws");
        ws.set_query(None);
        // set_scheme refuses only special↔non-special switches; http→ws is allowed.
        ws.set_scheme(ws_scheme)
            .map_err(|()| anyhow::anyhow!("cannot turn {raw:?} into a ws:// URL"))?;
        if ws_scheme == "wss" {
            // The tool is built without TLS (loopback only); say so instead of failing later.
            anyhow::bail!(
                "--url {raw:?}: https is not supported (test the server directly, not through a TLS proxy)"
            );
        }
        Ok(Self { base, ws })
    }

    /// The socket URL as the WebSocket client takes it.
    pub fn ws_uri(&self) -> anyhow::Result<tokio_tungstenite::tungstenite::http::Uri> {
        self.ws
            .as_str()
            .parse()
            .with_context(|| format!("bad socket URL {}", self.ws))
    }

    /// The address sockets connect to (an IPv4 one when the name has both).
    pub async fn socket_addr(&self) -> anyhow::Result<SocketAddr> {
        let host = self.base.host_str().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let port = self.base.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .with_context(|| format!("cannot resolve {host}"))?
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .with_context(|| format!("{host} resolves to no address"))
    }

    /// Refuse a host that is not a loopback address (names are resolved first).
    pub async fn ensure_loopback(&self) -> anyhow::Result<()> {
        let host = self.base.host_str().unwrap_or_default();
        let port = self.base.port_or_known_default().unwrap_or(80);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<IpAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .with_context(|| format!("cannot resolve {host}"))?
                .map(|a| a.ip())
                .collect(),
        };
        if addrs.is_empty() || addrs.iter().any(|ip| !ip.is_loopback()) {
            anyhow::bail!(
                "{} is not a loopback address ({addrs:?}); this tool only loads servers on this machine unless --allow-non-loopback is given",
                self.base
            );
        }
        Ok(())
    }
}

/// A prepared user: the bearer token its two tabs present.
#[derive(Debug, Clone)]
pub struct UserCred {
    pub index: usize,
    pub token: String,
}

/// The email of load-test user `index`.
pub fn email(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index}@example.com")
}

/// The HTTP client for preparing users, logins and verification.
pub fn http_client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(concurrency)
        .build()
        .context("building the HTTP client")
}

/// Register (or log in) `count` users, `concurrency` requests at a time, spread round-robin
/// over the targets. A user that cannot be prepared is `None` and its failure is counted.
pub async fn prepare_users(
    targets: &[Target],
    count: usize,
    concurrency: usize,
    prefix: &str,
    password: &str,
    stats: &Arc<Stats>,
    on_progress: impl Fn(usize),
) -> anyhow::Result<Vec<Option<UserCred>>> {
    let client = http_client(concurrency)?;
    let mut out: Vec<Option<UserCred>> = vec![None; count];
    let mut done = 0usize;
    let mut results = futures_util::stream::iter(0..count)
        .map(|i| {
            let client = client.clone();
            let target = &targets[i % targets.len()];
            let email = email(prefix, i);
            async move { (i, sign_in(&client, target, &email, password, Some(i)).await) }
        })
        .buffer_unordered(concurrency);
    while let Some((i, res)) = results.next().await {
        match res {
            Ok(token) => out[i] = Some(UserCred { index: i, token }),
            Err(kind) => stats.error(format!("prepare:{kind}")),
        }
        done += 1;
        on_progress(done);
    }
    Ok(out)
}

/// How many times a 429 is waited out before the user counts as failed.
const MAX_RATE_LIMITED_RETRIES: usize = 5;

/// The access token of a user: registered first when `register_as` (the user's number, for
/// its name) is given, falling back to a login when the email is taken; logged in only
/// otherwise. A 429 is waited out (per `Retry-After`) a few times. The error is a short kind.
pub async fn sign_in(
    client: &reqwest::Client,
    target: &Target,
    email: &str,
    password: &str,
    register_as: Option<usize>,
) -> Result<String, String> {
    let register = RegisterRequest {
        email: Some(email.to_string()),
        password: Some(password.to_string()),
        name: register_as.map(|i| format!("Load test {i}")),
    };
    let login = LoginRequest {
        email: Some(email.to_string()),
        password: Some(password.to_string()),
    };
    let mut path = if register_as.is_some() {
        "api/auth/register"
    } else {
        "api/auth/login"
    };
    for _ in 0..=MAX_RATE_LIMITED_RETRIES {
        let url = target.base.join(path).map_err(|e| format!("url:{e}"))?;
        let req = if path.ends_with("register") {
            client.post(url).json(&register)
        } else {
            client.post(url).json(&login)
        };
        let resp = req.send().await.map_err(request_error)?;
        let status = resp.status();
        if status.is_success() {
            return access_cookie(&resp).ok_or_else(|| "no_access_cookie".to_string());
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1)
                .clamp(1, 10);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        let code = resp.json::<ErrorBody>().await.ok().map(|b| b.error.code);
        match code {
            Some(ErrorCode::EmailTaken) if path.ends_with("register") => {
                path = "api/auth/login";
            }
            Some(code) => return Err(format!("http_{}_{code}", status.as_u16())),
            None => return Err(format!("http_{}", status.as_u16())),
        }
    }
    Err("http_429_rate_limited".to_string())
}

/// A short name for a request that got no answer, usable as an error kind.
pub fn request_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout"
    } else {
        "http_request_failed"
    }
    .to_string()
}

/// `POST /api/auth/logout` with the bearer token: 204 expected.
pub async fn logout(client: &reqwest::Client, target: &Target, token: &str) -> Result<(), String> {
    let url = target
        .base
        .join("api/auth/logout")
        .map_err(|e| format!("url:{e}"))?;
    let resp = client
        .post(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(request_error)?;
    match resp.status() {
        StatusCode::NO_CONTENT => Ok(()),
        s => Err(format!("http_{}", s.as_u16())),
    }
}

/// The value of the `access_token` cookie the server set.
fn access_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.trim() == ACCESS_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() -> anyhow::Result<()> {
        let t = Target::parse("http://127.0.0.1:8080")?;
        assert_eq!(t.ws.as_str(), "ws://127.0.0.1:8080/ws");
        assert_eq!(
            t.base.join("api/auth/login")?.as_str(),
            "http://127.0.0.1:8080/api/auth/login"
        );
        assert!(Target::parse("ftp://127.0.0.1").is_err());
        assert!(Target::parse("https://127.0.0.1").is_err());
        Ok(())
    }

    #[tokio::test]
    async fn only_loopback_is_accepted() -> anyhow::Result<()> {
        Target::parse("http://127.0.0.1:1")?
            .ensure_loopback()
            .await?;
        Target::parse("http://[::1]:1")?.ensure_loopback().await?;
        Target::parse("http://localhost:1")?
            .ensure_loopback()
            .await?;
        assert!(
            Target::parse("http://10.1.2.3:80")?
                .ensure_loopback()
                .await
                .is_err()
        );
        Ok(())
    }
}
