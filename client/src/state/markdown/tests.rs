use super::*;

fn el(tag: &'static str, children: Vec<Node>) -> Node {
    Element::node(tag, children)
}

fn text(s: &str) -> Node {
    Node::Text(s.into())
}

/// Every element tag in the tree, depth first.
fn tags(nodes: &[Node]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for n in nodes {
        if let Node::Element(e) = n {
            out.push(e.tag);
            out.extend(tags(&e.children));
        }
    }
    out
}

/// The tree as compact HTML-like text, for readable assertions (tests only: the page never
/// sees markup).
fn show(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| match n {
            Node::Text(t) => t.clone(),
            Node::Element(e) => {
                let attrs: String = e.attrs.iter().map(|(k, v)| format!(" {k}={v:?}")).collect();
                format!("<{}{attrs}>{}</{}>", e.tag, show(&e.children), e.tag)
            }
        })
        .collect()
}

#[test]
fn paragraphs_emphasis_and_inline_code() {
    assert_eq!(
        render("Hello *there* and **you**.\n\nUse `cargo test`."),
        vec![
            el(
                "p",
                vec![
                    text("Hello "),
                    el("em", vec![text("there")]),
                    text(" and "),
                    el("strong", vec![text("you")]),
                    text("."),
                ]
            ),
            el(
                "p",
                vec![
                    text("Use "),
                    el("code", vec![text("cargo test")]),
                    text(".")
                ]
            ),
        ]
    );
}

#[test]
fn emphasis_follows_commonmark_rules() {
    let cases = [
        ("***both***", "<p><em><strong>both</strong></em></p>"),
        (
            "__strong__ and _em_",
            "<p><strong>strong</strong> and <em>em</em></p>",
        ),
        ("snake_case_name stays", "<p>snake_case_name stays</p>"),
        ("2 * 3 * 4", "<p>2 * 3 * 4</p>"),
        ("*not closed", "<p>*not closed</p>"),
        ("~~gone~~ but ~one~", "<p><del>gone</del> but ~one~</p>"),
        ("*a **b** c*", "<p><em>a <strong>b</strong> c</em></p>"),
        ("\\*escaped\\*", "<p>*escaped*</p>"),
        ("``a ` b``", "<p><code>a ` b</code></p>"),
        ("`*not em*`", "<p><code>*not em*</code></p>"),
    ];
    for (input, want) in cases {
        assert_eq!(show(&render(input)), *want, "{input}");
    }
    assert_eq!(
        render("a &amp; b &lt;i&gt; &#65;&#x42; &unknown;"),
        vec![el("p", vec![text("a & b <i> AB &unknown;")])]
    );
}

#[test]
fn lists_and_code_blocks() {
    let nodes = render(
        "Your tasks:\n\n- buy milk\n- call *mom*\n  - nested\n\n3. three\n4. four\n\n```rust\nfn main() {}\n```\n",
    );
    assert_eq!(
        show(&nodes),
        "<p>Your tasks:</p>\
         <ul><li>buy milk</li><li>call <em>mom</em><ul><li>nested</li></ul></li></ul>\
         <ol start=\"3\"><li>three</li><li>four</li></ol>\
         <pre data-lang=\"rust\"><code>fn main() {}\n</code></pre>"
    );
}

#[test]
fn loose_lists_keep_their_paragraphs_and_items_continue_lazily() {
    assert_eq!(
        show(&render("1. first\n\n2. second\nstill second")),
        "<ol><li><p>first</p></li><li><p>second\nstill second</p></li></ol>"
    );
    // A paragraph is not interrupted by "2." (only a list starting at 1 may interrupt it).
    assert_eq!(
        show(&render("in 2024\n2. is a year")),
        "<p>in 2024\n2. is a year</p>"
    );
}

#[test]
fn other_blocks() {
    assert_eq!(
        show(&render(
            "# Title #\n### Small\n> quoted\nlazy\n\n---\nline one  \nline two\\\nthree"
        )),
        "<h3>Title</h3><h4>Small</h4><blockquote><p>quoted\nlazy</p></blockquote><hr></hr>\
         <p>line one<br></br>line two<br></br>three</p>"
    );
    assert_eq!(show(&render("#hashtag")), "<p>#hashtag</p>");
    assert_eq!(
        show(&render("~~~\n```\n~~~")),
        "<pre><code>```\n</code></pre>"
    );
}

#[test]
fn links_open_in_a_new_tab_without_an_opener() {
    assert_eq!(
        show(&render(
            "See [the *docs*](https://example.com/a?b=(1) \"Docs\") or <https://x.io/p>."
        )),
        "<p>See <a href=\"https://example.com/a?b=(1)\" title=\"Docs\" target=\"_blank\" rel=\"noopener noreferrer\">the <em>docs</em></a> \
         or <a href=\"https://x.io/p\" target=\"_blank\" rel=\"noopener noreferrer\">https://x.io/p</a>.</p>"
    );
    // Not a link: brackets without a destination stay text.
    assert_eq!(show(&render("[x] done and [y]")), "<p>[x] done and [y]</p>");
}

#[test]
fn raw_html_is_text_never_markup() {
    let attack = "<img src=x onerror=alert(1)>";
    for input in [
        attack.to_owned(),
        format!("Look: {attack} here <b>bold</b>"),
        format!("- {attack}"),
        format!("[{attack}](https://example.com)"),
    ] {
        let nodes = render(&input);
        assert!(
            tags(&nodes)
                .iter()
                .all(|t| ["p", "ul", "li", "a"].contains(t)),
            "{input}: {:?}",
            tags(&nodes)
        );
        assert!(show(&nodes).contains(attack), "{input}: {}", show(&nodes));
    }
}

#[test]
fn dangerous_links_and_images_lose_their_url() {
    for url in [
        "javascript:alert(1)",
        "JaVa\tScRiPt:alert(1)",
        "data:text/html,x",
        "vbscript:x",
    ] {
        let nodes = render(&format!("[click](<{url}>)"));
        assert_eq!(show(&nodes), "<p><span>click</span></p>", "{url}");
    }
    assert_eq!(
        show(&render("<javascript:alert(1)>")),
        "<p><span>javascript:alert(1)</span></p>"
    );
    assert_eq!(
        safe_href("mailto:ada@example.com").as_deref(),
        Some("mailto:ada@example.com")
    );
    assert_eq!(safe_href("/api/todos").as_deref(), Some("/api/todos"));
    assert_eq!(safe_href("#top").as_deref(), Some("#top"));
    // An image is its alt text, with no element that would fetch it.
    assert_eq!(
        show(&render("![a cat](https://example.com/cat.png)")),
        "<p><span>a cat</span></p>"
    );
}

#[test]
fn an_unfinished_stream_still_renders() {
    // Mid-answer: an open code fence, an open emphasis, half a link.
    assert_eq!(
        tags(&render("Here:\n\n```\nlet x = 1;")),
        ["p", "pre", "code"]
    );
    assert_eq!(show(&render("so *very")), "<p>so *very</p>");
    assert_eq!(show(&render("see [the do")), "<p>see [the do</p>");
    assert_eq!(show(&render("- a\n- ")), "<ul><li>a</li><li></li></ul>");
}

#[test]
fn only_the_blocks_after_the_first_change_are_redrawn() {
    let before = render("First.\n\n- a\n- b\n\nThird is stre");
    let after = render("First.\n\n- a\n- b\n\nThird is streaming.");
    assert_eq!(first_change(&before, &after), 2);
    assert_eq!(first_change(&after, &after), 3);
    let longer = render("First.\n\n- a\n- b\n\nThird is streaming.\n\nFourth");
    assert_eq!(first_change(&after, &longer), 3);
    assert_eq!(first_change(&[], &longer), 0);
}
