//! A small WebDriver client over reqwest: just what the browser test needs (sessions, navigate,
//! find, click, type, run a script, cookies, screenshots). WebDriver is JSON over HTTP, so this
//! avoids a second HTTP/TLS stack (fantoccini) in the dev-dependencies.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use serde_json::{Value, json};

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// The Enter key, for `send_keys`.
pub const ENTER: &str = "\u{E007}";
/// The Escape key, for `send_keys`.
pub const ESCAPE: &str = "\u{E00C}";

/// A chromedriver process, killed on drop.
pub struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
    profiles: Vec<PathBuf>,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The first of `candidates` (or `PATH` lookup of `name`) that exists.
fn find_program(env: &str, candidates: &[&str], name: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.exists())
            })
        })
}

impl Driver {
    /// Start chromedriver on a free port and wait until it answers.
    pub async fn start() -> Result<Driver> {
        let exe = find_program(
            "CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
            "chromedriver",
        )
        .ok_or_else(|| {
            anyhow!(
                "chromedriver not found (set CHROMEDRIVER, or install Debian's chromium-driver)"
            )
        })?;
        let port = free_port()?;
        let child = Command::new(&exe)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (install Debian's chromium-driver, or set CHROMEDRIVER)",
                    exe.display()
                )
            })?;
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            profiles: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await;
            if status.is_ok_and(|r| r.status().is_success()) {
                return Ok(driver);
            }
            if Instant::now() > deadline {
                bail!("chromedriver at {} did not become ready", driver.base);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless Chromium with a fresh profile (its own cookie jar: one "device").
    pub async fn session(&mut self) -> Result<Session> {
        let browser = find_program(
            "CHROME_BIN",
            &[
                "/usr/bin/chromium",
                "/usr/bin/chromium-browser",
                "/usr/bin/google-chrome",
            ],
            "chromium",
        )
        .ok_or_else(|| {
            anyhow!("chromium not found (set CHROME_BIN, or install Debian's chromium)")
        })?;
        let n: u64 = rand::random();
        let profile = std::env::temp_dir().join(format!("todo-e2e-profile-{n:016x}"));
        std::fs::create_dir_all(&profile)?;
        self.profiles.push(profile.clone());
        let caps = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": browser,
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                        "--window-size=1280,900",
                        format!("--user-data-dir={}", profile.display()),
                    ]
                },
                "goog:loggingPrefs": {"browser": "ALL"}
            }}
        });
        let resp: Value = self
            .http
            .post(format!("{}/session", self.base))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let id = resp["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("chromedriver refused a session: {resp}"))?;
        Ok(Session {
            http: self.http.clone(),
            url: format!("{}/session/{id}", self.base),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for p in &self.profiles {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// One browser.
pub struct Session {
    http: reqwest::Client,
    url: String,
}

impl Session {
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        } else if method == reqwest::Method::POST {
            req = req.json(&json!({}));
        }
        let resp: Value = req.send().await?.json().await?;
        let value = resp.get("value").cloned().unwrap_or(Value::Null);
        if let Some(err) = value.get("error").and_then(Value::as_str) {
            let msg = value.get("message").and_then(Value::as_str).unwrap_or("");
            let first_line = msg.lines().next().unwrap_or("");
            bail!("webdriver {method} {path}: {err}: {first_line}");
        }
        Ok(value)
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    pub async fn refresh(&self) -> Result<()> {
        self.cmd(reqwest::Method::POST, "/refresh", None)
            .await
            .map(drop)
    }

    async fn find(&self, css: &str) -> Result<String> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await
            .with_context(|| format!("find {css}"))?;
        v[ELEMENT_KEY]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no element reference for {css}: {v}"))
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        let el = self.find(css).await?;
        self.cmd(reqwest::Method::POST, &format!("/element/{el}/click"), None)
            .await
            .with_context(|| format!("click {css}"))
            .map(drop)
    }

    /// Type into an element (as keystrokes: `input` events fire as for a user).
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let el = self.find(css).await?;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .await
        .with_context(|| format!("type into {css}"))
        .map(drop)
    }

    /// Empty an input as a user would (select all, delete), so that its `input` event fires and
    /// the app's state follows (setting `.value` from a script would not tell it).
    pub async fn clear(&self, css: &str) -> Result<()> {
        self.type_into(css, "\u{E009}a\u{E000}\u{E003}").await
    }

    /// Run a script (a function body) and return its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Poll `expr` (a JS expression) until it is truthy; returns its value.
    pub async fn wait_for(&self, what: &str, expr: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let script = format!("try {{ return ({expr}); }} catch (e) {{ return null; }}");
        loop {
            let v = self.js(&script, vec![]).await?;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {what} ({expr})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Run `source` in every page before its own scripts (CDP passthrough).
    pub async fn on_new_document(&self, source: &str) -> Result<()> {
        self.cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({
                "cmd": "Page.addScriptToEvaluateOnNewDocument",
                "params": {"source": source}
            })),
        )
        .await
        .map(drop)
    }

    /// Cut this browser off the network, or reconnect it (Chromium's network emulation through
    /// chromedriver's CDP passthrough). New connections fail; an open WebSocket is not cut by
    /// the emulation, see `drop_sockets`.
    pub async fn set_offline(&self, offline: bool) -> Result<()> {
        self.cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": "Network.enable", "params": {}})),
        )
        .await?;
        self.cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({
                "cmd": "Network.emulateNetworkConditions",
                "params": {"offline": offline, "latency": 0,
                           "downloadThroughput": -1, "uploadThroughput": -1}
            })),
        )
        .await
        .map(drop)
    }

    /// Emulate a phone-sized viewport (`Some((width, height))`, touch, as a mobile device), or
    /// go back to the window's own size (`None`). Chromium will not make a desktop window as
    /// narrow as a phone, so this goes through CDP's device metrics.
    pub async fn emulate_viewport(&self, size: Option<(u32, u32)>) -> Result<()> {
        let (cmd, params) = match size {
            Some((width, height)) => (
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true}),
            ),
            None => ("Emulation.clearDeviceMetricsOverride", json!({})),
        };
        self.cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
        .await?;
        self.cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": "Emulation.setTouchEmulationEnabled",
                        "params": {"enabled": size.is_some(), "maxTouchPoints": 5}})),
        )
        .await
        .map(drop)
    }

    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await
        .map(drop)
    }

    pub async fn cookies(&self) -> Result<Vec<Value>> {
        let v = self.cmd(reqwest::Method::GET, "/cookie", None).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    pub async fn delete_cookie(&self, name: &str) -> Result<()> {
        self.cmd(reqwest::Method::DELETE, &format!("/cookie/{name}"), None)
            .await
            .map(drop)
    }

    /// The browser console, for a failure report.
    pub async fn console(&self) -> String {
        // Chromium's legacy log endpoint; not every driver has it, so errors are ignored.
        let url = format!("{}/se/log", self.url);
        let resp = self
            .http
            .post(url)
            .json(&json!({"type": "browser"}))
            .send()
            .await;
        match resp {
            Ok(r) => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["value"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e["message"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(_) => String::new(),
        }
    }

    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await?;
        let b64 = v.as_str().ok_or_else(|| anyhow!("no screenshot data"))?;
        let png = base64::engine::general_purpose::STANDARD.decode(b64)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    pub async fn quit(&self) {
        let _ = self.cmd(reqwest::Method::DELETE, "", None).await;
    }
}
