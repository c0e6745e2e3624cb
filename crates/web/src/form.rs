//! Form posts: where they may come from, their token, and their fields.
//!
//! A POST is accepted only if the browser says it comes from this site: `Sec-Fetch-Site`
//! `same-origin` (or `none`, typed by the user), else an `Origin` naming this host. A
//! request with neither (an old browser, a script) must still carry the form token, which
//! only a page of this site shows: the session's own, or before sign-in the one the
//! sign-in page set in a cookie. Tokens compare in constant time.

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

/// Fields one form may have, and the longest value (a diary note is the longest text).
pub const FIELDS_MAX: usize = 64;
pub const VALUE_BYTES_MAX: usize = 20_000;

/// A parsed form body.
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// The first value of `name` as typed (a password: spaces are part of it).
    pub fn raw(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or(String::new(), |(_, v)| v.clone())
    }

    /// Every value of `name` (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The care-domain value of `value`, if it is one of the `options` a form offered (value,
/// label); the values are the care types' serde names (`LargePrint`, `SecureEmail`).
pub fn pick<T: serde::de::DeserializeOwned>(options: &[(&str, &str)], value: &str) -> Option<T> {
    options
        .iter()
        .find(|(v, _)| *v == value)
        .and_then(|(v, _)| serde_json::from_value(serde_json::Value::String((*v).into())).ok())
}

/// Why a post was refused before its fields were looked at.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    ForeignOrigin,
    NotAForm,
    TooLarge,
    BadToken,
}

impl Refused {
    pub fn response(&self) -> Response {
        let (status, title, detail) = match self {
            Refused::ForeignOrigin => (
                StatusCode::FORBIDDEN,
                "This form did not come from careledger",
                "The browser says this form was sent from another site, so nothing was recorded.",
            ),
            Refused::NotAForm => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "This was not a form",
                "Send forms as application/x-www-form-urlencoded.",
            ),
            Refused::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "This form is too large",
                "A form may hold at most 64 fields of at most 20,000 characters each; nothing was recorded.",
            ),
            Refused::BadToken => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was out of date or not from this site, so nothing was recorded. Go back, reload the page and try again.",
            ),
        };
        crate::html(status, crate::layout::problem(None, title, detail))
    }
}

/// Whether the browser says the request comes from this site.
pub fn same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            !host.is_empty() && bare == Some(host)
        }
    }
}

/// Constant-time equality of two tokens.
pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && blake3::hash(a.as_bytes()) == blake3::hash(b.as_bytes()) && a.len() == b.len()
}

/// Reads a form post: from this site, a form, within bounds. The token is checked by the
/// caller against the session's ([`check_token`]).
pub async fn read(req: Request, max: usize) -> Result<(HeaderMap, Form), Refused> {
    let (parts, body) = req.into_parts();
    if !same_site(&parts.headers) {
        return Err(Refused::ForeignOrigin);
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(Refused::NotAForm);
    }
    // The service's body limit (`Limits::body_bytes_max`, 256 KiB by default): axum's
    // layer applies it only through its extractors, so it is applied here.
    let bytes = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| Refused::TooLarge)?;
    let mut fields = Vec::new();
    for (k, v) in form_urlencoded::parse(&bytes) {
        if fields.len() >= FIELDS_MAX || v.len() > VALUE_BYTES_MAX {
            return Err(Refused::TooLarge);
        }
        // A browser sends a textarea's line breaks as CR LF (HTML's form encoding); the
        // ledger keeps a line break as LF only, and refuses any other control character.
        let v = if v.contains('\r') {
            v.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            v.into_owned()
        };
        fields.push((k.into_owned(), v));
    }
    Ok((parts.headers, Form(fields)))
}

/// The form's `_token` is `expected`.
pub fn check_token(form: &Form, expected: &str) -> Result<(), Refused> {
    if tokens_match(form.get("_token"), expected) {
        Ok(())
    } else {
        Err(Refused::BadToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn posts_from_another_site_are_refused() {
        assert!(same_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_site(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_site(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
        // Neither header: the form token decides.
        assert!(same_site(&headers(&[])));
    }

    #[test]
    fn tokens() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("", ""));
    }
}
