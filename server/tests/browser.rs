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
//! They need a built client and Chromium, so they are `#[ignore]`d: a plain `cargo test` lists
//! them as ignored (a skip is visible, never an `ok`), and `scripts/test.sh` runs them:
//!
//! ```text
//! scripts/build-client.sh && cargo test -p server --test browser -- --ignored
//! ```
//!
//! Run that way, a client that is not built or a missing chromedriver/chromium fails the test
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

/// JS: how many `GET /api/auth/verify` this page has made.
const VERIFY_CALLS: &str = "performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/auth/verify')).length";

/// JS: the touch targets of the todo list (checkboxes, Edit, Delete, filters) smaller than
/// 44×44 px, and how many were measured.
const SMALL_TARGETS: &str = "(() => {
  const els = Array.from(document.querySelectorAll('#todo-list li.todo input[type=checkbox], #todo-list li.todo .row-actions button, .filter'));
  const small = els.map(e => { const r = e.getBoundingClientRect(); return `${e.id || e.textContent.trim() || e.className} ${Math.round(r.width)}x${Math.round(r.height)}`; })
    .filter((_, i) => { const r = els[i].getBoundingClientRect(); return r.width < 44 || r.height < 44; });
  return {count: els.length, small};
})()";

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

/// End a browser test: on a failure, screenshots (`<prefix>failed-*.png`) and the browsers'
/// consoles first; the browsers are closed either way, then the failure is reported.
async fn finish(result: Result<()>, prefix: &str, sessions: &[(&str, &Session)]) {
    if result.is_err() {
        shot(&format!("{prefix}failed"), sessions).await;
        for (who, s) in sessions {
            eprintln!("browser {who} console:\n{}", s.console().await);
        }
        eprintln!("screenshots in {}", screenshot_dir().display());
    }
    for (_, s) in sessions {
        s.quit().await;
    }
    if let Err(e) = result {
        panic!("{e:#}");
    }
}

/// A test configuration whose assistant is the fake OpenAI-compatible server.
fn config_with_fake(fake: &fake_openai::FakeOpenAi) -> Config {
    let mut config = config_with_client();
    config.agent = AgentKind::OpenAi;
    config.openai_base_url = fake.url();
    config.openai_api_key = Some("test".into());
    config.openai_model = "fake-model".into();
    config.chat_rate_per_min = 10_000;
    config
}

/// JS: the assistant has finished answering (the Send button is back, nothing streams).
const ANSWER_DONE: &str =
    "document.querySelector('#chat-send') && !document.querySelector('.msg.streaming')";

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
#[ignore = "needs Chromium and a built client: scripts/test.sh runs it (cargo test -p server --test browser -- --ignored)"]
async fn register_live_todos_chat_refresh_logout() {
    let config = config_with_client();
    let app = App::spawn(config).await.expect("server starts");
    clear_screenshots(&["0", "1", "failed"]);
    let mut driver = Driver::start().await.unwrap_or_else(|e| panic!("{e:#}"));
    let a = driver.session().await.expect("first browser");
    let b = driver.session().await.expect("second browser");

    let result = run(&app.url(), &a, &b).await;
    finish(result, "", &[("a", &a), ("b", &b)]).await;
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

    // 1. Register, with the client-side checks first. A logged-out visit asks `verify` once
    //    (then one refresh, refused), not twice.
    a.goto(url).await?;
    login_page(a).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let verifies = a.js(&format!("return {VERIFY_CALLS}"), vec![]).await?;
    if verifies != 1 {
        bail!("a logged-out visit made {verifies} verify calls, not one");
    }
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
    // The refused fields say so to assistive technology and in their look, not only in text.
    a.wait_for(
        "aria-invalid on the refused fields only",
        "document.querySelector('#email').getAttribute('aria-invalid') === 'true' && document.querySelector('#password').getAttribute('aria-invalid') === 'true' && document.querySelector('#name').getAttribute('aria-invalid') === 'false'",
        WAIT,
    )
    .await?;
    let looks_invalid = a
        .js(
            "const c = e => getComputedStyle(document.querySelector(e)).borderTopColor; return c('#email') !== c('#name') && c('#password') === c('#email');",
            vec![],
        )
        .await?;
    if looks_invalid != Value::Bool(true) {
        bail!("an invalid field looks like a valid one");
    }
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

    // 2. An empty todo is refused before it is sent, the field marked invalid; then a todo
    //    added with the keyboard (Enter) shows at once, is confirmed, and the mark goes.
    a.type_into("#new-todo", &format!("   {ENTER}")).await?;
    a.wait_for(
        "the empty todo refused",
        "document.querySelector('#new-todo').getAttribute('aria-invalid') === 'true' && document.querySelector('#add-error').textContent",
        WAIT,
    )
    .await?;
    a.type_into("#new-todo", &format!("Buy bread{ENTER}"))
        .await?;
    a.wait_for("the todo to be confirmed", &has_todo("Buy bread"), WAIT)
        .await?;
    a.wait_for(
        "the invalid mark gone",
        "document.querySelector('#new-todo').getAttribute('aria-invalid') === 'false'",
        WAIT,
    )
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
    a.wait_for(
        "a banner that says what works offline",
        "document.querySelector('#offline-banner')?.textContent.includes('Todo changes are kept')",
        WAIT,
    )
    .await?;
    // A message typed offline is refused, saying so, and stays in the box.
    a.type_into("#chat-input", &format!("add eggs{ENTER}"))
        .await?;
    a.wait_for(
        "the message refused while offline, its text kept",
        "document.querySelector('#chat-error').textContent.includes('offline') && document.querySelector('#chat-input').value === 'add eggs' && !document.querySelector('#messages .msg.user')",
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
        "the offline banner gone",
        "!document.querySelector('#offline-banner')",
        WAIT,
    )
    .await?;
    a.clear("#chat-input").await?;
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
    a.wait_for("the answer to finish (Send button back)", ANSWER_DONE, WAIT)
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
    // The reload reopened the conversation this tab was in.
    a.wait_for(
        "the conversation reopened after the reload",
        "document.querySelector('.conv.open') && Array.from(document.querySelectorAll('#messages .msg.user')).some(e => e.textContent.includes('add buy milk'))",
        WAIT,
    )
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
    // A phone (375 px): every todo control is at least 44×44 px.
    a.emulate_viewport(Some((375, 812))).await?;
    a.wait_for("a 375 px viewport", "window.innerWidth === 375", WAIT)
        .await?;
    let targets = a.js(&format!("return {SMALL_TARGETS}"), vec![]).await?;
    if targets["count"].as_u64().unwrap_or(0) < 4 || targets["small"] != Value::Array(vec![]) {
        bail!("touch targets under 44×44 px at 375 px: {targets}");
    }
    shot("09-375", &[("a", a)]).await;
    a.emulate_viewport(None).await?;
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
#[ignore = "needs Chromium and a built client: scripts/test.sh runs it (cargo test -p server --test browser -- --ignored)"]
async fn chat_stop_and_failure() {
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
    let app = App::spawn(config_with_fake(&fake))
        .await
        .expect("server starts");
    clear_screenshots(&["chat-"]);
    let mut driver = Driver::start().await.unwrap_or_else(|e| panic!("{e:#}"));
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
    finish(result, "chat-", &[("a", &a)]).await;
}

/// Log in from the login page.
async fn login(s: &Session, url: &str, email: &str) -> Result<()> {
    s.goto(url).await?;
    login_page(s).await?;
    s.type_into("#email", email).await?;
    s.type_into("#password", PASSWORD).await?;
    s.click("#auth-submit").await?;
    connected(s).await.context("after logging in")
}

/// JS: the open conversation's row at this width: its title is cut with an ellipsis (not
/// mid-word at the edge), its × is inside the list, big enough, and is what a click there hits.
const CONVERSATION_ROW_OK: &str = "(() => {
  const nav = document.querySelector('.conversations'), title = document.querySelector('.conv.open .conv-title');
  const x = document.querySelector('.conv.open .danger');
  if (!nav || !title || !x) return 'no open conversation row';
  const n = nav.getBoundingClientRect(), r = x.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  if (getComputedStyle(title).textOverflow !== 'ellipsis' || title.scrollWidth <= title.clientWidth) return 'title not ellipsized';
  if (r.right > n.right + 0.5 || r.left < n.left) return `x outside the list: ${r.left}-${r.right} vs ${n.left}-${n.right}`;
  if (r.width < 24 || r.height < 24) return `x too small: ${r.width}x${r.height}`;
  if (hit !== x) return `a click on x hits ${hit && hit.outerHTML.slice(0, 60)}`;
  return 'ok';
})()";

/// Markdown from a real OpenAI-compatible stream (the API suite's fake server) — a list, a code
/// block, a link; markup in an answer shown as text — and the conversation list: ellipsized
/// titles with a delete button always in reach, a heading, a highlight unlike a message, and a
/// reload that reopens the conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and a built client: scripts/test.sh runs it (cargo test -p server --test browser -- --ignored)"]
async fn markdown_answers_and_the_conversation_list() {
    use fake_openai::{Ev, FakeOpenAi, Reply, chunk, text};
    let fake = FakeOpenAi::start().await;
    // Pauses between the pieces, so the test can watch the answer while it streams.
    let pause = || Ev::Sleep(Duration::from_millis(700));
    let piece = |t: &str| chunk(serde_json::json!({"content": t}), None);
    fake.push(Reply::Stream(vec![
        chunk(
            serde_json::json!({"role": "assistant", "content": ""}),
            None,
        ),
        piece("Here is your **shopping** list"),
        piece(":\n\n- milk from the *corner* shop\n- eggs\n\n"),
        pause(),
        piece("To add one from code:\n\n```rust\nlet todo = add(\"bread\");\n"),
        pause(),
        piece("```\n\nMore in [the docs](https://example.com/docs)."),
        chunk(serde_json::json!({}), Some("stop")),
        Ev::Done,
    ]));
    fake.push(text(&[
        "Careful: <img src=x onerror=alert(1)> is",
        " only text here, and so is <b>this</b>.",
    ]));
    let app = App::spawn(config_with_fake(&fake))
        .await
        .expect("server starts");
    clear_screenshots(&["md-"]);
    let mut driver = Driver::start().await.unwrap_or_else(|e| panic!("{e:#}"));
    let a = driver.session().await.expect("browser");
    let result = async {
        let n: u32 = rand::random();
        register(&a, &app.url(), &format!("md-{n:08x}@example.com")).await?;
        a.type_into(
            "#chat-input",
            &format!("Please write my shopping list for the week as a Markdown list with an example{ENTER}"),
        )
        .await?;
        // While it streams, a delta redraws only what changed: the bubble stays, and so does
        // a finished list when a code block is added after it.
        a.wait_for(
            "the list, while the answer streams",
            "(() => { const ul = document.querySelector('.msg.assistant.streaming .md ul'); if (ul && ul.children.length === 2) { window.__bubble = ul.closest('.msg'); window.__list = ul; return true; } })()",
            WAIT,
        )
        .await?;
        a.wait_for(
            "the code block, the bubble and the list unchanged",
            "document.querySelector('.msg.assistant.streaming .md pre') && document.querySelector('.msg.assistant.streaming') === window.__bubble && document.querySelector('.msg.assistant.streaming .md ul') === window.__list",
            WAIT,
        )
        .await?;
        a.wait_for(
            "the answer as Markdown",
            "(() => { const md = document.querySelector('.msg.assistant .md'); return md && md.querySelectorAll('ul > li').length === 2 && md.querySelector('strong')?.textContent === 'shopping' && md.querySelector('li em')?.textContent === 'corner' && md.querySelector('pre[data-lang=rust] > code')?.textContent.includes('add(\"bread\")') && md.querySelector('a[href=\"https://example.com/docs\"][target=_blank][rel=\"noopener noreferrer\"]'); })()",
            WAIT,
        )
        .await?;
        a.wait_for(
            "the answer to finish",
            ANSWER_DONE,
            WAIT,
        )
        .await?;
        shot("md-01-answer", &[("a", &a)]).await;

        a.type_into("#chat-input", &format!("and some html?{ENTER}")).await?;
        a.wait_for(
            "markup in an answer shown as text",
            "Array.from(document.querySelectorAll('.msg.assistant .md')).some(e => e.textContent.includes('<img src=x onerror=alert(1)> is only text here, and so is <b>this</b>.')) && document.querySelector('#chat-send')",
            WAIT,
        )
        .await?;
        let markup = a
            .js(
                "return document.querySelectorAll('#messages img, #messages b, #messages [onerror]').length",
                vec![],
            )
            .await?;
        if markup != 0 {
            bail!("markup from an answer reached the page: {markup} elements");
        }
        shot("md-02-markup-as-text", &[("a", &a)]).await;

        // The conversation column: a heading, and the open conversation's highlight unlike the
        // user's own message bubbles.
        a.wait_for(
            "the conversations heading",
            "document.querySelector('.conversations #conversations-title')?.textContent === 'Conversations'",
            WAIT,
        )
        .await?;
        let distinct = a
            .js(
                "const open = getComputedStyle(document.querySelector('.conv.open')), mine = getComputedStyle(document.querySelector('.msg.user')); return open.backgroundColor !== mine.backgroundColor && open.boxShadow !== 'none' && getComputedStyle(document.querySelector('.conv.open .conv-title')).fontWeight >= 600;",
                vec![],
            )
            .await?;
        if distinct != Value::Bool(true) {
            bail!("the open conversation looks like a message bubble");
        }
        // At 1280 px (side by side) and at 1000 px (the list above the thread).
        for width in [1280, 1000] {
            a.set_window_size(width, 900).await?;
            a.wait_for(
                &format!("the conversation row at {width} px"),
                &format!("{CONVERSATION_ROW_OK} === 'ok'"),
                WAIT,
            )
            .await
            .with_context(|| format!("at {width} px"))?;
            shot(&format!("md-03-list-{width}"), &[("a", &a)]).await;
        }
        a.set_window_size(1280, 900).await?;

        // A reload reopens the conversation, rendered again from the saved messages.
        a.refresh().await?;
        connected(&a).await?;
        a.wait_for(
            "the conversation reopened, its Markdown drawn",
            "document.querySelector('.conv.open') && document.querySelectorAll('.msg.assistant .md ul > li').length === 2",
            WAIT,
        )
        .await?;
        anyhow::Ok(())
    }
    .await;
    finish(result, "md-", &[("a", &a)]).await;
}

/// The Devices view across two browsers: B lists both sessions (its own marked), signs A out,
/// and A is at the login page within 2 s; then "Sign out everywhere" ends both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and a built client: scripts/test.sh runs it (cargo test -p server --test browser -- --ignored)"]
async fn devices_sign_out_one_and_everywhere() {
    let app = App::spawn(config_with_client())
        .await
        .expect("server starts");
    clear_screenshots(&["dev-"]);
    let mut driver = Driver::start().await.unwrap_or_else(|e| panic!("{e:#}"));
    let a = driver.session().await.expect("first browser");
    let b = driver.session().await.expect("second browser");
    let url = app.url();
    let result = async {
        let n: u32 = rand::random();
        let email = format!("dev-{n:08x}@example.com");
        register(&a, &url, &email).await?;
        login(&b, &url, &email).await?;

        b.click("#devices").await?;
        b.wait_for(
            "both devices listed, this one marked",
            "document.querySelectorAll('#device-list li.device').length === 2 && document.querySelectorAll('#device-list li.device.current').length === 1 && document.querySelector('#device-list li.device.current').textContent.includes('This device') && document.querySelector('#device-list li.device.current').textContent.includes('Chrome')",
            WAIT,
        )
        .await?;
        shot("dev-01-list", &[("b", &b)]).await;

        // B signs A out; A's socket gets session.expired + 4001 and A shows the login page.
        b.click("#device-list li.device:not(.current) .sign-out").await?;
        let started = std::time::Instant::now();
        a.wait_for(
            "A at the login page",
            "document.querySelector('#auth-form')",
            WAIT,
        )
        .await?;
        let took = started.elapsed();
        if took > Duration::from_secs(2) {
            bail!("A reached the login page after {took:?}, not within 2 s");
        }
        eprintln!("signed out elsewhere → login page in {took:?}");
        b.wait_for(
            "B's list down to itself",
            "document.querySelectorAll('#device-list li.device').length === 1",
            WAIT,
        )
        .await?;
        shot("dev-02-signed-out", &[("a", &a), ("b", &b)]).await;

        // A logs in again; B signs out everywhere: both end up at the login page.
        a.clear("#email").await?;
        a.type_into("#email", &email).await?;
        a.type_into("#password", PASSWORD).await?;
        a.click("#auth-submit").await?;
        connected(&a).await.context("A logging in again")?;
        b.click("#sign-out-everywhere").await?;
        let started = std::time::Instant::now();
        b.wait_for(
            "B at the login page, told why",
            "document.querySelector('#auth-reason')?.textContent.includes('every device')",
            WAIT,
        )
        .await?;
        a.wait_for("A at the login page", "document.querySelector('#auth-form')", WAIT)
            .await?;
        let took = started.elapsed();
        if took > Duration::from_secs(2) {
            bail!("sign out everywhere reached A after {took:?}, not within 2 s");
        }
        eprintln!("signed out everywhere → both at the login page in {took:?}");
        if has_access_cookie(&b).await? {
            bail!("B kept its access cookie after signing out everywhere");
        }
        shot("dev-03-everywhere", &[("a", &a), ("b", &b)]).await;
        anyhow::Ok(())
    }
    .await;
    finish(result, "dev-", &[("a", &a), ("b", &b)]).await;
}
