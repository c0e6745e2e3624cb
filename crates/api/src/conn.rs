//! A connection's bytes: on their way out, so that the answers hyper writes itself are
//! problem documents like every other error; and on their way in, counted.
//!
//! hyper answers a request it cannot parse (a raw byte above 0x7F in the request-target,
//! a malformed request line or header, headers over its limit) before any handler runs,
//! with a bare status line, `content-length: 0` and no body, and then closes the
//! connection. Every answer the router gives carries a `content-type`, so a head with
//! `content-length: 0` and no `content-type` and a 4xx or 5xx status can only be hyper's:
//! [`ProblemIo`] rewrites that one write into the same head with a problem+json body.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::problem::Problem;

/// Longest head hyper writes for its own error answers (status line, date, length).
const OWN_HEAD_BYTES_MAX: usize = 256;

/// An IO stream whose hyper-made error heads are rewritten as problem documents.
pub struct ProblemIo<I> {
    inner: I,
    /// A rewritten answer still being written, and the length of hyper's original write,
    /// reported to hyper once the rewrite is all out.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<I> ProblemIo<I> {
    pub fn new(inner: I) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// hyper's own error head, if `buf` is one: its status code and the head's header lines
/// other than `content-length`.
fn own_error_head(buf: &[u8]) -> Option<(u16, Vec<&[u8]>)> {
    if buf.len() > OWN_HEAD_BYTES_MAX || !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(buf).ok()?;
    let mut lines = text.trim_end().split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    if status < 400 {
        return None;
    }
    let mut zero_length = false;
    let mut kept = Vec::new();
    for line in lines {
        let name = line.split(':').next()?.trim().to_ascii_lowercase();
        match name.as_str() {
            "content-type" => return None,
            "content-length" => zero_length = line.split(':').nth(1)?.trim() == "0",
            _ => kept.push(line.as_bytes()),
        }
    }
    zero_length.then_some((status, kept))
}

/// The problem document for hyper's own answer with `status`.
fn rewrite(status: u16, headers: &[&[u8]]) -> Vec<u8> {
    let (kind, title, detail) = match status {
        400 => (
            "invalid-request",
            "The request is not valid",
            "the request line or a header is not valid HTTP/1.1 (a path may hold only ASCII: \
             percent-encode any other byte)",
        ),
        431 => (
            "invalid-request",
            "The request is not valid",
            "the request's headers are larger than the service accepts",
        ),
        _ => (
            "invalid-request",
            "The request is not valid",
            "the request could not be read as HTTP/1.1",
        ),
    };
    let body = serde_json::to_vec(&Problem {
        r#type: format!("https://careledger.example/problems/{kind}"),
        title,
        status,
        detail: detail.to_string(),
        field: Some("request".into()),
        access_event: None,
    })
    .unwrap_or_default();
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for h in headers {
        out.extend_from_slice(h);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-type: application/problem+json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    out
}

impl<I: AsyncRead + Unpin> AsyncRead for ProblemIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for ProblemIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending.is_none() {
            match own_error_head(buf) {
                Some((status, headers)) => {
                    let rewritten = rewrite(status, &headers);
                    self.pending = Some((rewritten, 0, buf.len()));
                }
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        let this = &mut *self;
        let (bytes, written, original) = this.pending.as_mut().expect("set above");
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let original = *original;
        this.pending = None;
        Poll::Ready(Ok(original))
    }

    /// hyper writes a head and its body as separate buffers where the stream takes
    /// vectored writes; its own error heads come alone, with nothing after them.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
        let first = nonempty.next();
        let alone = nonempty.next().is_none();
        if self.pending.is_some() || first.is_some_and(|b| alone && own_error_head(b).is_some()) {
            return self.poll_write(cx, first.map_or(&[][..], |b| &b[..]));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An IO stream whose reads are counted in `careledger_http_received_bytes_total`: what
/// the service has taken from its clients, also from requests that never complete (a
/// client trickling its headers shows there before any request is answered).
pub struct CountedIo<I> {
    inner: I,
    app: crate::App,
}

impl<I> CountedIo<I> {
    pub fn new(inner: I, app: crate::App) -> Self {
        Self { inner, app }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for CountedIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = ready!(Pin::new(&mut this.inner).poll_read(cx, buf));
        let read = (buf.filled().len() - before) as u64;
        this.app
            .metrics
            .received_bytes
            .fetch_add(read, std::sync::atomic::Ordering::Relaxed);
        Poll::Ready(result)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for CountedIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_own_heads_are_rewritten() {
        let own = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 19:00:00 GMT\r\n\r\n";
        let (status, headers) = own_error_head(own).expect("hyper's own 400");
        assert_eq!(status, 400);
        let text = String::from_utf8(rewrite(status, &headers)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("date: Tue, 01 Dec 2026"), "{head}");
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 400);

        // Ours carry a content type; successes and non-empty bodies are left alone.
        let ours = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n";
        assert!(own_error_head(ours).is_none());
        assert!(own_error_head(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(
            own_error_head(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n").is_none()
        );
    }
}
