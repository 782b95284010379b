//! The session cookies, exactly as the contract spells them.

use protocol::{ACCESS_COOKIE, REFRESH_COOKIE, REFRESH_COOKIE_PATH};

use crate::config::Config;

/// Cookie attributes that depend on configuration.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
    pub access_max_age: u64,
    pub refresh_max_age: u64,
}

impl CookiePolicy {
    pub fn new(config: &Config) -> Self {
        Self {
            secure: config.cookie_secure,
            access_max_age: config.access_ttl.as_secs(),
            refresh_max_age: config.refresh_ttl.as_secs(),
        }
    }

    pub fn access(&self, jwt: &str) -> String {
        format!(
            "{ACCESS_COOKIE}={jwt}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{}",
            self.access_max_age,
            self.secure_attr()
        )
    }

    pub fn refresh(&self, token: &str) -> String {
        format!(
            "{REFRESH_COOKIE}={token}; HttpOnly; SameSite=Strict; Path={REFRESH_COOKIE_PATH}; Max-Age={}{}",
            self.refresh_max_age,
            self.secure_attr()
        )
    }

    /// Both cookies, expired.
    pub fn cleared(&self) -> [String; 2] {
        [
            format!(
                "{ACCESS_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{}",
                self.secure_attr()
            ),
            format!(
                "{REFRESH_COOKIE}=; HttpOnly; SameSite=Strict; Path={REFRESH_COOKIE_PATH}; Max-Age=0{}",
                self.secure_attr()
            ),
        ]
    }

    fn secure_attr(&self) -> &'static str {
        if self.secure { "; Secure" } else { "" }
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn read<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_follow_the_contract() {
        let p = CookiePolicy {
            secure: false,
            access_max_age: 900,
            refresh_max_age: 60,
        };
        assert_eq!(
            p.access("j"),
            "access_token=j; HttpOnly; SameSite=Lax; Path=/; Max-Age=900"
        );
        assert_eq!(
            p.refresh("r"),
            "refresh_token=r; HttpOnly; SameSite=Strict; Path=/api/auth; Max-Age=60"
        );
        let s = CookiePolicy { secure: true, ..p };
        assert!(s.access("j").ends_with("; Secure"));
        assert!(
            s.cleared()
                .iter()
                .all(|c| c.contains("Max-Age=0") && c.ends_with("; Secure"))
        );
        assert_eq!(
            read("a=1; access_token=xyz; b=2", "access_token"),
            Some("xyz")
        );
        assert_eq!(read("a=1", "access_token"), None);
    }
}
