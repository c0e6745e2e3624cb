//! Extractors: the authenticated principal, JSON bodies and query parameters, each turning
//! bad input into a problem document that names the field.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use careledger_care::TimeUs;
use chrono::{DateTime, SecondsFormat};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::auth::{Principal, Rejected};
use crate::{ApiError, App};

/// The principal a request runs as, from its bearer token.
pub struct Auth(pub Principal);

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let client = parts
            .extensions
            .get::<ConnectInfo<crate::ClientAddr>>()
            .map(|c| c.0 .0.ip());
        let header = match parts.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| {
                ApiError::unauthorized("the Authorization header is not readable text")
            })?),
        };
        match app
            .auth
            .authenticate(client, header, careledger_store::now_us())
        {
            Ok(p) => Ok(Auth(p)),
            Err(Rejected::Missing) => {
                app.metrics.auth_failures.fetch_add(1, Relaxed);
                Err(ApiError::unauthorized(
                    "send a bearer token: Authorization: Bearer clt_...",
                ))
            }
            Err(Rejected::Invalid) => {
                app.metrics.auth_failures.fetch_add(1, Relaxed);
                Err(ApiError::unauthorized(
                    "the bearer token is not valid (unknown, revoked or expired)",
                ))
            }
            Err(Rejected::TooManyAttempts(seconds)) => {
                app.metrics.auth_locked_out.fetch_add(1, Relaxed);
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-attempts",
                    format!("too many failed attempts from this client; retry after {seconds} s"),
                )
                .field("authorization");
                e.retry_after = Some(seconds);
                Err(e)
            }
        }
    }
}

/// A JSON body of at most [`crate::Limits::body_bytes_max`] bytes, parsed with the path of
/// any field at fault.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> Result<Self, ApiError> {
        let bytes = read_json_bytes(req, app).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The body's bytes, after checking its type and size.
async fn read_json_bytes(req: Request, app: &App) -> Result<axum::body::Bytes, ApiError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || v.starts_with("application/json;")
        });
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as JSON with Content-Type: application/json",
        )
        .field("content-type"));
    }
    let max = app.limits.body_bytes_max;
    axum::body::to_bytes(req.into_body(), max)
        .await
        .map_err(|e| body_error(e, max))
}

/// Only the size limit is 413; a body that fails to arrive (the client reset the
/// connection, a malformed chunked encoding) is 400, saying why.
fn body_error(error: axum::Error, max: usize) -> ApiError {
    // `to_bytes` boxes the limit's error, and axum may have boxed it once more.
    let mut inner = error.into_inner();
    loop {
        match inner.downcast::<axum::Error>() {
            Ok(wrapped) => inner = wrapped.into_inner(),
            Err(other) => {
                inner = other;
                break;
            }
        }
    }
    if inner.is::<http_body_util::LengthLimitError>() {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("the body is larger than {max} bytes"),
        )
        .field("body");
    }
    ApiError::bad_request(
        "body",
        format!("the body could not be read to its end: {inner}"),
    )
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde reads an array as a struct's fields in order; a body is always an object here.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => {
            return Err(ApiError::bad_request(
                "body",
                "the body is empty; send a JSON object",
            ))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "body",
                "the body must be a JSON object",
            ))
        }
    }
    // A JSON object read into a map (a payload) keeps the last of two equal keys: refuse
    // the second, naming it, before anything is read.
    use careledger_care::input::{unique_keys, KeyError};
    unique_keys(&mut serde_json::Deserializer::from_slice(bytes)).map_err(|e| match e {
        KeyError::Twice { path } => ApiError::bad_request(
            path.clone(),
            format!("{path} is given twice; give each key once"),
        ),
        KeyError::Input(e) => ApiError::bad_request("body", format!("malformed JSON: {e}")),
    })?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| json_error(&e))?;
    de.end()
        .map_err(|e| ApiError::bad_request("body", format!("malformed JSON: {e}")))?;
    Ok(value)
}

fn json_error(e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::bad_request("body", format!("malformed JSON: {inner}"));
    }
    let field = if path == "." {
        "body".to_string()
    } else {
        path
    };
    ApiError::bad_request(field.clone(), format!("{field}: {inner}"))
}

/// Query parameters, checked by name: an unknown parameter is refused rather than ignored,
/// so that a misspelt filter never widens a read.
pub struct Params(BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            // An empty value would filter on nothing (actor=) or start a page nowhere
            // (after=): say so rather than guess.
            if v.is_empty() {
                return Err(ApiError::bad_request(
                    k.to_string(),
                    format!("query parameter {k:?} is empty; leave it out or give it a value"),
                ));
            }
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(ApiError::bad_request(
                    k.to_string(),
                    format!("query parameter {k:?} is given twice"),
                ));
            }
        }
        Ok(Params(map))
    }
}

impl Params {
    /// Refuses any parameter not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ApiError::bad_request(
                k.clone(),
                format!(
                    "unknown query parameter {k:?}; this endpoint takes {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )),
            None => Ok(()),
        }
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.str(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(name, format!("{name} must be a whole number, not {v:?}"))
                })
            })
            .transpose()
    }

    /// `limit`, defaulted and bounded.
    pub fn limit(&self, app: &App) -> Result<usize, ApiError> {
        let max = app.limits.page_items_max;
        match self.u64("limit")? {
            None => Ok(app.limits.page_items_default.min(max)),
            Some(0) => Err(ApiError::bad_request("limit", "limit must be at least 1")),
            Some(n) if n > max as u64 => Err(ApiError::bad_request(
                "limit",
                format!("limit {n} is more than the page maximum of {max}"),
            )),
            Some(n) => Ok(n as usize),
        }
    }

    pub fn time(&self, name: &str) -> Result<Option<TimeUs>, ApiError> {
        self.str(name).map(|v| parse_time(name, v)).transpose()
    }

    /// A vocabulary value (role, category, purpose) by its JSON name.
    pub fn name<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.str(name)
            .map(|v| {
                serde_json::from_value(serde_json::Value::String(v.to_string()))
                    .map_err(|e| ApiError::bad_request(name, format!("{name}: {e}")))
            })
            .transpose()
    }
}

/// RFC 3339 with an offset, to microseconds since the epoch.
pub fn parse_time(field: &str, text: &str) -> Result<TimeUs, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|e| {
            ApiError::bad_request(
                field,
                format!(
                    "{field} {text:?} is not an RFC 3339 time such as 2026-11-25T09:30:00Z ({e})"
                ),
            )
        })
}

/// Microseconds since the epoch as RFC 3339 UTC with microseconds, as docs/FORMAT.md writes times.
pub fn time(us: TimeUs) -> String {
    DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        .unwrap_or_else(|| us.to_string())
}

/// A path parameter, whose rejection (a segment that is not UTF-8 once percent-decoded, a
/// value of the wrong type) is a problem document naming the parameter, like every other
/// error, rather than axum's plain-text answer.
pub struct PathArg<T>(pub T);

impl<T, S> FromRequestParts<S> for PathArg<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathArg(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(match e.into_kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => ApiError::bad_request(
                    key.clone(),
                    format!("the path parameter {key} is not valid UTF-8 once percent-decoded"),
                ),
                ErrorKind::ParseErrorAtKey {
                    key,
                    value,
                    expected_type,
                } => ApiError::bad_request(
                    key.clone(),
                    format!("the path parameter {key} must be {expected_type}, not {value:?}"),
                ),
                other => ApiError::bad_request("path", format!("the path is not valid: {other}")),
            }),
            Err(other) => Err(ApiError::bad_request(
                "path",
                format!("the path is not valid: {other}"),
            )),
        }
    }
}

/// An optional whole number that may be written as `30` or `30.0` (JSON Schema counts both
/// as integers, so the API does too); a fraction or a number out of range is refused.
pub fn whole_number<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(de)? else {
        return Ok(None);
    };
    let whole = n
        .as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        })
        .ok_or_else(|| D::Error::custom(format!("expected a whole number, not {n}")))?;
    T::try_from(whole)
        .map(Some)
        .map_err(|_| D::Error::custom(format!("{whole} is out of range")))
}

/// Rewrites every number with no fraction (`30.0`) as the integer it is, so that payload
/// fields typed as integers accept what JSON Schema calls an integer. Fields typed as
/// floating point read an integer just as well.
pub fn integral_floats_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                if f >= 0.0 && f <= u64::MAX as f64 {
                    *value = Value::from(f as u64);
                } else if f < 0.0 && f >= i64::MIN as f64 {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}
