//! The login and register forms: checks made before sending (the protocol crate's own rules,
//! so the client and server agree), and where each server error is shown.

use protocol::{ApiError, Email, ErrorCode, LoginRequest, Password, RegisterRequest, parse_name};

/// Messages to show next to each field; `form` is for what belongs to no single field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors {
    pub email: Option<String>,
    pub password: Option<String>,
    pub name: Option<String>,
    pub form: Option<String>,
    /// Seconds to wait before sending again (429 `Retry-After`).
    pub retry_after: Option<u32>,
}

impl FieldErrors {
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.password.is_none()
            && self.name.is_none()
            && self.form.is_none()
    }

    fn form(message: impl Into<String>) -> Self {
        Self {
            form: Some(message.into()),
            ..Self::default()
        }
    }
}

/// "email: must be …" → "Must be …": the server's message without the field prefix.
fn without_field(message: &str) -> String {
    let rest = message
        .split_once(':')
        .map(|(_, rest)| rest.trim())
        .unwrap_or(message);
    let mut chars = rest.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Check the login form. Only presence is checked for the password: an old account may predate
/// today's rules, and the server answers the same way for every wrong password anyway.
pub fn validate_login(email: &str, password: &str) -> Result<LoginRequest, FieldErrors> {
    let mut errors = FieldErrors::default();
    let email = Email::parse(email).map_err(|e| errors.email = Some(without_field(&e.message)));
    if password.is_empty() {
        errors.password = Some("Enter your password.".into());
    }
    match email {
        Ok(email) if errors.is_empty() => Ok(LoginRequest {
            email: Some(email.into_inner()),
            password: Some(password.to_owned()),
        }),
        _ => Err(errors),
    }
}

/// Check the register form with the server's own rules.
pub fn validate_register(
    email: &str,
    password: &str,
    name: &str,
) -> Result<RegisterRequest, FieldErrors> {
    let mut errors = FieldErrors::default();
    let email = Email::parse(email).map_err(|e| errors.email = Some(without_field(&e.message)));
    let password =
        Password::parse(password).map_err(|e| errors.password = Some(without_field(&e.message)));
    let name = parse_name(Some(name)).map_err(|e| errors.name = Some(without_field(&e.message)));
    match (email, password, name) {
        (Ok(email), Ok(password), Ok(name)) => Ok(RegisterRequest {
            email: Some(email.into_inner()),
            password: Some(password.as_str().to_owned()),
            name,
        }),
        _ => Err(errors),
    }
}

/// A `Retry-After` header in seconds (the only form the server sends).
pub fn parse_retry_after(header: Option<&str>) -> Option<u32> {
    header.and_then(|h| h.trim().parse::<u32>().ok())
}

/// Place a failed auth answer next to the right field.
pub fn from_server(status: u16, error: Option<&ApiError>, retry_after: Option<u32>) -> FieldErrors {
    let code = error.map(|e| e.code);
    let message = error.map(|e| e.message.as_str()).unwrap_or("");
    match (status, code) {
        (409, _) | (_, Some(ErrorCode::EmailTaken)) => FieldErrors {
            email: Some("An account with this email already exists. Log in instead?".into()),
            ..FieldErrors::default()
        },
        (422, _) => {
            let text = without_field(message);
            let mut errors = FieldErrors::default();
            match message.split_once(':').map(|(f, _)| f.trim()) {
                Some("email") => errors.email = Some(text),
                Some("password") => errors.password = Some(text),
                Some("name") => errors.name = Some(text),
                _ => errors.form = Some(message.to_owned()),
            }
            errors
        }
        (401, _) => FieldErrors {
            password: Some("Wrong email or password.".into()),
            ..FieldErrors::default()
        },
        (429, _) => {
            let secs = retry_after.unwrap_or(30);
            FieldErrors {
                form: Some(format!(
                    "Too many attempts. Try again in {secs} second{}.",
                    if secs == 1 { "" } else { "s" }
                )),
                retry_after: Some(secs),
                ..FieldErrors::default()
            }
        }
        _ => FieldErrors::form(describe_failure(status, error)),
    }
}

/// A sentence for a failed request, for banners and forms.
pub fn describe_failure(status: u16, error: Option<&ApiError>) -> String {
    match status {
        0 => "Cannot reach the server. Check your connection.".into(),
        403 => "Not allowed: this page's origin is not accepted by the server.".into(),
        404 => "Not found: it may have been deleted elsewhere.".into(),
        413 => "That is too large to send.".into(),
        429 => "Too many requests. Wait a moment.".into(),
        500 => "The server hit a bug. Try again.".into(),
        502..=504 => "The server is unavailable right now. Try again in a moment.".into(),
        _ => match error {
            Some(e) => e.message.clone(),
            None => format!("Request failed (HTTP {status})."),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_checks_every_field_with_the_servers_rules() {
        let e = validate_register("nope", "short", &"n".repeat(101)).unwrap_err();
        assert_eq!(e.email.as_deref(), Some("Must be a valid email address"));
        assert_eq!(e.password.as_deref(), Some("Must be at least 8 characters"));
        assert!(e.name.is_some());
        let ok = validate_register(" Ann@Example.com ", "long enough", " Ann ").unwrap();
        assert_eq!(ok.email.as_deref(), Some("ann@example.com"));
        assert_eq!(ok.name.as_deref(), Some("Ann"));
        assert_eq!(
            validate_register("a@b.co", "12345678", "").unwrap().name,
            None
        );
    }

    #[test]
    fn login_needs_an_email_and_a_password() {
        let e = validate_login("", "").unwrap_err();
        assert!(e.email.is_some() && e.password.is_some());
        assert!(validate_login("a@b.co", "x").is_ok());
    }

    #[test]
    fn server_errors_go_next_to_their_field() {
        let taken = ApiError::new(ErrorCode::EmailTaken, "email is taken");
        assert!(from_server(409, Some(&taken), None).email.is_some());
        let bad = ApiError::new(
            ErrorCode::ValidationFailed,
            "password: must be at most 1024 characters",
        );
        let e = from_server(422, Some(&bad), None);
        assert_eq!(
            e.password.as_deref(),
            Some("Must be at most 1024 characters")
        );
        let creds = ApiError::new(ErrorCode::InvalidCredentials, "invalid email or password");
        assert!(from_server(401, Some(&creds), None).password.is_some());
        let limited = from_server(429, None, parse_retry_after(Some(" 12 ")));
        assert_eq!(limited.retry_after, Some(12));
        assert!(limited.form.unwrap().contains("12 seconds"));
        assert!(
            from_server(503, None, None)
                .form
                .unwrap()
                .contains("unavailable")
        );
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
    }
}
