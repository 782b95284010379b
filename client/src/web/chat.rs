//! The assistant: the conversation list (new, switch, delete over REST), the open
//! conversation's messages with the answer streaming in, tool calls as chips, and Stop.

use sycamore::prelude::*;
use web_sys::{KeyboardEvent, SubmitEvent};

use super::api;
use super::aria::flag;
use super::ctx::{Ctx, Retry};
use super::markdown::Markdown;
use super::socket::ConnStatus;
use crate::state::chat::ChatItem;

/// Said when a message cannot go out for lack of a connection (the same words every time).
const OFFLINE_REFUSAL: &str = "You are offline: the message was not sent. It stays here; send it when the connection is back.";

#[component(inline_props)]
pub fn ChatPanel(ctx: Ctx) -> View {
    let items = create_memo(move || ctx.chat.with(|c| c.items()));
    let generating = create_selector(move || ctx.chat.with(|c| c.generating()));
    let conversations = create_memo(move || ctx.chat.with(|c| c.conversations.clone()));
    let open = create_selector(move || ctx.chat.with(|c| c.open()));
    let send_error = create_signal(String::new());
    // The text itself is wrong (empty, too long): `aria-invalid` on the box. Other refusals
    // (offline, still answering) are about the moment, not the text.
    let text_invalid = create_signal(false);

    let send = move || {
        let text = ctx.chat_draft.get_clone_untracked();
        text_invalid.set(false);
        // Unlike todo changes, a message is not queued while offline: the answer streams over
        // the socket, so there is nothing to show until it is back. The text stays in the box.
        if ctx.status.get_untracked() != ConnStatus::Connected {
            send_error.set(OFFLINE_REFUSAL.into());
            return;
        }
        let busy = ctx.chat.with_untracked(|c| c.generating());
        let frame = match ctx.chat.update(|c| c.send(&text)) {
            Ok(frame) => frame,
            Err(why) => {
                text_invalid.set(!busy);
                send_error.set(why);
                return;
            }
        };
        if ctx.send_now(&frame) {
            send_error.set(String::new());
            ctx.chat_draft.set(String::new());
        } else {
            // The socket closed just now: take it back so the text stays in the box.
            if let Some(id) = frame.id.as_deref() {
                ctx.chat
                    .update(|c| c.on_error(id, protocol::ErrorCode::Unavailable, "offline"));
            }
            send_error.set(OFFLINE_REFUSAL.into());
        }
    };
    let submit = move |e: SubmitEvent| {
        e.prevent_default();
        send();
    };
    // Enter sends, Shift+Enter makes a new line.
    let keydown = move |e: KeyboardEvent| {
        if e.key() == "Enter" && !e.shift_key() {
            e.prevent_default();
            send();
        }
    };
    let stop = move |_| {
        if let Some(frame) = ctx.chat.update(|c| c.cancel()) {
            ctx.send_now(&frame);
        }
    };
    let new_chat = move |_| {
        ctx.chat.update(|c| c.new_chat());
        send_error.set(String::new());
    };

    view! {
        section(class="panel chat", aria-labelledby="chat-title") {
            div(class="panel-head") {
                h2(id="chat-title") { "Assistant" }
                button(id="new-chat", r#type="button", on:click=new_chat) { "New chat" }
            }
            div(class="chat-body") {
                nav(class="conversations", aria-labelledby="conversations-title") {
                    h3(id="conversations-title") { "Conversations" }
                    ul {
                        Keyed(
                            list=conversations,
                            view=move |c| {
                                let id = c.id;
                                let title = if c.title.trim().is_empty() { "New chat".to_owned() } else { c.title.clone() };
                                let delete_label = format!("Delete conversation “{title}”");
                                view! {
                                    li(class=if open.get() == Some(id) { "conv open" } else { "conv" }) {
                                        button(r#type="button", class="conv-title",
                                            aria-current=flag(open.get() == Some(id)),
                                            on:click=move |_| {
                                                ctx.chat.update(|c| c.open_conversation(id));
                                                ctx.load_messages(id);
                                            }) { (title) }
                                        button(r#type="button", class="link danger", aria-label=delete_label,
                                            on:click=move |_| delete_conversation(ctx, id)) { "×" }
                                    }
                                }
                            },
                            key=|c| (c.id, c.title.clone()),
                        )
                    }
                }
                div(class="thread") {
                    ol(id="messages", class="messages", aria-live="polite") {
                        Keyed(
                            list=items,
                            view=move |item| bubble(items, item),
                            key=ChatItem::identity,
                        )
                    }
                    (if items.with(Vec::is_empty) {
                        view! { p(class="muted hint") { "Try “add buy milk” or “what's pending?”" } }
                    } else {
                        view! {}
                    })
                    form(class="composer", on:submit=submit) {
                        label(r#for="chat-input", class="sr-only") { "Message to the assistant" }
                        textarea(id="chat-input", rows="2", placeholder="Ask the assistant…",
                            bind:value=ctx.chat_draft, on:keydown=keydown,
                            aria-describedby="chat-error", aria-invalid=flag(text_invalid.get()))
                        (if generating.get() {
                            view! {
                                button(id="chat-stop", r#type="button", class="danger", on:click=stop) { "Stop" }
                            }
                        } else {
                            view! {
                                button(id="chat-send", r#type="submit", class="primary") { "Send" }
                            }
                        })
                    }
                    p(id="chat-error", class="field-error", aria-live="polite") { (send_error.get_clone()) }
                }
            }
        }
    }
}

fn bubble(items: ReadSignal<Vec<ChatItem>>, item: ChatItem) -> View {
    match item {
        ChatItem::User { text, pending, .. } => view! {
            li(class=if pending { "msg user pending" } else { "msg user" }) {
                span(class="sr-only") { "You: " }
                p { (text) }
            }
        },
        ChatItem::Assistant {
            key,
            chips,
            streaming,
            ..
        } => {
            // This bubble's text, followed as it streams (the bubble itself stays).
            let text = create_memo(move || items.with(|all| ChatItem::assistant_text(all, &key)));
            let chip_views = chips
                .into_iter()
                .map(|c| {
                    let class = c.status.class();
                    view! { li(class=class) { (c.label) } }
                })
                .collect::<Vec<View>>();
            let has_chips = !chip_views.is_empty();
            view! {
                li(class=if streaming { "msg assistant streaming" } else { "msg assistant" },
                    aria-busy=flag(streaming)) {
                    span(class="sr-only") { "Assistant: " }
                    (if has_chips { view! { ul(class="chips") { (chip_views) } } } else { view! {} })
                    Markdown(text=text)
                    (if streaming { view! { span(class="cursor", aria-hidden="true") { "▍" } } } else { view! {} })
                }
            }
        }
        ChatItem::Outcome { text, error, .. } => view! {
            li(class=if error { "msg outcome error" } else { "msg outcome" },
                role=if error { "alert" } else { "status" }) { (text) }
        },
    }
}

fn delete_conversation(ctx: Ctx, id: i64) {
    ctx.spawn(async move {
        let path = format!("/api/conversations/{id}");
        match api::request("DELETE", &path, None).await {
            Ok(_) => ctx.chat.update(|c| c.remove_conversation(id)),
            Err(e) if e.status == 404 => ctx.chat.update(|c| c.remove_conversation(id)),
            Err(e) => ctx.fail(&e, Some(Retry::Conversations)),
        }
    });
}
