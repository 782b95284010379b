//! ARIA state attributes (`aria-invalid`, `aria-pressed`, `aria-current`, `aria-busy`) take the
//! strings "true"/"false". Used inside a view with a signal read (e.g.
//! `aria-invalid=flag(errors.with(…))`), the view re-evaluates it when the signal changes, so the
//! attribute, its style (style.css) and the visible text always agree.

pub fn flag(on: bool) -> &'static str {
    if on { "true" } else { "false" }
}
