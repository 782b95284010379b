//! String helpers for the parser: case-insensitive prefix/suffix/search at char boundaries,
//! splitting outside quotes, and the normal form a message is read in.

/// One line, single spaces, straight apostrophes, no trailing punctuation.
pub(super) fn normalize(s: &str) -> String {
    let s = s.replace(['’', '‘'], "'");
    let s: String = s
        .split([' ', '\t', '\r'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    s.trim()
        .trim_end_matches(['.', '!', '?', ' '])
        .trim()
        .to_owned()
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '“' | '”')
}

/// Splits at any of `seps` (case-insensitive) outside double quotes, so a quoted title keeps
/// its "and"s. Returns (the separator before the piece, the piece).
pub(super) fn split_with_separators<'a>(
    s: &'a str,
    seps: &[&'static str],
) -> Vec<(&'static str, &'a str)> {
    let mut out = Vec::new();
    let mut in_quote = false;
    let mut start = 0;
    let mut last_sep: &'static str = "";
    let mut i = 0;
    while i < s.len() {
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        if is_quote(c) {
            in_quote = !in_quote;
        } else if let Some(sep) = seps
            .iter()
            .find(|sep| !in_quote && starts_with_ci(&s[i..], sep))
        {
            out.push((last_sep, &s[start..i]));
            last_sep = sep;
            i += sep.len();
            start = i;
            continue;
        }
        i += c.len_utf8();
    }
    out.push((last_sep, &s[start..]));
    out
}

pub(super) fn starts_with_ci(s: &str, p: &str) -> bool {
    s.len() >= p.len()
        && s.is_char_boundary(p.len())
        && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

pub(super) fn strip_prefix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    starts_with_ci(s, p).then(|| &s[p.len()..])
}

pub(super) fn strip_suffix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    let n = s.len().checked_sub(p.len())?;
    (s.is_char_boundary(n) && s.as_bytes()[n..].eq_ignore_ascii_case(p.as_bytes())).then(|| &s[..n])
}

/// The first position of `p` in `s`, case-insensitive, at a char boundary.
pub(super) fn find_ci(s: &str, p: &str) -> Option<usize> {
    (0..s.len()).find(|&i| s.is_char_boundary(i) && starts_with_ci(&s[i..], p))
}

pub(super) fn first_prefix<'a>(s: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes
        .iter()
        .find_map(|p| strip_prefix_ci(s, p))
        .map(str::trim)
}

/// Every position of any of `seps` in `s`, left to right: (index, separator length).
pub(super) fn split_points(s: &str, seps: &[&str]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for i in 0..s.len() {
        if !s.is_char_boundary(i) {
            continue;
        }
        if let Some(sep) = seps.iter().find(|p| starts_with_ci(&s[i..], p)) {
            out.push((i, sep.len()));
        }
    }
    out
}

pub(super) fn strip_quotes(s: &str) -> &str {
    let s = s.trim();
    for (open, close) in [('"', '"'), ('“', '”'), ('\'', '\''), ('«', '»')] {
        if let Some(inner) = s.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
            return inner.trim();
        }
    }
    s
}
