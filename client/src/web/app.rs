//! The root: which page shows (checking / login / register / the app) and the signed-in
//! layout. What the views share lives in `ctx.rs`.

use protocol::User;
use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;

use super::api;
use super::aria::flag;
use super::auth::AuthPage;
use super::chat::ChatPanel;
use super::ctx::{Ctx, Retry, Route};
use super::devices::DevicesPanel;
use super::drafts;
use super::socket::ConnStatus;
use super::todos::TodoPanel;

/// The root component.
#[component]
pub fn App() -> View {
    let route = create_signal(Route::Checking);
    let check_failed = create_signal(None::<String>);
    api::on_session_lost(move |reason| {
        if route.is_alive() && !matches!(route.get_clone_untracked(), Route::Login(_)) {
            route.set(Route::Login(Some(reason)));
        }
    });
    let check = move || {
        check_failed.set(None);
        spawn_local_scoped(async move {
            match api::verify().await {
                Ok(Some(session)) => route.set(Route::App(session.user)),
                Ok(None) => route.set(Route::Login(None)),
                Err(e) => check_failed.set(Some(e.describe())),
            }
        });
    };
    check();

    view! {
        (match route.get_clone() {
            Route::Checking => view! {
                div(class="center") {
                    (match check_failed.get_clone() {
                        None => view! { p(class="muted") { "Loading…" } },
                        Some(text) => view! {
                            div(class="banner", role="alert") {
                                span { (text) }
                                button(r#type="button", on:click=move |_| check()) { "Retry" }
                            }
                        },
                    })
                }
            },
            Route::Login(reason) => view! {
                AuthPage(route=route, register=false, reason=reason.unwrap_or_default())
            },
            Route::Register => view! { AuthPage(route=route, register=true, reason=String::new()) },
            Route::App(user) => view! { Main(route=route, user=user) },
        })
    }
}

/// The signed-in app: header, banners, the todo list and the chat side by side.
#[component(inline_props)]
fn Main(route: Signal<Route>, user: User) -> View {
    let todo_draft = create_signal(drafts::load(drafts::TODO));
    let chat_draft = create_signal(drafts::load(drafts::CHAT));
    create_effect(move || todo_draft.with(|d| drafts::save(drafts::TODO, d)));
    create_effect(move || chat_draft.with(|d| drafts::save(drafts::CHAT, d)));
    let ctx = Ctx::start(route, todo_draft, chat_draft);

    let logout = move |_| ctx.log_out(false);

    let who = user.name.clone().unwrap_or_else(|| user.email.clone());
    let email = user.email.clone();
    view! {
        header(class="topbar") {
            h1 { "Todos" }
            div(class="who") {
                span(
                    id="conn-status",
                    class=format!("status {}", ctx.status.get().label()),
                    data-status=ctx.status.get().label(),
                    role="status",
                    aria-label=format!("Connection: {}", ctx.status.get().label()),
                ) {
                    span(class="dot", aria-hidden="true")
                    (ctx.status.get().label())
                }
                span(id="user-email", title=email) { (who) }
                button(id="devices", r#type="button", aria-pressed=flag(ctx.devices_open.get()),
                    on:click=move |_| ctx.devices_open.set(!ctx.devices_open.get_untracked())) {
                    "Devices"
                }
                button(id="logout", r#type="button", disabled=ctx.logging_out.get(), on:click=logout) {
                    "Log out"
                }
            }
        }
        (match ctx.banner.get_clone() {
            None => view! {},
            Some(b) => view! {
                div(class="banner", role="alert") {
                    span { (b.text) }
                    (match b.retry {
                        Some(r) => view! {
                            button(r#type="button", on:click=move |_| ctx.retry(r)) {
                                (if r == Retry::Reload { "Reload" } else { "Retry" })
                            }
                        },
                        None => view! {},
                    })
                    button(r#type="button", class="link", aria-label="Dismiss",
                        on:click=move |_| ctx.banner.set(None)) { "×" }
                }
            },
        })
        (match ctx.notice.get_clone() {
            None => view! {},
            Some(text) => view! {
                div(class="notice", role="status") {
                    span { (text) }
                    button(r#type="button", class="link", aria-label="Dismiss",
                        on:click=move |_| ctx.notice.set(None)) { "×" }
                }
            },
        })
        (match ctx.status.get() {
            // Said plainly, not only by the small indicator: what still works and what waits.
            ConnStatus::Offline => view! {
                div(id="offline-banner", class="banner offline", role="status") {
                    span { "You are offline. Todo changes are kept and sent when the connection is back; the assistant needs the connection." }
                }
            },
            ConnStatus::Reconnecting => view! {
                div(id="offline-banner", class="banner offline", role="status") {
                    span { "Connection lost: reconnecting… Todo changes are kept and sent when it is back." }
                }
            },
            ConnStatus::Connecting | ConnStatus::Connected => view! {},
        })
        (if ctx.devices_open.get() {
            view! { main(class="layout single") { DevicesPanel(ctx=ctx) } }
        } else {
            view! {
                main(class="layout") {
                    TodoPanel(ctx=ctx)
                    ChatPanel(ctx=ctx)
                }
            }
        })
    }
}
