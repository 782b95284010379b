//! The web client's files from `STATIC_DIR`.
//!
//! `index.html` for `/` and for any path without a file extension (the app routes itself),
//! revalidated on every load (`no-cache`); files whose name carries a content hash
//! (`name-0123456789abcdef.ext`) are cached for a year as immutable. When the client has not
//! been built, a small page says how to build it.

use std::path::{Component, Path, PathBuf};

use http::StatusCode;
use http::header::{CACHE_CONTROL, HeaderValue};
use warp::reply::Response;

use crate::error::Result;
use crate::state::AppState;
use crate::transport::reply::with_type;
use crate::transport::request::Request;

pub async fn serve(state: &AppState, req: Request) -> Result<Response> {
    Ok(file(state, &req).await)
}

async fn file(state: &AppState, req: &Request) -> Response {
    let dir = &state.config.static_dir;
    let Some(rel) = safe_relative(&req.path) else {
        return not_found();
    };
    let wants_page = rel.as_os_str().is_empty() || rel.extension().is_none();
    let file = if wants_page {
        dir.join("index.html")
    } else {
        dir.join(&rel)
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let mut resp = with_type(StatusCode::OK, bytes, mime_for(name));
            let cache = if is_hashed(name) {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            resp.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
            if req.method == http::Method::HEAD {
                *resp.body_mut() = bytes::Bytes::new().into();
            }
            resp
        }
        Err(_) if wants_page => not_built(dir),
        Err(_) => not_found(),
    }
}

fn not_found() -> Response {
    crate::transport::reply::error_response(&crate::error::Error::not_found("file"))
}

/// The request path as a relative path inside the static dir; `None` for any attempt to leave it.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in Path::new(path.trim_start_matches('/')).components() {
        match part {
            Component::Normal(p) => {
                let s = p.to_str()?;
                if s.starts_with('.') || s.contains('\\') || s.contains('%') {
                    return None;
                }
                out.push(p);
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn mime_for(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// `name-<16+ hex>.ext`: content-addressed, safe to cache forever.
fn is_hashed(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("");
    stem.rsplit_once('-')
        .is_some_and(|(_, h)| h.len() >= 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn not_built(dir: &Path) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Todo — client not built</title></head>\
         <body><h1>The web client has not been built</h1>\
         <p>The API and the socket are running. To build the client, run <code>scripts/build-client.sh</code> \
         (or start the server with <code>scripts/run.sh</code>, which builds it when missing), then reload.</p>\
         <p>Looked for <code>{}</code>.</p></body></html>",
        html_escape(&dir.join("index.html").display().to_string())
    );
    let mut resp = with_type(StatusCode::OK, page, "text/html; charset=utf-8");
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_static_dir() {
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
        assert_eq!(
            safe_relative("/app-0123456789abcdef.wasm"),
            Some(PathBuf::from("app-0123456789abcdef.wasm"))
        );
        for bad in [
            "/../etc/passwd",
            "/a/../../b",
            "/.env",
            "/%2e%2e/x",
            "/a\\b",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }

    #[test]
    fn types_and_cache_rules() {
        assert_eq!(mime_for("x_bg.wasm"), "application/wasm");
        assert_eq!(mime_for("index.html"), "text/html; charset=utf-8");
        assert!(is_hashed("client-0123456789abcdef.wasm"));
        assert!(is_hashed("style-0123456789abcdef.css"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("client_bg.wasm"));
    }
}
