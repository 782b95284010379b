//! JSON Schemas of the validated strings, for the server's OpenAPI document (feature `schema`).
//!
//! The wire types derive `schemars::JsonSchema`; their structure (fields, `snake_case` enums,
//! optional fields) comes from the serde attributes. What serde cannot know — the rules of
//! [`crate::validate`] — is stated here, built from the same constants, so the document says
//! exactly what the server enforces:
//!
//! - "1..=500 characters after trimming" is a pattern: optional whitespace, then a text that
//!   starts and ends with a non-whitespace character, then optional whitespace. Whitespace is
//!   Rust's (`char::is_whitespace`, which `str::trim` uses), spelled out as [`WHITESPACE`]
//!   because a regex `\s` is another set (it has U+FEFF and lacks U+0085).
//! - NUL (U+0000), which PostgreSQL `text` cannot hold, is excluded wherever it is refused.
//! - `null` is allowed where serde reads it as an absent optional field.
//!
//! The patterns use only what ECMA-262, Python `re` and Rust `regex` read alike (no lookaround);
//! a test in this module holds each pattern against the parse function it describes.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use crate::validate::{
    DESCRIPTION_MAX_CHARS, EMAIL_MAX_LEN, NAME_MAX_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS,
    TITLE_MAX_CHARS,
};

/// The characters `str::trim` removes (Unicode `White_Space`), as a regex class body.
pub const WHITESPACE: &str =
    r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// Unicode control characters (`char::is_control`), as a regex class body.
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";

/// A string whose trimmed text has `min..=max` characters (`min` is 0 or 1) and no NUL.
fn trimmed(min: usize, max: usize) -> String {
    let ws = WHITESPACE;
    // The text: one non-whitespace character, or two with up to max - 2 of anything between.
    let inner = format!(
        "[^{ws}\\u0000](?:[^\\u0000]{{0,{}}}[^{ws}\\u0000])?",
        max - 2
    );
    let inner = if min == 0 {
        format!("(?:{inner})?")
    } else {
        inner
    };
    format!("^[{ws}]*{inner}[{ws}]*$")
}

/// Adds `null` to a schema's `type`.
fn or_null(mut schema: Schema) -> Schema {
    if let Some(t) = schema.get("type").cloned() {
        schema.insert("type".into(), Value::from(vec![t, Value::from("null")]));
    }
    schema
}

/// A todo title: 1..=500 characters after trimming, no NUL (`TodoTitle::parse`).
pub fn title(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": format!("1..={TITLE_MAX_CHARS} characters after trimming; stored trimmed"),
        "pattern": trimmed(1, TITLE_MAX_CHARS),
    })
}

/// An optional title (a JSON `null` counts as absent).
pub fn optional_title(g: &mut SchemaGenerator) -> Schema {
    or_null(title(g))
}

/// A todo description: at most 10,000 characters, no NUL (`TodoDescription::parse`).
pub fn description(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "maxLength": DESCRIPTION_MAX_CHARS,
        "pattern": "^[^\\u0000]*$",
    })
}

/// An optional description (a JSON `null` counts as absent).
pub fn optional_description(g: &mut SchemaGenerator) -> Schema {
    or_null(description(g))
}

/// A password: 8..=1024 characters, taken as given (`Password::parse`).
pub fn password(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "minLength": PASSWORD_MIN_CHARS,
        "maxLength": PASSWORD_MAX_CHARS,
    })
}

/// A display name: at most 100 characters after trimming, no NUL; empty or `null` is none
/// (`parse_name`).
pub fn name(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": ["string", "null"],
        "description": format!("at most {NAME_MAX_CHARS} characters after trimming; empty means none"),
        "pattern": trimmed(0, NAME_MAX_CHARS),
    })
}

/// An email address as `Email::parse` takes it: trimmed and lower-cased, one `@`, no
/// whitespace or control characters, a domain with a dot that neither starts nor ends it and
/// no empty label, at most 254 bytes.
///
/// Two patterns (in `allOf`), because one without lookaround cannot count and match the shape
/// at once. The length pattern counts characters: exact for ASCII addresses; the server's limit
/// is in UTF-8 bytes after lower-casing, so a long non-ASCII address can be refused although
/// it has at most 254 characters.
pub fn email(_: &mut SchemaGenerator) -> Schema {
    let ws = WHITESPACE;
    let atom = format!("[^{ws}{CONTROL}@.]");
    let local = format!("[^{ws}{CONTROL}@]+");
    json_schema!({
        "type": "string",
        "description": format!("an email address; compared case-insensitively; at most {EMAIL_MAX_LEN} bytes after trimming"),
        "allOf": [
            {"pattern": format!("^[{ws}]*{local}@{atom}+(?:\\.{atom}+)+[{ws}]*$")},
            {"pattern": format!("^[{ws}]*[^{ws}]{{1,{EMAIL_MAX_LEN}}}[{ws}]*$")},
        ],
    })
}

/// A transform for a patch whose fields are all optional, where an empty one is refused: at
/// least one of its properties must be present and not `null`.
pub fn at_least_one_field(schema: &mut Schema) {
    let names: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let any_of: Vec<Value> = names
        .iter()
        .map(|n| serde_json::json!({"required": [n], "properties": {n: {"not": {"type": "null"}}}}))
        .collect();
    schema.insert("anyOf".into(), Value::from(any_of));
}

#[cfg(test)]
mod tests {
    //! Each pattern against the parse function it describes, on the edge cases and on random
    //! strings drawn mostly from the characters that matter (every whitespace character, NUL,
    //! U+FEFF and U+200B that are not whitespace, `@`, `.`, letters, an astral character).

    use super::*;
    use crate::validate::{Email, TodoDescription, TodoTitle, parse_name};
    use proptest::prelude::*;
    use std::sync::LazyLock;

    /// A schema and its patterns, compiled once (a `{0,498}` repetition is slow to compile).
    struct Rule {
        schema: Schema,
        patterns: Vec<regex::Regex>,
    }

    impl Rule {
        fn new(f: fn(&mut SchemaGenerator) -> Schema) -> Self {
            let schema = f(&mut SchemaGenerator::default());
            let subs = schema.get("allOf").and_then(Value::as_array);
            let patterns: Vec<regex::Regex> = std::iter::once(schema.as_value())
                .chain(subs.into_iter().flatten())
                .filter_map(|v| v.get("pattern").and_then(Value::as_str))
                .map(|p| {
                    regex::RegexBuilder::new(p)
                        .size_limit(1 << 28)
                        .build()
                        .unwrap_or_else(|e| panic!("{p}: {e}"))
                })
                .collect();
            assert!(!patterns.is_empty());
            Self { schema, patterns }
        }

        /// Whether `s` is valid by the schema's string keywords.
        fn valid(&self, s: &str) -> bool {
            let n = s.chars().count() as u64;
            let bound = |key: &str| self.schema.get(key).and_then(Value::as_u64);
            bound("maxLength").is_none_or(|max| n <= max)
                && bound("minLength").is_none_or(|min| n >= min)
                && self.patterns.iter().all(|r| r.is_match(s))
        }
    }

    static TITLE: LazyLock<Rule> = LazyLock::new(|| Rule::new(title));
    static NAME: LazyLock<Rule> = LazyLock::new(|| Rule::new(name));
    static DESCRIPTION: LazyLock<Rule> = LazyLock::new(|| Rule::new(description));
    static EMAIL: LazyLock<Rule> = LazyLock::new(|| Rule::new(email));

    const WS: [char; 25] = [
        '\t', '\n', '\u{0B}', '\u{0C}', '\r', ' ', '\u{85}', '\u{A0}', '\u{1680}', '\u{2000}',
        '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}',
        '\u{2008}', '\u{2009}', '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}',
        '\u{3000}',
    ];

    #[test]
    fn the_whitespace_class_is_rusts() {
        let class = regex::Regex::new(&format!("^[{WHITESPACE}]$")).unwrap();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(
                class.is_match(c.encode_utf8(&mut [0; 4])),
                c.is_whitespace(),
                "U+{:04X}",
                c as u32
            );
        }
        assert!(WS.iter().all(|c| c.is_whitespace()));
    }

    #[test]
    fn edge_cases_agree_with_the_parsers() {
        let long = |n: usize, c: char| c.to_string().repeat(n);
        for (s, ok) in [
            ("a", true),
            ("", false),
            (" \u{85}\u{3000} ", false),
            ("\u{FEFF}", true),
            ("\u{200B}", true),
            ("  milk  ", true),
            ("a\nb", true),
            ("a\0b", false),
            (&long(500, '😀'), true),
            (&long(501, 'x'), false),
            (&format!("\u{85}{}\u{2028}", long(500, 'é')), true),
        ] {
            assert_eq!(TITLE.valid(s), ok, "title {s:?}");
            assert_eq!(TodoTitle::parse(s).is_ok(), ok, "TodoTitle {s:?}");
        }
        for s in [
            "",
            "   ",
            "Ada",
            &long(100, 'n'),
            &format!(" {} ", long(100, 'n')),
        ] {
            assert!(NAME.valid(s) && parse_name(Some(s)).is_ok(), "{s:?}");
        }
        assert!(!NAME.valid(&long(101, 'n')) && parse_name(Some(&long(101, 'n'))).is_err());
        for (s, ok) in [("", true), (" x ", true), ("\0", false)] {
            assert_eq!(DESCRIPTION.valid(s), ok);
            assert_eq!(TodoDescription::parse(s).is_ok(), ok);
        }
        let (at_max, over) = (long(10_000, 'd'), long(10_001, 'd'));
        assert!(DESCRIPTION.valid(&at_max) && !DESCRIPTION.valid(&over));
        for s in [
            "a@b.co",
            " A@Example.COM ",
            "a.b+c@d.e.f",
            &format!("{}@b.co", long(249, 'a')),
        ] {
            assert!(EMAIL.valid(s) && Email::parse(s).is_ok(), "{s:?}");
        }
        for s in [
            "a@b",
            "@b.co",
            "a@.bc",
            "a@b.",
            "a@b..c",
            "a b@c.d",
            "a@b@c.d",
            "a\u{0}@b.cd",
            "a\u{9F}@b.cd",
            &format!("{}@b.co", long(250, 'a')),
        ] {
            assert!(!EMAIL.valid(s) && Email::parse(s).is_err(), "{s:?}");
        }
    }

    /// Mostly the characters the rules are about, some plain ones.
    fn tricky() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            4 => proptest::sample::select(WS.to_vec()),
            1 => Just('\0'),
            1 => Just('\u{FEFF}'),
            1 => Just('\u{200B}'),
            1 => Just('\u{9F}'),
            2 => Just('@'),
            2 => Just('.'),
            1 => Just('😀'),
            6 => proptest::char::range('a', 'e'),
        ];
        proptest::collection::vec(c, 0..12).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn patterns_accept_exactly_what_the_parsers_accept(s in tricky()) {
            prop_assert_eq!(TITLE.valid(&s), TodoTitle::parse(&s).is_ok());
            prop_assert_eq!(NAME.valid(&s), parse_name(Some(&s)).is_ok());
            prop_assert_eq!(DESCRIPTION.valid(&s), TodoDescription::parse(&s).is_ok());
            prop_assert_eq!(EMAIL.valid(&s), Email::parse(&s).is_ok());
        }
    }
}
