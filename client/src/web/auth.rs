//! Login and register: checked before sending with the server's own rules, and the server's
//! 409/422/401/429 answers shown next to the field they are about.

use protocol::UserResponse;
use sycamore::futures::spawn_local_scoped;
use sycamore::prelude::*;
use web_sys::SubmitEvent;

use super::api;
use super::aria::flag;
use super::ctx::Route;
use super::drafts;
use crate::state::forms::{self, FieldErrors};

#[component(inline_props)]
pub fn AuthPage(route: Signal<Route>, register: bool, reason: String) -> View {
    let email = create_signal(drafts::load(drafts::EMAIL));
    create_effect(move || email.with(|e| drafts::save(drafts::EMAIL, e)));
    let password = create_signal(String::new());
    let name = create_signal(String::new());
    let errors = create_signal(FieldErrors::default());
    let busy = create_signal(false);
    // Seconds left before the form may be sent again after a 429.
    let wait = create_signal(0u32);

    let submit = move |e: SubmitEvent| {
        e.prevent_default();
        if busy.get_untracked() || wait.get_untracked() > 0 {
            return;
        }
        let checked = if register {
            forms::validate_register(&email.get_clone(), &password.get_clone(), &name.get_clone())
                .map(|r| serde_json::to_string(&r))
        } else {
            forms::validate_login(&email.get_clone(), &password.get_clone())
                .map(|r| serde_json::to_string(&r))
        };
        let body = match checked {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => return,
            Err(found) => {
                errors.set(found);
                return;
            }
        };
        errors.set(FieldErrors::default());
        busy.set(true);
        spawn_local_scoped(async move {
            let path = if register {
                "/api/auth/register"
            } else {
                "/api/auth/login"
            };
            let result = api::auth::<UserResponse>(path, Some(&body)).await;
            busy.set(false);
            match result {
                Ok(r) => {
                    drafts::save(drafts::EMAIL, "");
                    route.set(Route::App(r.user));
                }
                Err(err) => {
                    let found = forms::from_server(err.status, err.error.as_ref(), err.retry_after);
                    if let Some(secs) = found.retry_after {
                        wait.set(secs);
                        // Count down so the button says when it may be used again.
                        spawn_local_scoped(async move {
                            while wait.get_untracked() > 0 {
                                api::sleep(1000).await;
                                wait.set(wait.get_untracked().saturating_sub(1));
                            }
                        });
                    }
                    errors.set(found);
                }
            }
        });
    };

    let title = if register {
        "Create your account"
    } else {
        "Log in"
    };
    let field_error = move |id: &'static str, pick: fn(&FieldErrors) -> Option<String>| {
        view! {
            p(id=id, class="field-error", aria-live="polite") {
                (errors.with(|e| pick(e).unwrap_or_default()))
            }
        }
    };
    // `aria-invalid` follows the field's message, so assistive technology and the invalid style
    // say the same as the text.
    let invalid =
        move |pick: fn(&FieldErrors) -> &Option<String>| flag(errors.with(|e| pick(e).is_some()));
    let email_error = field_error("email-error", |e| e.email.clone());
    let password_error = field_error("password-error", |e| e.password.clone());
    let name_error = field_error("name-error", |e| e.name.clone());
    let reason_view = if reason.is_empty() {
        view! {}
    } else {
        view! { p(id="auth-reason", class="notice", role="status") { (reason) } }
    };
    let name_field = if register {
        view! {
            label(r#for="name") { "Name " span(class="muted") { "(optional)" } }
            input(id="name", r#type="text", autocomplete="name", bind:value=name,
                aria-describedby="name-error", aria-invalid=invalid(|e| &e.name))
            (name_error)
        }
    } else {
        view! {}
    };

    view! {
        div(class="auth") {
            h1 { "Todos" }
            (reason_view)
            form(id="auth-form", class="card", novalidate=true, on:submit=submit) {
                h2 { (title) }
                label(r#for="email") { "Email" }
                input(id="email", r#type="email", autocomplete="email", required=true,
                    bind:value=email, aria-describedby="email-error",
                    aria-invalid=invalid(|e| &e.email))
                (email_error)
                (name_field)
                label(r#for="password") { "Password" }
                input(id="password", r#type="password", required=true,
                    autocomplete=if register { "new-password" } else { "current-password" },
                    bind:value=password, aria-describedby="password-error",
                    aria-invalid=invalid(|e| &e.password))
                (password_error)
                p(id="form-error", class="form-error", role="alert") {
                    (errors.with(|e| e.form.clone().unwrap_or_default()))
                }
                button(id="auth-submit", r#type="submit", class="primary",
                    disabled=busy.get() || wait.get() > 0) {
                    (if busy.get() {
                        "Please wait…".to_owned()
                    } else if wait.get() > 0 {
                        format!("Try again in {} s", wait.get())
                    } else if register {
                        "Create account".to_owned()
                    } else {
                        "Log in".to_owned()
                    })
                }
            }
            p(class="switch") {
                (if register { "Already have an account? " } else { "No account yet? " })
                button(id="switch-auth", r#type="button", class="link",
                    on:click=move |_| route.set(if register { Route::Login(None) } else { Route::Register })) {
                    (if register { "Log in" } else { "Create one" })
                }
            }
        }
    }
}
