//! The Devices view: where this account is signed in (`GET /api/auth/sessions`), this device
//! marked; "Sign out" for one device (`DELETE /api/auth/sessions/{id}`) and "Sign out everywhere"
//! (`POST /api/auth/logout-all`). A device signed out elsewhere gets `session.expired` and close
//! 4001 on its socket, and goes to the login page (`Ctx::on_socket`).

use protocol::{SessionInfo, SessionsResponse};
use sycamore::prelude::*;

use super::api;
use super::ctx::Ctx;
use crate::state::devices::{ago, describe_user_agent};

#[component(inline_props)]
pub fn DevicesPanel(ctx: Ctx) -> View {
    let sessions = create_signal(None::<Vec<SessionInfo>>);
    let error = create_signal(String::new());
    let load = move || {
        ctx.spawn(async move {
            match api::json::<SessionsResponse>("GET", "/api/auth/sessions", None).await {
                Ok(r) => {
                    error.set(String::new());
                    sessions.set(Some(r.sessions));
                }
                Err(e) => error.set(e.describe()),
            }
        })
    };
    load();
    let sign_out = move |id: i64| {
        ctx.spawn(async move {
            match api::request("DELETE", &format!("/api/auth/sessions/{id}"), None).await {
                // 404: already gone; either way the list is read again.
                Ok(_) => load(),
                Err(e) if e.status == 404 => load(),
                Err(e) => error.set(e.describe()),
            }
        })
    };
    let now_secs = || (js_sys::Date::now() / 1000.0) as i64;
    let rows = move || {
        sessions.with(|s| s.clone().unwrap_or_default())
            .into_iter()
            .map(|s| {
                let id = s.id;
                let name = describe_user_agent(s.user_agent.as_deref());
                let seen = if s.current {
                    "active now".to_owned()
                } else {
                    format!("last seen {}", ago(now_secs() - s.last_seen_at.timestamp()))
                };
                let since = format!("signed in {}", s.created_at.date_naive());
                let place = s.ip.clone().map(|ip| format!(" · {ip}")).unwrap_or_default();
                let label = format!("Sign out {name}");
                view! {
                    li(class=if s.current { "device current" } else { "device" }, data-id=id.to_string(),
                        data-current=s.current.to_string()) {
                        div(class="device-what") {
                            strong { (name) }
                            (if s.current { view! { span(class="badge this") { "This device" } } } else { view! {} })
                            p(class="muted") { (seen) " · " (since) (place) }
                        }
                        (if s.current {
                            view! {
                                button(r#type="button", class="danger", disabled=ctx.logging_out.get(),
                                    on:click=move |_| ctx.log_out(false)) { "Log out" }
                            }
                        } else {
                            view! {
                                button(r#type="button", class="danger sign-out", aria-label=label,
                                    on:click=move |_| sign_out(id)) { "Sign out" }
                            }
                        })
                    }
                }
            })
            .collect::<Vec<View>>()
    };

    view! {
        section(class="panel devices", aria-labelledby="devices-title") {
            div(class="panel-head") {
                h2(id="devices-title") { "Devices" }
                button(id="devices-close", r#type="button", on:click=move |_| ctx.devices_open.set(false)) {
                    "Back to the list"
                }
            }
            p(class="muted") {
                "Where your account is signed in. Signing a device out ends its session there at once."
            }
            p(class="field-error", role="alert") { (error.get_clone()) }
            (if sessions.with(Option::is_none) {
                view! { p(class="muted") { "Loading your devices…" } }
            } else {
                view! {}
            })
            ul(id="device-list", class="device-list") { (rows()) }
            button(id="sign-out-everywhere", r#type="button", class="danger", disabled=ctx.logging_out.get(),
                on:click=move |_| ctx.log_out(true)) { "Sign out everywhere" }
        }
    }
}
