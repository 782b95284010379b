//! Input rules shared by the server (which enforces them) and the web client (which checks
//! before sending). "Parse, don't validate": each newtype can only be built valid.

use crate::error::{ApiError, ErrorCode};

/// Largest title, in characters, after trimming.
pub const TITLE_MAX_CHARS: usize = 500;
/// Largest todo description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;
/// Password length bounds, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 1024;
/// Largest email, in bytes (RFC 5321 path limit).
pub const EMAIL_MAX_LEN: usize = 254;
/// Largest display name, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// Largest chat message, in characters.
pub const CHAT_TEXT_MAX_CHARS: usize = 4_000;

fn invalid(field: &str, why: &str) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, format!("{field}: {why}"))
}

/// PostgreSQL `text` cannot hold U+0000 (SQLite would keep it and browsers would drop it), so
/// no stored text may contain it: refused as invalid input rather than failing in the database.
fn no_nul(field: &str, s: &str) -> Result<(), ApiError> {
    if s.contains('\0') {
        return Err(invalid(field, "must not contain the NUL character"));
    }
    Ok(())
}

/// The error for a required field that is absent.
pub fn missing(field: &str) -> ApiError {
    invalid(field, "is required")
}

/// A todo title: 1..=500 characters after trimming (stored trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoTitle(String);

impl TodoTitle {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(invalid("title", "must not be empty"));
        }
        if t.chars().count() > TITLE_MAX_CHARS {
            return Err(invalid(
                "title",
                &format!("must be at most {TITLE_MAX_CHARS} characters"),
            ));
        }
        no_nul("title", t)?;
        Ok(Self(t.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A todo description: at most 10,000 characters, stored as given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TodoDescription(String);

impl TodoDescription {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        if raw.chars().count() > DESCRIPTION_MAX_CHARS {
            return Err(invalid(
                "description",
                &format!("must be at most {DESCRIPTION_MAX_CHARS} characters"),
            ));
        }
        no_nul("description", raw)?;
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An email address, trimmed, lower-cased and in Unicode NFC: emails compare
/// case-insensitively, and two spellings of the same characters (a precomposed `é` or `e` +
/// a combining accent) are one address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        use unicode_normalization::UnicodeNormalization;
        // Lower-casing can leave a string that is not NFC, so normalise after it.
        let e: String = raw.trim().to_lowercase().nfc().collect();
        let bad = || invalid("email", "must be a valid email address");
        if e.is_empty()
            || e.len() > EMAIL_MAX_LEN
            || e.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        let (local, domain) = e.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.contains('@')
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(bad());
        }
        Ok(Self(e))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A password of 8..=1024 characters (never trimmed, never logged).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let n = raw.chars().count();
        if n < PASSWORD_MIN_CHARS {
            return Err(invalid(
                "password",
                &format!("must be at least {PASSWORD_MIN_CHARS} characters"),
            ));
        }
        if n > PASSWORD_MAX_CHARS {
            return Err(invalid(
                "password",
                &format!("must be at most {PASSWORD_MAX_CHARS} characters"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: trimmed, at most 100 characters; empty means none.
pub fn parse_name(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) if n.chars().count() > NAME_MAX_CHARS => Err(invalid(
            "name",
            &format!("must be at most {NAME_MAX_CHARS} characters"),
        )),
        Some(n) => no_nul("name", n).map(|()| Some(n.to_owned())),
    }
}

/// A chat message: 1..=4000 characters after trimming.
pub fn parse_chat_text(raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(invalid("text", "must not be empty"));
    }
    if t.chars().count() > CHAT_TEXT_MAX_CHARS {
        return Err(invalid(
            "text",
            &format!("must be at most {CHAT_TEXT_MAX_CHARS} characters"),
        ));
    }
    no_nul("text", t)?;
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(TodoTitle::parse("  milk ").unwrap().as_str(), "milk");
        assert!(TodoTitle::parse("   ").is_err());
        assert!(TodoTitle::parse(&"é".repeat(500)).is_ok());
        let err = TodoTitle::parse(&"é".repeat(501)).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert!(err.message.starts_with("title"));
        // NUL cannot be stored by PostgreSQL: refused everywhere text is kept.
        assert!(
            TodoTitle::parse("a\0b")
                .unwrap_err()
                .message
                .starts_with("title")
        );
        assert!(TodoDescription::parse("\0").is_err());
        assert!(parse_name(Some("n\0")).is_err());
        assert!(parse_chat_text("hi\0").is_err());
        assert!(Email::parse("a\0@b.co").is_err());
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            Email::parse(" A@Example.COM ").unwrap().as_str(),
            "a@example.com"
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@b.c",
            "a@.bc",
            "a@b.",
            "a b@c.d",
            "a@b..c",
            "a\u{0}@b.cd",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_that_differ_only_in_normalization_are_one() {
        let composed = Email::parse("jos\u{e9}@example.com").unwrap();
        let decomposed = Email::parse("jose\u{301}@example.com").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(
            Email::parse("JOSE\u{301}@EXAMPLE.COM").unwrap(),
            composed,
            "and case-insensitively"
        );
    }

    #[test]
    fn passwords_are_bounded_in_characters() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"ü".repeat(1024)).is_ok());
        assert!(Password::parse(&"ü".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pass").unwrap()),
            "Password(***)"
        );
    }
}
