//! The HTTP side: one warp filter takes every request, and plain Rust routes it.
//!
//! Why not a tree of warp filters: warp's rejections merge in ways that make exact status codes
//! hard (a path that matched another method becomes a 405, a body error a 400 with warp's own
//! text), and the contract fixes every status and body. Here warp does the serving, the
//! upgrade plumbing and the body stream; [`handle`] applies, in this order and for every
//! request: the origin check, CORS, the route, the body limit, the handler, the security
//! headers, the log line and the metrics. [`routes::ROUTES`] is the single table of routes:
//! resolution, `405`, authentication, metric names and the OpenAPI paths all come from it.

pub mod auth;
pub mod conversations;
pub mod cookies;
pub mod guard;
pub mod openapi;
pub mod ops;
pub mod routes;
pub mod sessions;
pub mod static_files;
pub mod todos;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header::{ALLOW, HeaderValue};
use http::{HeaderMap, Method};
use protocol::ErrorCode;
use tracing::Instrument;
use warp::Filter;
use warp::hyper::upgrade::OnUpgrade;
use warp::reply::Response;

use crate::error::Error;
use crate::state::AppState;
use crate::transport::reply::error_response;
use crate::transport::request::Request;
use routes::Resolved;

/// The one filter that serves everything.
pub fn filter(state: AppState) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::ext::optional::<OnUpgrade>())
        .and(warp::body::stream())
        .then(
            move |method,
                  path: warp::path::FullPath,
                  query,
                  headers,
                  remote: Option<SocketAddr>,
                  upgrade,
                  body| {
                let state = state.clone();
                async move {
                    let client_ip = remote.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
                    let head = Head {
                        method,
                        path: path.as_str().to_owned(),
                        query,
                        headers,
                        client_ip,
                        upgrade,
                    };
                    handle(state, head, body).await
                }
            },
        )
        // The extractors above cannot fail for a request hyper delivered; should one ever
        // reject, answer in the contract's shape rather than with warp's text.
        .recover(|_: warp::Rejection| async {
            Ok::<_, Infallible>(error_response(&Error::bad_request(
                "the request could not be read",
            )))
        })
        .unify()
}

struct Head {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    client_ip: IpAddr,
    upgrade: Option<OnUpgrade>,
}

async fn handle<S, B>(state: AppState, head: Head, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Unpin,
    B: Buf,
{
    let started = Instant::now();
    let resolved = routes::resolve(&head.method, &head.path);
    let route = match &resolved {
        Resolved::Found(route, _) => Some(*route),
        _ => None,
    };
    let name = route.map_or("unknown", |r| r.name);
    let span = tracing::info_span!(
        "http",
        method = %head.method,
        path = %head.path,
        route = name,
        user_id = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    async move {
        let origin = head
            .headers
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut resp = respond(&state, head, resolved, body).await;
        let is_app = route.is_some_and(routes::Route::is_web_client);
        guard::finish(&state, &mut resp, origin.as_deref(), is_app);
        let status = resp.status().as_u16();
        tracing::Span::current().record("status", status);
        let elapsed = started.elapsed();
        let method = route.map_or("-", |r| r.method.as_str());
        crate::metrics::metrics()
            .http_requests
            .with_label_values(&[name, method, &status.to_string()])
            .inc();
        crate::metrics::metrics()
            .http_latency
            .with_label_values(&[name])
            .observe(elapsed.as_secs_f64());
        if status >= 500 {
            tracing::warn!(
                status,
                latency_ms = elapsed.as_secs_f64() * 1e3,
                "request failed"
            );
        } else {
            tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1e3, "request");
        }
        resp
    }
    .instrument(span)
    .await
}

async fn respond<S, B>(state: &AppState, head: Head, resolved: Resolved, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Unpin,
    B: Buf,
{
    let route = match &resolved {
        Resolved::Found(route, _) => Some(*route),
        _ => None,
    };
    // Cross-site protection comes before anything else happens.
    let socket = route.is_some_and(routes::Route::is_socket);
    if let Err(e) = guard::check_origin(state, &head.method, &head.headers, socket) {
        return error_response(&e);
    }
    if head.method == Method::OPTIONS {
        return guard::preflight(state, &head.headers);
    }
    let (route, id) = match resolved {
        Resolved::Found(route, id) => (route, id),
        Resolved::NotFound => return error_response(&routes::not_found(&head.method, &head.path)),
        Resolved::MethodNotAllowed(allow) => {
            let mut resp = error_response(&Error::api(
                ErrorCode::MethodNotAllowed,
                format!(
                    "{} is not served at {}; use {allow}",
                    head.method, head.path
                ),
            ));
            if let Ok(v) = HeaderValue::from_str(&allow) {
                resp.headers_mut().insert(ALLOW, v);
            }
            return resp;
        }
    };
    let body = match read_body(&head.headers, body, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let req = Request {
        method: head.method,
        path: head.path,
        query: head.query,
        headers: head.headers,
        body,
        client_ip: head.client_ip,
        id,
        upgrade: head.upgrade,
    };
    match routes::dispatch(state, route, req).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

/// Reads the body, refusing (413) as soon as it passes `limit`, by header or by count.
async fn read_body<S, B>(headers: &HeaderMap, mut body: S, limit: usize) -> Result<Bytes, Error>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Unpin,
    B: Buf,
{
    let too_large = || {
        Error::api(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let mut chunk =
            chunk.map_err(|e| Error::bad_request(format!("could not read the body: {e}")))?;
        if buf.len() + chunk.remaining() > limit {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            buf.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}
