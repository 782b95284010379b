//! End to end in a real headless Chromium: the real server (`App::spawn`, SQLite, the offline
//! assistant) serving the real built client from `client/dist`, driven over WebDriver.
//!
//! register → add a todo → a second browser (another profile: another device) sees it without
//! a reload; edits, completions and deletes cross between the two → the first one loses its connection, and on reconnect gets what it missed and sends
//! what was typed meanwhile → the chat adds "buy milk" through the offline assistant and both
//! browsers show it → the access cookie is deleted (a forced 401) and the app refreshes
//! silently → logout returns to the login page. Screenshots of every step land in
//! `target/e2e/`.
//!
//! It needs a built client and Chromium, so it runs only when `E2E=1` is set (as
//! `scripts/test.sh` does); a plain `cargo test` skips it with a note:
//!
//! ```text
//! scripts/build-client.sh && E2E=1 cargo test -p server --test browser
//! ```
//!
//! With `E2E=1`, a client that is not built or a missing chromedriver/chromium fails the test
//! with a message saying what to install: it never passes without having run.

/// The API suite's fake OpenAI-compatible server (the real streaming format), for answers that
/// are slow enough to stop, or that fail.
#[path = "api/fake_openai.rs"]
mod fake_openai;
#[path = "browser/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use server::app::App;
use server::config::{AgentKind, Config};
use webdriver::{Driver, ENTER, ESCAPE, Session};

const WAIT: Duration = Duration::from_secs(15);
const PASSWORD: &str = "correct horse battery";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("e2e")
}

/// Both browsers' screenshots for one step.
async fn shot(step: &str, sessions: &[(&str, &Session)]) {
    for (who, s) in sessions {
        let path = screenshot_dir().join(format!("{step}-{who}.png"));
        if let Err(e) = s.screenshot(&path).await {
            eprintln!("screenshot {} failed: {e:#}", path.display());
        }
    }
}

/// JS: the titles of the todo rows that are confirmed (not pending), lower-cased.
const CONFIRMED_TITLES: &str = "Array.from(document.querySelectorAll('#todo-list li.todo:not(.pending) .title')).map(e => e.textContent.trim().toLowerCase())";

fn has_todo(title: &str) -> String {
    format!(
        "{CONFIRMED_TITLES}.includes({})",
        Value::String(title.to_lowercase())
    )
}

/// The id of the confirmed row with this title.
async fn row_id(s: &Session, title: &str) -> Result<i64> {
    let script = format!(
        "const li = Array.from(document.querySelectorAll('#todo-list li.todo:not(.pending)')).find(li => li.querySelector('.title')?.textContent.trim() === {}); return li ? Number(li.dataset.id) : null;",
        Value::String(title.into())
    );
    s.js(&script, vec![])
        .await?
        .as_i64()
        .with_context(|| format!("no row titled {title:?}"))
}

async fn login_page(s: &Session) -> Result<()> {
    s.wait_for(
        "the login form",
        "document.querySelector('#auth-form')",
        WAIT,
    )
    .await
    .map(drop)
}

async fn connected(s: &Session) -> Result<()> {
    s.wait_for(
        "the socket to connect",
        "document.querySelector('#conn-status')?.dataset.status === 'connected'",
        WAIT,
    )
    .await
    .map(drop)
}

async fn has_access_cookie(s: &Session) -> Result<bool> {
    Ok(s.cookies()
        .await?
        .iter()
        .any(|c| c["name"] == protocol::ACCESS_COOKIE))
}

/// Whether to run: `E2E=1`. Otherwise say why nothing ran (visible with `--nocapture`).
fn e2e_enabled() -> bool {
    let on = std::env::var("E2E").is_ok_and(|v| v == "1");
    if !on {
        eprintln!(
            "skipped: the browser tests run with E2E=1 \
             (after scripts/build-client.sh; needs chromium and chromium-driver)"
        );
    }
    on
}

/// A test configuration serving the built client (fails clearly when it is not built).
fn config_with_client() -> Config {
    let dist = workspace_root().join("client/dist");
    assert!(
        dist.join("index.html").exists(),
        "the web client is not built: {} is missing. Run scripts/build-client.sh first.",
        dist.join("index.html").display()
    );
    let db_dir = std::env::temp_dir().join("todo-server-tests");
    std::fs::create_dir_all(&db_dir).expect("temp dir");
    let n: u64 = rand::random();
    let mut config = Config::for_tests(&format!(
        "sqlite://{}/e2e-{n:016x}.db?mode=rwc",
        db_dir.display()
    ));
    config.static_dir = dist;
    config
}

/// This test's screenshots only: `target/e2e/<prefix>*.png` from earlier runs go.
fn clear_screenshots(prefixes: &[&str]) {
    if let Ok(entries) = std::fs::read_dir(screenshot_dir()) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if prefixes.iter().any(|p| name.starts_with(p)) && name.ends_with(".png") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

async fn register(s: &Session, url: &str, email: &str) -> Result<()> {
    s.goto(url).await?;
    login_page(s).await?;
    s.click("#switch-auth").await?;
    s.wait_for("the register form", "document.querySelector('#name')", WAIT)
        .await?;
    s.type_into("#email", email).await?;
    s.type_into("#password", PASSWORD).await?;
    s.click("#auth-submit").await?;
    connected(s).await.context("after registering")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_live_todos_chat_refresh_logout() {
    if !e2e_enabled() {
        return;
    }
    let config = config_with_client();
    let app = App::spawn(config).await.expect("server starts");
    clear_screenshots(&["0", "1", "failed"]);
    let mut driver = match Driver::start().await {
        Ok(d) => d,
        Err(e) => panic!("{e:#}"),
    };
    let a = driver.session().await.expect("first browser");
    let b = driver.session().await.expect("second browser");

    let result = run(&app.url(), &a, &b).await;
    if let Err(e) = &result {
        shot("failed", &[("a", &a), ("b", &b)]).await;
        eprintln!("browser a console:\n{}", a.console().await);
        eprintln!("browser b console:\n{}", b.console().await);
        eprintln!("screenshots in {}", screenshot_dir().display());
        a.quit().await;
        b.quit().await;
        panic!("{e:#}");
    }
    a.quit().await;
    b.quit().await;
}

/// Keeps every WebSocket the page opens reachable from the test, so that it can cut them as a
/// network outage would (Chromium's offline emulation blocks new connections but leaves open
/// sockets alone).
const TRACK_SOCKETS: &str = "(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = function (...args) { const s = new Native(...args); window.__sockets.push(s); return s; };
  window.WebSocket.prototype = Native.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) window.WebSocket[k] = Native[k];
})();";

async fn run(url: &str, a: &Session, b: &Session) -> Result<()> {
    a.on_new_document(TRACK_SOCKETS).await?;
    let n: u32 = rand::random();
    let email = format!("e2e-{n:08x}@example.com");

    // 1. Register, with the client-side checks first.
    a.goto(url).await?;
    login_page(a).await?;
    a.click("#switch-auth").await?;
    a.wait_for("the register form", "document.querySelector('#name')", WAIT)
        .await?;
    a.type_into("#email", "not-an-email").await?;
    a.type_into("#password", "short").await?;
    a.click("#auth-submit").await?;
    a.wait_for(
        "client-side field errors",
        "document.querySelector('#email-error').textContent && document.querySelector('#password-error').textContent",
        WAIT,
    )
    .await?;
    shot("01-register-validation", &[("a", a)]).await;
    a.js(
        "document.querySelector('#email').value=''; document.querySelector('#password').value='';",
        vec![],
    )
    .await?;
    a.type_into("#email", &email).await?;
    a.type_into("#name", "E2E").await?;
    a.type_into("#password", PASSWORD).await?;
    a.click("#auth-submit").await?;
    connected(a).await.context("after registering")?;
    shot("02-registered", &[("a", a)]).await;

    // 2. Add a todo with the keyboard (Enter); it shows at once, then confirmed.
    a.type_into("#new-todo", &format!("Buy bread{ENTER}"))
        .await?;
    a.wait_for("the todo to be confirmed", &has_todo("Buy bread"), WAIT)
        .await?;
    shot("03-todo-added", &[("a", a)]).await;

    // 3. A second browser logs in as the same user and sees it; then a change in the first
    //    shows up in the second without a reload.
    b.goto(url).await?;
    login_page(b).await?;
    // Registering the same email again: the server's 409 shows next to the email field.
    b.click("#switch-auth").await?;
    b.wait_for("the register form", "document.querySelector('#name')", WAIT)
        .await?;
    b.type_into("#email", &email).await?;
    b.type_into("#password", PASSWORD).await?;
    b.click("#auth-submit").await?;
    b.wait_for(
        "the email-taken message",
        "document.querySelector('#email-error').textContent.includes('already exists')",
        WAIT,
    )
    .await?;
    shot("04-email-taken", &[("b", b)]).await;
    b.click("#switch-auth").await?;
    b.wait_for("the login form", "!document.querySelector('#name')", WAIT)
        .await?;
    b.js(
        "document.querySelector('#email').value=''; document.querySelector('#password').value='';",
        vec![],
    )
    .await?;
    b.type_into("#email", &email).await?;
    b.type_into("#password", PASSWORD).await?;
    b.click("#auth-submit").await?;
    connected(b).await.context("second browser")?;
    b.wait_for("the first todo in b", &has_todo("Buy bread"), WAIT)
        .await?;
    a.type_into("#new-todo", &format!("Walk the dog{ENTER}"))
        .await?;
    b.wait_for("a live todo in b", &has_todo("Walk the dog"), WAIT)
        .await?;
    shot("05-second-browser-live", &[("a", a), ("b", b)]).await;

    // Edit in place (Enter saves, Escape cancels), complete, filter, delete: each change made
    // in one browser shows in the other.
    let bread = row_id(a, "Buy bread").await?;
    a.click(&format!("#edit-{bread}")).await?;
    a.wait_for(
        "the editor",
        "document.activeElement?.classList.contains('edit')",
        WAIT,
    )
    .await?;
    a.js("document.activeElement.value = ''", vec![]).await?;
    a.type_into("input.edit", &format!("Buy bread and butter{ENTER}"))
        .await?;
    b.wait_for("the rename in b", &has_todo("Buy bread and butter"), WAIT)
        .await?;
    let dog = row_id(a, "Walk the dog").await?;
    a.click(&format!("#edit-{dog}")).await?;
    a.type_into("input.edit", &format!("zzz{ESCAPE}")).await?;
    a.wait_for(
        "Escape to close the editor and give focus back to Edit",
        &format!(
            "!document.querySelector('input.edit') && document.activeElement?.id === 'edit-{dog}'"
        ),
        WAIT,
    )
    .await?;
    if a.js(&format!("return {}", has_todo("Walk the dog")), vec![])
        .await?
        != Value::Bool(true)
    {
        bail!("Escape did not cancel the edit");
    }
    b.click(&format!("#done-{dog}")).await?;
    a.wait_for(
        "the todo completed in b to show done in a",
        &format!(
            "document.querySelector('li.todo[data-id=\"{dog}\"]')?.classList.contains('done')"
        ),
        WAIT,
    )
    .await?;
    a.click(".filter:nth-child(3)").await?;
    a.wait_for(
        "the Done filter",
        "document.querySelectorAll('#todo-list li.todo').length === 1",
        WAIT,
    )
    .await?;
    shot("05-edited-filtered", &[("a", a), ("b", b)]).await;
    a.click(".filter:nth-child(1)").await?;
    b.click(&format!("li.todo[data-id=\"{bread}\"] .danger"))
        .await?;
    a.wait_for(
        "the delete in b to show in a",
        &format!("!document.querySelector('li.todo[data-id=\"{bread}\"]')"),
        WAIT,
    )
    .await?;

    // 4. The first browser loses the network. A todo typed meanwhile waits, visibly pending;
    //    one added elsewhere meanwhile arrives on reconnect (hello {last_seq} → replay).
    a.set_offline(true).await?;
    a.js("window.__sockets.forEach(s => s.close())", vec![])
        .await?;
    a.wait_for(
        "the indicator to leave 'connected'",
        "document.querySelector('#conn-status')?.dataset.status !== 'connected'",
        WAIT,
    )
    .await?;
    a.type_into("#new-todo", &format!("Typed offline{ENTER}"))
        .await?;
    a.wait_for(
        "the offline todo shown as pending",
        "Array.from(document.querySelectorAll('#todo-list li.todo.pending .title')).some(e => e.textContent.includes('Typed offline'))",
        WAIT,
    )
    .await?;
    b.type_into("#new-todo", &format!("Added while a was away{ENTER}"))
        .await?;
    b.wait_for("b's own todo", &has_todo("Added while a was away"), WAIT)
        .await?;
    shot("06-offline", &[("a", a), ("b", b)]).await;
    a.set_offline(false).await?;
    connected(a)
        .await
        .context("reconnecting after the outage")?;
    a.wait_for(
        "the missed todo, replayed",
        &has_todo("Added while a was away"),
        WAIT,
    )
    .await?;
    a.wait_for(
        "the queued todo, sent after the resume",
        &has_todo("Typed offline"),
        WAIT,
    )
    .await?;
    b.wait_for("the queued todo in b", &has_todo("Typed offline"), WAIT)
        .await?;
    shot("07-resumed", &[("a", a), ("b", b)]).await;

    // 5. The offline assistant adds "buy milk"; both browsers show the todo, the first the chip.
    a.type_into("#chat-input", &format!("add buy milk{ENTER}"))
        .await?;
    a.wait_for("the assistant's todo in a", &has_todo("buy milk"), WAIT)
        .await?;
    b.wait_for("the assistant's todo in b", &has_todo("buy milk"), WAIT)
        .await?;
    a.wait_for(
        "an 'added' chip",
        "Array.from(document.querySelectorAll('.chip.done')).some(e => e.textContent.toLowerCase().includes('added'))",
        WAIT,
    )
    .await?;
    a.wait_for(
        "the answer to finish (Send button back)",
        "document.querySelector('#chat-send') && !document.querySelector('.msg.streaming')",
        WAIT,
    )
    .await?;
    shot("08-chat-added-milk", &[("a", a), ("b", b)]).await;

    // 6. A forced 401: the access cookie is gone. The next REST call (opening the conversation)
    //    gets 401, refreshes once, retries, and the user notices nothing.
    // Refreshes run under a Web Lock shared by the tabs of the origin (see client/src/web/api.rs).
    if a.js("return !!navigator.locks", vec![]).await? != Value::Bool(true) {
        bail!("navigator.locks is missing: cross-tab refreshes would not be serialized");
    }
    a.delete_cookie(protocol::ACCESS_COOKIE).await?;
    if has_access_cookie(a).await? {
        bail!("the access cookie could not be deleted");
    }
    a.wait_for(
        "the conversation in the list",
        "document.querySelector('.conv-title')",
        WAIT,
    )
    .await?;
    // Leave the conversation first so that opening it must fetch its messages.
    a.click("#new-chat").await?;
    a.wait_for(
        "an empty thread",
        "!document.querySelector('#messages .msg')",
        WAIT,
    )
    .await?;
    a.click(".conv-title").await?;
    a.wait_for(
        "the conversation to load after the refresh",
        "Array.from(document.querySelectorAll('#messages .msg.user')).some(e => e.textContent.includes('add buy milk'))",
        WAIT,
    )
    .await?;
    if !has_access_cookie(a).await? {
        bail!("no new access cookie after the silent refresh");
    }
    if a.js("return !!document.querySelector('#auth-form')", vec![])
        .await?
        == Value::Bool(true)
    {
        bail!("the app went to the login page instead of refreshing");
    }
    // The same on a reload: verify → 401 → refresh → the app, not the login page.
    a.delete_cookie(protocol::ACCESS_COOKIE).await?;
    a.refresh().await?;
    connected(a)
        .await
        .context("after a reload without an access cookie")?;
    a.wait_for("the todos after the reload", &has_todo("buy milk"), WAIT)
        .await?;
    shot("09-silent-refresh", &[("a", a)]).await;
    // A narrow screen stacks the chat under the list.
    a.set_window_size(480, 900).await?;
    a.wait_for(
        "the stacked layout",
        "document.querySelector('.chat').getBoundingClientRect().top > document.querySelector('.todos').getBoundingClientRect().bottom",
        WAIT,
    )
    .await?;
    shot("09-narrow", &[("a", a)]).await;
    a.set_window_size(1280, 900).await?;

    // Deleting the conversation (REST) removes it from the list.
    a.wait_for(
        "the conversation list",
        "document.querySelector('.conv .danger')",
        WAIT,
    )
    .await?;
    a.click(".conv .danger").await?;
    a.wait_for(
        "the conversation to be deleted",
        "!document.querySelector('.conv')",
        WAIT,
    )
    .await?;

    // 7. Logout returns to the login page, and the session is gone for real.
    a.click("#logout").await?;
    login_page(a).await?;
    a.wait_for(
        "the logged-out notice",
        "document.querySelector('#auth-reason')?.textContent.includes('logged out')",
        WAIT,
    )
    .await?;
    if has_access_cookie(a).await? {
        bail!("the access cookie survived the logout");
    }
    a.refresh().await?;
    login_page(a).await.context("a reload after logout")?;
    shot("10-logged-out", &[("a", a), ("b", b)]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stop_and_failure() {
    if !e2e_enabled() {
        return;
    }
    use fake_openai::{FakeOpenAi, Reply, chunk};
    let fake = FakeOpenAi::start().await;
    // First answer: a few words, then the model stalls until the user presses Stop.
    fake.push(Reply::Stream(vec![
        chunk(
            serde_json::json!({"role": "assistant", "content": ""}),
            None,
        ),
        chunk(serde_json::json!({"content": "Thinking about"}), None),
        chunk(serde_json::json!({"content": " it"}), None),
        fake_openai::Ev::Stall,
    ]));
    // Second answer: the provider refuses (a 4xx is not retried by the OpenAI client).
    fake.push(Reply::Status(
        401,
        serde_json::json!({"error": {"message": "Incorrect API key provided",
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
        .to_string(),
    ));
    let mut config = config_with_client();
    config.agent = AgentKind::OpenAi;
    config.openai_base_url = fake.url();
    config.openai_api_key = Some("test".into());
    config.openai_model = "fake-model".into();
    config.chat_rate_per_min = 10_000;
    let app = App::spawn(config).await.expect("server starts");
    clear_screenshots(&["chat-"]);
    let mut driver = match Driver::start().await {
        Ok(d) => d,
        Err(e) => panic!("{e:#}"),
    };
    let a = driver.session().await.expect("browser");
    let result = async {
        let n: u32 = rand::random();
        register(&a, &app.url(), &format!("chat-{n:08x}@example.com")).await?;
        a.type_into("#chat-input", &format!("hello{ENTER}")).await?;
        a.wait_for(
            "the answer streaming with a Stop button",
            "document.querySelector('.msg.streaming')?.textContent.includes('Thinking about it') && document.querySelector('#chat-stop')",
            WAIT,
        )
        .await?;
        shot("chat-01-streaming", &[("a", &a)]).await;
        a.click("#chat-stop").await?;
        a.wait_for(
            "the stopped state",
            "Array.from(document.querySelectorAll('.msg.outcome')).some(e => e.textContent.includes('Stopped')) && document.querySelector('#chat-send')",
            WAIT,
        )
        .await?;
        shot("chat-02-stopped", &[("a", &a)]).await;
        a.type_into("#chat-input", &format!("again{ENTER}")).await?;
        a.wait_for(
            "the error state",
            "document.querySelector('.msg.outcome.error[role=alert]')?.textContent.includes('Incorrect API key') && document.querySelector('#chat-send')",
            WAIT,
        )
        .await?;
        shot("chat-03-failed", &[("a", &a)]).await;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = &result {
        shot("chat-failed", &[("a", &a)]).await;
        eprintln!("browser console:\n{}", a.console().await);
        a.quit().await;
        panic!("{e:#}");
    }
    a.quit().await;
}
