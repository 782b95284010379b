//! Everything that touches the browser: the Sycamore views, `fetch`, the WebSocket, timers and
//! storage. Built only for wasm32; the rules it follows live in `crate::state`.

mod api;
mod app;
mod aria;
mod auth;
mod chat;
mod ctx;
mod devices;
mod drafts;
mod markdown;
mod socket;
mod todos;

use wasm_bindgen::prelude::wasm_bindgen;

/// Entry point, called by the wasm-bindgen glue once the module is instantiated.
#[wasm_bindgen(start)]
pub fn start() {
    install_panic_view();
    let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("app"))
    else {
        web_sys::console::error_1(&"no #app element in index.html".into());
        return;
    };
    // The "loading" text of index.html goes away once the app draws.
    root.set_text_content(None);
    sycamore::render_to(app::App, &root);
}

/// The error boundary. The release build aborts on panic (smaller code, no unwinding), so the
/// app cannot continue after one; instead of a frozen or blank page the user gets an overlay that
/// explains and offers a reload. Nothing typed is lost: drafts are kept in `sessionStorage` on
/// every keystroke and restored by the next load, and the session lives in cookies.
fn install_panic_view() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("client error: {info}").into());
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let (Ok(overlay), Ok(title), Ok(text), Ok(link), Some(body)) = (
            doc.create_element("div"),
            doc.create_element("h2"),
            doc.create_element("p"),
            doc.create_element("a"),
            doc.body(),
        ) else {
            return;
        };
        overlay.set_class_name("crash");
        let _ = overlay.set_attribute("role", "alert");
        title.set_text_content(Some("Something went wrong"));
        text.set_text_content(Some(
            "The app hit an unexpected error. What you typed is kept; reloading restores it.",
        ));
        let _ = link.set_attribute("href", "/");
        link.set_class_name("button");
        link.set_text_content(Some("Reload the app"));
        for child in [&title, &text, &link] {
            let _ = overlay.append_child(child);
        }
        let _ = body.append_child(&overlay);
    }));
}
