//! The `Idempotency-Key` request header on every write (the IETF httpapi draft
//! "The Idempotency-Key HTTP Header Field"): a client that does not know whether its
//! write landed (a timeout, a dropped connection) sends it again with the same key and
//! gets the first answer, and nothing is written twice.
//!
//! - The same key with the same request answers what the first did (the same event
//!   numbers), whether the first is still being written, done, or from before a restart.
//! - The same key with another request is refused with 422 naming `idempotency-key`.
//! - Keys are the client's own: the store keys them by who sent them, so two users'
//!   keys never meet.
//! - Keys are kept at least 24 hours and at most a bounded number at once
//!   (`careledger_store::request_keys`): beyond it a new key is answered 503 with
//!   Retry-After, never dropped early.
//!
//! "The same request" is the request's JSON as parsed (so key order and white space do
//! not matter), with its method and path: what the client sent, not what the service
//! filled in (an omitted `occurred_at` is "now" on each try, and must not make a retry
//! look like another request).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;

use careledger_store::RequestKey;

use crate::problem::ApiError;
use crate::App;

/// The header's name.
pub const HEADER: &str = "idempotency-key";

/// Longest header value, in characters (the draft suggests UUIDs; this leaves room for
/// any scheme).
pub const VALUE_CHARS_MAX: usize = 255;

/// What [`parse`] accepts, as the OpenAPI document's `pattern`: a structured-field string
/// (printable ASCII, `\"` and `\\` escaped) or a bare key of visible ASCII without quotes,
/// backslashes or spaces.
pub const PATTERN: &str = r#"^(?:"(?:[ !#-\[\]-~]|\\["\\])+"|[!#-\[\]-~]+)$"#;

/// The client's key, if it sent one.
pub struct IdempotencyKey(pub Option<String>);

impl FromRequestParts<App> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(IdempotencyKey(None));
        };
        if values.next().is_some() {
            return Err(bad("send one Idempotency-Key header, not several"));
        }
        let text = value
            .to_str()
            .map_err(|_| bad("the Idempotency-Key must be printable ASCII"))?;
        parse(text).map(|k| IdempotencyKey(Some(k)))
    }
}

fn bad(detail: &str) -> ApiError {
    ApiError::bad_request(HEADER, detail.to_string())
}

/// The key in the header's value: a structured-field string (`"8e03978e-..."`, as the
/// draft writes it) or the bare key, as many clients send it ([`PATTERN`]).
pub fn parse(value: &str) -> Result<String, ApiError> {
    if value.is_empty() {
        return Err(bad("the Idempotency-Key is empty"));
    }
    if value.chars().count() > VALUE_CHARS_MAX {
        return Err(bad(&format!(
            "the Idempotency-Key is longer than {VALUE_CHARS_MAX} characters"
        )));
    }
    let visible = |c: char| ('!'..='~').contains(&c) && c != '"' && c != '\\';
    let Some(rest) = value.strip_prefix('"') else {
        if !value.chars().all(visible) {
            return Err(bad(
                "a bare Idempotency-Key is visible ASCII without spaces, quotes or \
                 backslashes; quote any other key as a string (\"...\")",
            ));
        }
        return Ok(value.to_string());
    };
    let inner = rest
        .strip_suffix('"')
        .ok_or_else(|| bad("the Idempotency-Key's string has no closing quote"))?;
    let mut key = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('"' | '\\')) => key.push(e),
                _ => return Err(bad("the Idempotency-Key has a bad escape")),
            },
            '"' => return Err(bad("the Idempotency-Key has a stray quote")),
            c if c == ' ' || visible(c) => key.push(c),
            _ => return Err(bad("the Idempotency-Key must be printable ASCII")),
        }
    }
    if key.is_empty() {
        return Err(bad("the Idempotency-Key is empty"));
    }
    Ok(key)
}

impl IdempotencyKey {
    /// The store's key for this client's request `what` (method and path) with `body`:
    /// scoped by who sent it.
    pub fn for_request(
        &self,
        who: &str,
        what: &str,
        body: &impl Serialize,
    ) -> Result<Option<RequestKey>, ApiError> {
        let Some(key) = &self.0 else {
            return Ok(None);
        };
        let mut scoped = Vec::with_capacity(who.len() + 1 + key.len());
        scoped.extend_from_slice(who.as_bytes());
        scoped.push(0);
        scoped.extend_from_slice(key.as_bytes());
        let json = serde_json::to_vec(body)
            .map_err(|e| ApiError::internal(format!("the request does not serialize: {e}")))?;
        let mut hasher = blake3::Hasher::new();
        hasher.update(what.as_bytes());
        hasher.update(&[0]);
        hasher.update(&json);
        Ok(Some(RequestKey {
            key: scoped,
            digest: *hasher.finalize().as_bytes(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn keys_are_structured_strings_or_bare() {
        assert_eq!(parse("\"abc-1\"").unwrap(), "abc-1");
        assert_eq!(parse("abc-1").unwrap(), "abc-1");
        assert_eq!(parse("\"a\\\"b\"").unwrap(), "a\"b");
        assert_eq!(parse("\"a b\"").unwrap(), "a b");
        for bad in [
            "",
            "\"\"",
            "\"abc",
            "\"a\"b\"",
            "\"a\\nb\"",
            "caf\u{e9}",
            "a b",
            "a\\b",
            "ab\"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&"k".repeat(256)).is_err());
        assert!(parse(&"k".repeat(255)).is_ok());
    }
}
