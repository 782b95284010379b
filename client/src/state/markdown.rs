//! The assistant's Markdown as a small tree of allowed elements, so that the browser side only
//! creates elements and text nodes from it — never `innerHTML`.
//!
//! Safety is decided here, where it is unit-tested: raw HTML is not a thing this parser knows,
//! so `<img onerror=…>` is text like any other; images become their alt text (no request leaves
//! the page); a link keeps its `href` only when it is `http(s):`, `mailto:` or relative, and
//! always opens in a new tab with `rel="noopener noreferrer"`. Element and attribute names come
//! only from this module's constants, never from the input.
//!
//! Why not pulldown-cmark: it was the first choice and works, but it costs 71 KB gzipped in
//! wasm (30 KB of that is the table of 2,125 HTML entity names), which takes the client past its
//! 300 KB gzipped budget (measured in docs/client.md). This is the subset of CommonMark that a
//! chat answer uses — paragraphs, line breaks, ATX headings, bullet and ordered lists (nested),
//! fenced code, block quotes, rules; code spans, `*`/`_` emphasis and strong (CommonMark's
//! delimiter rules), `~~strikethrough~~`, links, autolinks, backslash escapes, the five basic
//! entities — for about a tenth of the size. Not supported (shown as text): setext headings,
//! indented code, link reference definitions, tables, HTML entities beyond the basic ones.
//!
//! Streaming: the whole answer is parsed again on each render (it is small), and [`first_change`]
//! says from which top-level block the new tree differs, so the page replaces only those blocks —
//! while an answer streams, usually just the last paragraph.

/// One node of the rendered answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Text(String),
    Element(Element),
}

/// An element; `tag` and attribute names are this module's constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub tag: &'static str,
    pub attrs: Vec<(&'static str, String)>,
    pub children: Vec<Node>,
}

impl Element {
    fn new(tag: &'static str, children: Vec<Node>) -> Self {
        Element {
            tag,
            attrs: Vec::new(),
            children,
        }
    }

    fn node(tag: &'static str, children: Vec<Node>) -> Node {
        Node::Element(Element::new(tag, children))
    }
}

/// Parse `text` into the top-level blocks to draw.
pub fn render(text: &str) -> Vec<Node> {
    let lines: Vec<&str> = text.lines().collect();
    blocks(&lines)
}

// --- blocks ------------------------------------------------------------------------------------

/// Leading spaces (a tab counts as four), and the rest of the line.
fn indent(line: &str) -> (usize, &str) {
    let mut width = 0;
    for (i, c) in line.char_indices() {
        match c {
            ' ' => width += 1,
            '\t' => width += 4 - width % 4,
            _ => return (width, &line[i..]),
        }
    }
    (width, "")
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// An opening code fence: (fence char, its length, the info string).
fn fence(line: &str) -> Option<(char, usize, &str)> {
    let (ind, rest) = indent(line);
    let ch = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = rest.chars().take_while(|c| *c == ch).count();
    let info = rest[len..].trim();
    (ind < 4 && len >= 3 && !(ch == '`' && info.contains('`'))).then_some((ch, len, info))
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let (ind, rest) = indent(line);
    let level = rest.chars().take_while(|c| *c == '#').count();
    let after = &rest[level..];
    if ind >= 4
        || !(1..=6).contains(&level)
        || !(after.is_empty() || after.starts_with([' ', '\t']))
    {
        return None;
    }
    // A closing run of #s is not part of the title.
    let title = after.trim();
    let title = match title.trim_end_matches('#') {
        t if t.is_empty() || t.ends_with([' ', '\t']) => t.trim_end(),
        _ => title,
    };
    Some((level, title))
}

fn is_rule(line: &str) -> bool {
    let (ind, rest) = indent(line);
    let Some(ch) = rest.chars().next().filter(|c| matches!(c, '-' | '*' | '_')) else {
        return false;
    };
    ind < 4
        && rest.chars().all(|c| c == ch || c == ' ' || c == '\t')
        && rest.chars().filter(|c| *c == ch).count() >= 3
}

/// A list item marker: (ordered start number, the content's column, the content).
fn list_marker(line: &str) -> Option<(Option<u64>, usize, &str)> {
    let (ind, rest) = indent(line);
    if ind >= 4 {
        return None;
    }
    let (number, marker_len) = if rest.starts_with(['-', '*', '+']) {
        (None, 1)
    } else {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || digits > 9 || !rest[digits..].starts_with(['.', ')']) {
            return None;
        }
        (rest[..digits].parse().ok(), digits + 1)
    };
    let after = &rest[marker_len..];
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let (gap, content) = indent(after);
    // "-     code" would be indented code in CommonMark; here the content simply starts after one space.
    let gap = if content.is_empty() || gap > 4 {
        1
    } else {
        gap
    };
    Some((number, ind + marker_len + gap, content))
}

/// Whether `line` starts a block that interrupts a paragraph.
fn interrupts(line: &str) -> bool {
    fence(line).is_some()
        || heading(line).is_some()
        || is_rule(line)
        || indent(line).1.starts_with('>')
        || list_marker(line)
            .is_some_and(|(n, _, content)| !content.is_empty() && n.is_none_or(|n| n == 1))
}

/// `line` without its first `width` columns of indentation (as much as it has).
fn dedent(line: &str, width: usize) -> &str {
    let mut seen = 0;
    for (i, c) in line.char_indices() {
        if seen >= width || !(c == ' ' || c == '\t') {
            return &line[i..];
        }
        seen += if c == '\t' { 4 - seen % 4 } else { 1 };
    }
    ""
}

fn blocks(lines: &[&str]) -> Vec<Node> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if is_blank(line) {
            i += 1;
        } else if let Some((ch, len, info)) = fence(line) {
            let (ind, _) = indent(line);
            let mut code = String::new();
            i += 1;
            while i < lines.len() {
                let (_, rest) = indent(lines[i]);
                if rest.starts_with(&ch.to_string().repeat(len))
                    && rest.trim_start_matches(ch).trim().is_empty()
                {
                    i += 1;
                    break;
                }
                code.push_str(dedent(lines[i], ind));
                code.push('\n');
                i += 1;
            }
            let mut pre = Element::new("pre", vec![Element::node("code", vec![Node::Text(code)])]);
            if let Some(lang) = info.split_whitespace().next() {
                pre.attrs.push(("data-lang", lang.to_owned()));
            }
            out.push(Node::Element(pre));
        } else if let Some((level, title)) = heading(line) {
            // A bubble is not a page: headings stay small (h3 and below).
            let tag = match level {
                1 | 2 => "h3",
                3 => "h4",
                _ => "h5",
            };
            out.push(Element::node(tag, inline(title)));
            i += 1;
        } else if is_rule(line) {
            out.push(Element::node("hr", Vec::new()));
            i += 1;
        } else if indent(line).1.starts_with('>') {
            let mut inner = Vec::new();
            while i < lines.len() && !is_blank(lines[i]) {
                let rest = indent(lines[i]).1;
                match rest.strip_prefix('>') {
                    Some(q) => inner.push(q.strip_prefix(' ').unwrap_or(q)),
                    // A lazy continuation line of the quoted paragraph.
                    None if !interrupts(lines[i]) => inner.push(lines[i]),
                    None => break,
                }
                i += 1;
            }
            out.push(Element::node("blockquote", blocks(&inner)));
        } else if let Some((number, _, _)) = list_marker(line) {
            i = list(lines, i, number, &mut out);
        } else {
            let start = i;
            i += 1;
            while i < lines.len() && !is_blank(lines[i]) && !interrupts(lines[i]) {
                i += 1;
            }
            out.push(Element::node("p", paragraph(&lines[start..i])));
        }
    }
    out
}

/// One list starting at `lines[i]` (ordered when `first` has a number); returns the next line.
fn list(lines: &[&str], mut i: usize, first: Option<u64>, out: &mut Vec<Node>) -> usize {
    let mut items: Vec<Vec<&str>> = Vec::new();
    let mut loose = false;
    while i < lines.len() {
        let Some((number, column, content)) = list_marker(lines[i]) else {
            break;
        };
        if number.is_some() != first.is_some() {
            break;
        }
        let mut item = vec![content];
        i += 1;
        let mut blank_before = false;
        while i < lines.len() {
            let line = lines[i];
            if is_blank(line) {
                blank_before = true;
                item.push("");
                i += 1;
                continue;
            }
            let (ind, _) = indent(line);
            if ind >= column {
                item.push(dedent(line, column));
            } else if !blank_before && !interrupts(line) && list_marker(line).is_none() {
                // A lazy continuation of the item's paragraph.
                item.push(line.trim_start());
            } else {
                break;
            }
            blank_before = false;
            i += 1;
        }
        // Blank lines at the end belong between items; between items they make the list loose.
        while item.last().is_some_and(|l| l.is_empty()) {
            item.pop();
            let same_list_goes_on = lines
                .get(i)
                .and_then(|l| list_marker(l))
                .is_some_and(|(n, _, _)| n.is_some() == first.is_some());
            if same_list_goes_on {
                loose = true;
            }
        }
        if item.iter().skip(1).any(|l| l.is_empty()) {
            loose = true;
        }
        items.push(item);
    }
    let lis = items
        .iter()
        .map(|item| {
            let mut children = blocks(item);
            // A tight list shows its paragraphs without the paragraph's margins.
            if !loose {
                children = children
                    .into_iter()
                    .flat_map(|n| match n {
                        Node::Element(e) if e.tag == "p" => e.children,
                        other => vec![other],
                    })
                    .collect();
            }
            Element::node("li", children)
        })
        .collect();
    let mut el = Element::new(if first.is_some() { "ol" } else { "ul" }, lis);
    if let Some(start) = first.filter(|n| *n != 1) {
        el.attrs.push(("start", start.to_string()));
    }
    out.push(Node::Element(el));
    i
}

/// A paragraph's lines: soft breaks between them, a hard break after two spaces or a backslash.
fn paragraph(lines: &[&str]) -> Vec<Node> {
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let last = n + 1 == lines.len();
        let line = line.trim_start();
        let hard = !last && (line.ends_with("  ") || line.ends_with('\\'));
        let content = if hard {
            line.trim_end()
                .strip_suffix('\\')
                .unwrap_or(line.trim_end())
        } else {
            line.trim_end()
        };
        for node in inline(content) {
            push_node(&mut out, node);
        }
        if hard {
            out.push(Element::node("br", Vec::new()));
        } else if !last {
            push_node(&mut out, Node::Text("\n".into()));
        }
    }
    out
}

/// Append, merging adjacent text.
fn push_node(out: &mut Vec<Node>, node: Node) {
    if let (Node::Text(new), Some(Node::Text(last))) = (&node, out.last_mut()) {
        last.push_str(new);
        return;
    }
    out.push(node);
}

// --- inlines -----------------------------------------------------------------------------------

/// Inline content on the way to its tree: delimiter runs wait for `emphasis` to pair them.
#[derive(Debug)]
enum Piece {
    Node(Node),
    Delim {
        ch: char,
        count: usize,
        open: bool,
        close: bool,
    },
}

/// Parse one run of inline text (code spans, links, emphasis, escapes).
fn inline(text: &str) -> Vec<Node> {
    let mut pieces = Vec::new();
    let mut plain = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let flush = |plain: &mut String, pieces: &mut Vec<Piece>| {
        if !plain.is_empty() {
            pieces.push(Piece::Node(Node::Text(std::mem::take(plain))));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if chars.get(i + 1).is_some_and(char::is_ascii_punctuation) => {
                plain.push(chars[i + 1]);
                i += 2;
            }
            '`' => {
                let run = count_run(&chars, i, '`');
                match find_code_end(&chars, i + run, run) {
                    Some(end) => {
                        flush(&mut plain, &mut pieces);
                        let code: String = chars[i + run..end].iter().collect();
                        let code = code.replace('\n', " ");
                        let code = match code.strip_prefix(' ').and_then(|c| c.strip_suffix(' ')) {
                            Some(inner) if !inner.trim().is_empty() => inner.to_owned(),
                            _ => code,
                        };
                        pieces.push(Piece::Node(Element::node("code", vec![Node::Text(code)])));
                        i = end + run;
                    }
                    None => {
                        plain.extend(&chars[i..i + run]);
                        i += run;
                    }
                }
            }
            '*' | '_' | '~' => {
                let run = count_run(&chars, i, c);
                let before = if i == 0 { None } else { Some(chars[i - 1]) };
                let after = chars.get(i + run).copied();
                let (open, close) = flanking(c, before, after);
                if c == '~' && run != 2 {
                    plain.extend(&chars[i..i + run]);
                } else {
                    flush(&mut plain, &mut pieces);
                    pieces.push(Piece::Delim {
                        ch: c,
                        count: run,
                        open,
                        close,
                    });
                }
                i += run;
            }
            '[' | '!' if c == '[' || chars.get(i + 1) == Some(&'[') => {
                let image = c == '!';
                let start = if image { i + 2 } else { i + 1 };
                match link_at(&chars, start) {
                    Some((label_end, dest, title, end)) => {
                        flush(&mut plain, &mut pieces);
                        let label: String = chars[start..label_end].iter().collect();
                        pieces.push(Piece::Node(link(&label, &dest, &title, image)));
                        i = end;
                    }
                    None => {
                        plain.push(c);
                        i += 1;
                    }
                }
            }
            '<' => match autolink(&chars, i) {
                Some((url, end)) => {
                    flush(&mut plain, &mut pieces);
                    pieces.push(Piece::Node(link(&url, &url, "", false)));
                    i = end;
                }
                None => {
                    plain.push('<');
                    i += 1;
                }
            },
            '&' => match entity(&chars, i) {
                Some((decoded, end)) => {
                    plain.push(decoded);
                    i = end;
                }
                None => {
                    plain.push('&');
                    i += 1;
                }
            },
            _ => {
                plain.push(c);
                i += 1;
            }
        }
    }
    flush(&mut plain, &mut pieces);
    emphasis(pieces)
}

fn count_run(chars: &[char], from: usize, c: char) -> usize {
    chars[from..].iter().take_while(|x| **x == c).count()
}

/// The start of the closing backtick run of exactly `run` backticks.
fn find_code_end(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        if chars[j] == '`' {
            let n = count_run(chars, j, '`');
            if n == run {
                return Some(j);
            }
            j += n;
        } else {
            j += 1;
        }
    }
    None
}

/// Whether a delimiter run can open and/or close emphasis (CommonMark's flanking rules).
fn flanking(c: char, before: Option<char>, after: Option<char>) -> (bool, bool) {
    let space = |x: Option<char>| x.is_none_or(char::is_whitespace);
    let punct = |x: Option<char>| {
        x.is_some_and(|x| x.is_ascii_punctuation() || (!x.is_alphanumeric() && !x.is_whitespace()))
    };
    let left = !space(after) && (!punct(after) || space(before) || punct(before));
    let right = !space(before) && (!punct(before) || space(after) || punct(after));
    if c == '_' {
        // No intraword emphasis with underscores (snake_case stays as it is).
        (
            left && (!right || punct(before)),
            right && (!left || punct(after)),
        )
    } else {
        (left, right)
    }
}

/// `[label](dest "title")` from the character after `[`: (end of label, dest, title, end).
fn link_at(chars: &[char], start: usize) -> Option<(usize, String, String, usize)> {
    // The matching `]`, allowing nested brackets and skipping escaped ones.
    let mut depth = 0;
    let mut j = start;
    let label_end = loop {
        match chars.get(j)? {
            '\\' => j += 1,
            '[' => depth += 1,
            ']' if depth == 0 => break j,
            ']' => depth -= 1,
            _ => {}
        }
        j += 1;
    };
    if chars.get(label_end + 1) != Some(&'(') {
        return None;
    }
    let mut j = label_end + 2;
    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
        j += 1;
    }
    let mut dest = String::new();
    if chars.get(j) == Some(&'<') {
        j += 1;
        loop {
            match *chars.get(j)? {
                '>' => break,
                '\n' | '<' => return None,
                c => dest.push(c),
            }
            j += 1;
        }
        j += 1;
    } else {
        let mut parens = 0;
        while let Some(&c) = chars.get(j) {
            match c {
                c if c.is_whitespace() || c.is_control() => break,
                '(' => parens += 1,
                ')' if parens == 0 => break,
                ')' => parens -= 1,
                _ => {}
            }
            dest.push(c);
            j += 1;
        }
    }
    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
        j += 1;
    }
    let mut title = String::new();
    if let Some(&q) = chars.get(j).filter(|c| matches!(c, '"' | '\'' | '(')) {
        let close = if q == '(' { ')' } else { q };
        j += 1;
        loop {
            match *chars.get(j)? {
                c if c == close => break,
                c => title.push(c),
            }
            j += 1;
        }
        j += 1;
        while chars.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
    }
    (chars.get(j) == Some(&')')).then_some((label_end, dest, title, j + 1))
}

/// `<scheme:…>`: (the URL, the end).
fn autolink(chars: &[char], start: usize) -> Option<(String, usize)> {
    let end = start + 1 + chars[start + 1..].iter().position(|c| *c == '>')?;
    let url: String = chars[start + 1..end].iter().collect();
    let scheme = url.split_once(':')?.0;
    let valid = (2..=32).contains(&scheme.len())
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
        && !url.chars().any(|c| c.is_whitespace() || c == '<');
    valid.then_some((url, end + 1))
}

/// `&amp;` and friends, and numeric references: (the character, the end).
fn entity(chars: &[char], start: usize) -> Option<(char, usize)> {
    let end = start + 1 + chars[start + 1..].iter().take(10).position(|c| *c == ';')?;
    let name: String = chars[start + 1..end].iter().collect();
    let decoded = match name.as_str() {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        n => {
            let n = n.strip_prefix('#')?;
            let code = match n.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(code)
                .filter(|c| *c != '\0')
                .unwrap_or('\u{fffd}')
        }
    };
    Some((decoded, end + 1))
}

/// A link (or an image, drawn as its alt text) with a label parsed as inline text.
fn link(label: &str, dest: &str, title: &str, image: bool) -> Node {
    let children = inline(label);
    if image {
        // No images from an answer (no request leaves the page): the alt text stays.
        return Element::node("span", children);
    }
    match safe_href(dest) {
        Some(href) => {
            let mut a = Element::new("a", children);
            a.attrs.push(("href", href));
            if !title.is_empty() {
                a.attrs.push(("title", title.to_owned()));
            }
            a.attrs.push(("target", "_blank".into()));
            a.attrs.push(("rel", "noopener noreferrer".into()));
            Node::Element(a)
        }
        // Not a link we open: its text stays.
        None => Element::node("span", children),
    }
}

/// Pair delimiter runs into `em` / `strong` / `del` (CommonMark's "process emphasis", without
/// the bottom-of-stack optimisation: answers are short).
fn emphasis(mut pieces: Vec<Piece>) -> Vec<Node> {
    let mut closer = 0;
    while closer < pieces.len() {
        let Piece::Delim {
            ch,
            count: c_count,
            open: c_open,
            close: true,
        } = pieces[closer]
        else {
            closer += 1;
            continue;
        };
        // The nearest opener of the same kind that may pair with this closer.
        let opener = (0..closer).rev().find(|&o| match pieces[o] {
            Piece::Delim {
                ch: och,
                count: o_count,
                open: true,
                close: o_close,
            } if och == ch => {
                // "Rule of three": a run that can both open and close pairs only when the sum
                // of the lengths is not a multiple of 3 (unless both are).
                !((o_close || c_open)
                    && (o_count + c_count) % 3 == 0
                    && !(o_count % 3 == 0 && c_count % 3 == 0))
            }
            _ => false,
        });
        let Some(opener) = opener else {
            closer += 1;
            continue;
        };
        let Piece::Delim { count: o_count, .. } = pieces[opener] else {
            closer += 1;
            continue;
        };
        // `~~` pairs whole; `*`/`_` take two (strong) when both runs have two.
        let used = if ch == '~' || (o_count >= 2 && c_count >= 2) {
            2
        } else {
            1
        };
        let tag = match (ch, used) {
            ('~', _) => "del",
            (_, 2) => "strong",
            _ => "em",
        };
        // Everything between becomes the element's children (unpaired runs inside are text).
        let inner: Vec<Piece> = pieces.drain(opener + 1..closer).collect();
        let mut children = Vec::new();
        for node in finish(inner) {
            push_node(&mut children, node);
        }
        let mut at = opener + 1;
        pieces.insert(at, Piece::Node(Element::node(tag, children)));
        // Shrink (or drop) the two runs.
        if let Piece::Delim { count, .. } = &mut pieces[opener] {
            *count -= used;
            if *count == 0 {
                pieces.remove(opener);
                at -= 1;
            }
        }
        closer = at + 1;
        if let Piece::Delim { count, .. } = &mut pieces[closer] {
            *count -= used;
            if *count == 0 {
                pieces.remove(closer);
            }
        }
    }
    finish(pieces)
}

/// Pieces to nodes: a delimiter run left unpaired is the text it was.
fn finish(pieces: Vec<Piece>) -> Vec<Node> {
    let mut out = Vec::new();
    for piece in pieces {
        let node = match piece {
            Piece::Node(n) => n,
            Piece::Delim { ch, count, .. } => Node::Text(std::iter::repeat_n(ch, count).collect()),
        };
        push_node(&mut out, node);
    }
    out
}

/// The `href` to use, or `None` for a scheme we do not open (`javascript:`, `data:`, …).
pub fn safe_href(url: &str) -> Option<String> {
    // Browsers ignore ASCII whitespace and control characters inside a scheme
    // ("java\tscript:"), so they are ignored here too before the scheme is read.
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect();
    match cleaned.find([':', '/', '?', '#']) {
        Some(i) if cleaned[i..].starts_with(':') => {
            let scheme = cleaned[..i].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto").then_some(cleaned)
        }
        // No scheme: a relative link, on this origin.
        _ => Some(cleaned),
    }
}

/// The index of the first top-level block that differs between two renders (the length of the
/// shorter one when one is a prefix of the other): the blocks before it can stay on the page.
pub fn first_change(old: &[Node], new: &[Node]) -> usize {
    old.iter()
        .zip(new)
        .position(|(a, b)| a != b)
        .unwrap_or(old.len().min(new.len()))
}

#[cfg(test)]
mod tests;
