//! The stylesheet, compiled into the binary and served by careledger itself: pages make no
//! request anywhere else (no fonts, no CDN), which the Content-Security-Policy enforces.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

pub const CSS: &str = include_str!("../assets/site.css");
/// Cached for an hour: a new build's stylesheet reaches browsers within that.
pub const CSS_PATH: &str = "/assets/site.css";

pub async fn css() -> Response {
    let mut r = CSS.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}
