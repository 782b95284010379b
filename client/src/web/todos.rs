//! The todo list: add (Enter), toggle, rename in place (Enter saves, Escape cancels), delete,
//! filter. Every change goes through `TodoState`, which draws it at once as pending.

use protocol::StatusFilter;
use sycamore::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, KeyboardEvent, SubmitEvent};

use super::aria::flag;
use super::ctx::Ctx;
use crate::state::todos::TodoView;

#[component(inline_props)]
pub fn TodoPanel(ctx: Ctx) -> View {
    let add_error = create_signal(String::new());
    // One memo for all rows; each row picks its own entry, so a change redraws only that row.
    let rows = create_memo(move || ctx.todos.with(|t| t.visible(ctx.filter.get())));
    let ids = create_memo(move || rows.with(|r| r.iter().map(|r| r.id).collect::<Vec<_>>()));
    let editing = create_signal(None::<i64>);

    let add = move |e: SubmitEvent| {
        e.prevent_default();
        let title = ctx.todo_draft.get_clone();
        match ctx.todos.update(|t| t.add(&title)) {
            Ok(frames) => {
                add_error.set(String::new());
                ctx.todo_draft.set(String::new());
                ctx.send(frames);
            }
            Err(why) => add_error.set(why),
        }
    };

    let filter_button = move |f: StatusFilter, label: &'static str| {
        view! {
            button(r#type="button", class="filter",
                aria-pressed=flag(ctx.filter.get() == f),
                on:click=move |_| ctx.filter.set(f)) { (label) }
        }
    };
    let all = filter_button(StatusFilter::All, "All");
    let pending = filter_button(StatusFilter::Pending, "Pending");
    let done = filter_button(StatusFilter::Completed, "Done");

    view! {
        section(class="panel todos", aria-labelledby="todos-title") {
            div(class="panel-head") {
                h2(id="todos-title") { "Todo list" }
                span(class="muted", id="todo-counts") {
                    (ctx.todos.with(|t| {
                        let (open, done) = t.counts();
                        format!("{open} open · {done} done")
                    }))
                }
            }
            form(class="add", on:submit=add) {
                label(r#for="new-todo", class="sr-only") { "New todo" }
                input(id="new-todo", r#type="text", placeholder="What needs doing?",
                    autocomplete="off", bind:value=ctx.todo_draft, aria-describedby="add-error",
                    aria-invalid=flag(!add_error.with(String::is_empty)))
                button(id="add-todo", r#type="submit", class="primary") { "Add" }
            }
            p(id="add-error", class="field-error", aria-live="polite") { (add_error.get_clone()) }
            div(class="filters", role="group", aria-label="Show") {
                (all) (pending) (done)
            }
            (if ctx.todos.with(|t| t.loaded()) {
                view! {}
            } else {
                view! { p(class="muted") { "Loading your todos…" } }
            })
            ul(id="todo-list", class="todo-list") {
                Keyed(
                    list=ids,
                    view=move |id| view! { TodoRow(ctx=ctx, id=id, rows=rows, editing=editing) },
                    key=|id| *id,
                )
            }
            (if ctx.todos.with(|t| t.loaded()) && ids.with(Vec::is_empty) {
                view! { p(class="muted empty") { "Nothing here." } }
            } else {
                view! {}
            })
        }
    }
}

#[component(inline_props)]
fn TodoRow(
    ctx: Ctx,
    id: i64,
    rows: ReadSignal<Vec<TodoView>>,
    editing: Signal<Option<i64>>,
) -> View {
    let row = create_selector(move || {
        rows.with(|rs| rs.iter().find(|r| r.id == id).cloned())
            .unwrap_or(TodoView {
                id,
                title: String::new(),
                completed: false,
                pending: false,
                deleting: false,
            })
    });
    let edit_text = create_signal(String::new());
    let edit_error = create_signal(String::new());
    let is_editing = create_selector(move || editing.get() == Some(id));
    let start_edit = move || {
        if id < 0 {
            return;
        }
        edit_text.set(row.with_untracked(|r| r.title.clone()));
        edit_error.set(String::new());
        editing.set(Some(id));
    };
    let save = move || {
        if !is_editing.get_untracked() {
            return;
        }
        let text = edit_text.get_clone_untracked();
        match ctx.todos.update(|t| t.rename(id, &text)) {
            Ok(frames) => {
                editing.set(None);
                ctx.send(frames);
            }
            Err(why) => edit_error.set(why),
        }
    };
    let keydown = move |e: KeyboardEvent| match e.key().as_str() {
        "Enter" => {
            e.prevent_default();
            save();
        }
        "Escape" => {
            editing.set(None);
            focus_by_id(&format!("edit-{id}"));
        }
        _ => {}
    };
    let toggle = move |_| {
        let frames = ctx.todos.update(|t| t.toggle(id));
        ctx.send(frames);
    };
    let delete = move |_| {
        let frames = ctx.todos.update(|t| t.delete(id));
        ctx.send(frames);
    };

    view! {
        li(
            class=row.with(|r| format!("todo{}{}{}",
                if r.completed { " done" } else { "" },
                if r.pending { " pending" } else { "" },
                if r.deleting { " deleting" } else { "" })),
            data-id=id.to_string(),
            aria-busy=flag(row.with(|r| r.pending)),
        ) {
            input(r#type="checkbox", id=format!("done-{id}"),
                prop:checked=row.with(|r| r.completed),
                disabled=id < 0 || row.with(|r| r.deleting),
                aria-label=row.with(|r| format!("Done: {}", r.title)),
                on:change=toggle)
            (if is_editing.get() {
                view! {
                    EditBox(text=edit_text, label=row.with_untracked(|r| format!("Rename “{}”", r.title)),
                        error=edit_error, on_key=keydown, on_blur=save)
                }
            } else {
                view! {
                    span(class="title", on:dblclick=move |_| start_edit()) {
                        (row.with(|r| r.title.clone()))
                    }
                }
            })
            (if row.with(|r| r.pending) {
                view! { span(class="badge", aria-label="saving") { "saving…" } }
            } else {
                view! {}
            })
            p(class="field-error", aria-live="polite") { (edit_error.get_clone()) }
            div(class="row-actions") {
                button(r#type="button", id=format!("edit-{id}"), class="link",
                    disabled=id < 0 || row.with(|r| r.deleting),
                    aria-label=row.with(|r| format!("Edit “{}”", r.title)),
                    on:click=move |_| start_edit()) { "Edit" }
                button(r#type="button", class="link danger",
                    disabled=id < 0 || row.with(|r| r.deleting),
                    aria-label=row.with(|r| format!("Delete “{}”", r.title)),
                    on:click=delete) { "Delete" }
            }
        }
    }
}

/// The in-place editor; focused when it appears so keyboard users can type at once.
#[component(inline_props)]
fn EditBox<K: FnMut(KeyboardEvent) + 'static, B: Fn() + Copy + 'static>(
    text: Signal<String>,
    label: String,
    error: Signal<String>,
    on_key: K,
    on_blur: B,
) -> View {
    let node = create_node_ref();
    on_mount(move || {
        if let Some(el) = node
            .try_get()
            .and_then(|n| n.dyn_into::<HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    });
    view! {
        input(r#ref=node, class="edit", r#type="text", aria-label=label, bind:value=text,
            aria-invalid=flag(!error.with(String::is_empty)), on:keydown=on_key, on:blur=move |_| on_blur())
    }
}

fn focus_by_id(id: &str) {
    let el = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<HtmlElement>().ok());
    if let Some(el) = el {
        // After the editor closes, focus returns to the row's Edit button (Escape).
        let _ = el.focus();
    }
}
