//! The assistant's answer drawn as Markdown: `crate::state::markdown` decides the tree (and what
//! is safe); this module only creates elements and text nodes from it — never `innerHTML`, so no
//! markup in an answer reaches the DOM, under the CSP as it is.
//!
//! While an answer streams, a delta only marks the text as changed; the drawing happens at most
//! once per animation frame, and replaces only the top-level blocks from the first one that
//! changed (`first_change`), so a long answer does not re-layout on every token.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use sycamore::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{Document, Element as DomElement};

use crate::state::markdown::{self, Node};

/// A DOM node for one tree node.
fn build(doc: &Document, node: &Node) -> Option<web_sys::Node> {
    match node {
        Node::Text(text) => Some(doc.create_text_node(text).into()),
        Node::Element(el) => {
            let dom = doc.create_element(el.tag).ok()?;
            for (name, value) in &el.attrs {
                dom.set_attribute(name, value).ok()?;
            }
            for child in &el.children {
                if let Some(c) = build(doc, child) {
                    dom.append_child(&c).ok()?;
                }
            }
            Some(dom.into())
        }
    }
}

/// Bring `container` from the blocks `old` to `new`, touching only what changed.
fn patch(container: &DomElement, old: &[Node], new: &[Node]) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let keep = markdown::first_change(old, new);
    // Remove from the end down to the first changed block (one DOM node per top-level block).
    let children = container.child_nodes();
    let keep_nodes = u32::try_from(keep).unwrap_or(u32::MAX);
    for i in (keep_nodes..children.length()).rev() {
        if let Some(child) = children.item(i) {
            let _ = container.remove_child(&child);
        }
    }
    for node in &new[keep..] {
        if let Some(dom) = build(&doc, node) {
            let _ = container.append_child(&dom);
        }
    }
}

/// The answer's text as Markdown. `text` may change often (streaming): see the module note.
#[component(inline_props)]
pub fn Markdown(text: ReadSignal<String>) -> View {
    let node = create_node_ref();
    // The container once mounted, and what is drawn in it now (to compare the next render with).
    // Plain cells, not signals: a frame callback may run after this view is gone.
    let container: Rc<RefCell<Option<DomElement>>> = Rc::default();
    let drawn: Rc<RefCell<Vec<Node>>> = Rc::default();
    let frame_pending = Rc::new(Cell::new(false));

    let draw = {
        let container = container.clone();
        move || {
            let Some(el) = container.borrow().clone() else {
                return;
            };
            if !text.is_alive() {
                return;
            }
            let new = text.with_untracked(|t| markdown::render(t));
            let mut old = drawn.borrow_mut();
            patch(&el, &old, &new);
            *old = new;
        }
    };
    // The first draw is immediate (a saved message appears whole, with no flash of nothing).
    on_mount({
        let draw = draw.clone();
        let container = container.clone();
        move || {
            *container.borrow_mut() = node.try_get().and_then(|n| n.dyn_into::<DomElement>().ok());
            draw();
        }
    });
    on_cleanup({
        let container = container.clone();
        move || *container.borrow_mut() = None
    });
    // Later changes: one draw per animation frame, however many deltas arrived meanwhile.
    create_effect(move || {
        text.track();
        if container.borrow().is_none() || frame_pending.get() {
            return;
        }
        let Some(window) = web_sys::window() else {
            return;
        };
        frame_pending.set(true);
        let pending = frame_pending.clone();
        let draw = draw.clone();
        let callback = Closure::once_into_js(move || {
            pending.set(false);
            draw();
        });
        if window
            .request_animation_frame(callback.unchecked_ref())
            .is_err()
        {
            frame_pending.set(false);
        }
    });
    view! { div(class="md", r#ref=node) }
}
