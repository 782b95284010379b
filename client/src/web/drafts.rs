//! Drafts survive a reload or a crash: the todo and chat inputs and the login email are kept in
//! `sessionStorage` on every keystroke (never passwords) and restored on load; so is the
//! conversation the tab has open.

/// The todo input.
pub const TODO: &str = "draft.todo";
/// The message box.
pub const CHAT: &str = "draft.chat";
/// The login and register email.
pub const EMAIL: &str = "draft.email";
/// The id of the open conversation.
pub const OPEN_CONVERSATION: &str = "open.conversation";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

pub fn load(key: &str) -> String {
    storage()
        .and_then(|s| s.get_item(key).ok().flatten())
        .unwrap_or_default()
}

pub fn save(key: &str, value: &str) {
    if let Some(s) = storage() {
        // A full or disabled storage only loses the draft, not the app.
        let _ = if value.is_empty() {
            s.remove_item(key)
        } else {
            s.set_item(key, value)
        };
    }
}

/// Forget what this tab kept for the signed-in user (logout).
pub fn clear() {
    for key in [TODO, CHAT, OPEN_CONVERSATION] {
        save(key, "");
    }
}
