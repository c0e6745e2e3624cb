//! A `careledger serve` (or `replica`) process and a tiny HTTP/1.1 client to talk to it,
//! for the end-to-end tests. Every wait has a deadline, so a hung server fails its test
//! instead of hanging CI, and every server is killed when its test ends, however it ends
//! ([`Server`]'s `Drop`).

use super::careledger_within;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio_rustls::rustls;

/// From spawning `serve` to its address on stdout (the demo simulates a month of care
/// first; debug builds on a busy machine are slow).
pub const START_TIMEOUT: Duration = Duration::from_secs(180);
/// From SIGTERM to exit.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Connecting, and each read or write of one HTTP exchange.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// A CLI verb (`user`, `token`, `log`, `verify`, a `serve` that must refuse to start).
pub const CLI_TIMEOUT: Duration = Duration::from_secs(120);
/// The service notices changes to auth.json within about a second; allow for a busy machine.
pub const AUTH_RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

pub const STOPPED: &str = "careledger: stopped; every acknowledged append is durable";

// ------------------------------------------------------------------ the CLI

pub fn cli(args: &[&str]) -> std::process::Output {
    careledger_within(args, CLI_TIMEOUT)
}

/// Stdout of a CLI verb that must succeed.
pub fn cli_ok(args: &[&str]) -> String {
    let out = cli(args);
    assert!(
        out.status.success(),
        "careledger {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Exit code and stderr of a CLI verb that must fail without printing on stdout.
pub fn cli_err(args: &[&str]) -> (i32, String) {
    let out = cli(args);
    assert!(
        !out.status.success(),
        "careledger {args:?} should have failed; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "careledger {args:?} printed on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A new, empty ledger in `dir/ledger`.
pub fn init_ledger(dir: &Path) -> PathBuf {
    let data = dir.join("ledger");
    cli_ok(&["init", "--data", path_str(&data)]);
    data
}

pub fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

// ------------------------------------------------------------------ a tiny HTTP/1.1 client

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// The body as JSON, after checking the status and that it is a JSON document.
    pub fn expect_json(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text());
        assert_eq!(self.content_type(), "application/json", "{self:?}");
        self.json()
    }

    /// The body of an RFC 9457 problem document with `status`.
    pub fn expect_problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text());
        assert_eq!(self.content_type(), "application/problem+json", "{self:?}");
        let body = self.json();
        assert_eq!(body["status"], status, "{body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "a problem names what went wrong: {body}"
        );
        body
    }
}

/// The bytes of one request with `Connection: close`.
pub fn request_bytes(
    host: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: careledger-tests\r\n"
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    match body {
        Some((content_type, body)) => {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ));
            let mut bytes = head.into_bytes();
            bytes.extend_from_slice(body);
            bytes
        }
        None => {
            if method == "POST" {
                head.push_str("Content-Length: 0\r\n");
            }
            head.push_str("\r\n");
            head.into_bytes()
        }
    }
}

/// Writes `request` and reads until the server closes the connection.
pub fn exchange(stream: &mut (impl Read + Write), request: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the connection was still open after {IO_TIMEOUT:?}"),
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // rustls reports a close without close_notify this way; the response is whole
            // if it parses.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {
                return Ok(raw)
            }
            Err(e) => return Err(e),
        }
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a whole response: status line, headers, and a body by `Transfer-Encoding:
/// chunked`, `Content-Length` or the end of the connection.
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = find(raw, b"\r\n\r\n").ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    if parts.next() != Some("HTTP/1.1") {
        return Err(format!("not an HTTP/1.1 status line: {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status code in {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line {line:?}"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[end + 4..];
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    response.body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| format!("bad Content-Length {length:?}"))?;
        if rest.len() < length {
            return Err(format!("body cut short: {} of {length} bytes", rest.len()));
        }
        rest[..length].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

pub fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or("chunk size line cut short")?;
        let line = std::str::from_utf8(&rest[..line_end]).map_err(|e| e.to_string())?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
            return Err("chunk cut short".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

pub fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(tcp)
}

pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Response {
    let request = request_bytes(&addr.to_string(), method, path, token, body);
    let raw = connect(addr)
        .and_then(|mut tcp| exchange(&mut tcp, &request))
        .unwrap_or_else(|e| panic!("{method} {path} on {addr}: {e}"));
    parse_response(&raw).unwrap_or_else(|e| {
        panic!(
            "{method} {path} on {addr}: {e}: {}",
            String::from_utf8_lossy(&raw)
        )
    })
}

pub fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Response {
    http(addr, "GET", path, token, None)
}

pub fn post_json(addr: SocketAddr, path: &str, token: &str, body: &Value) -> Response {
    let bytes = body.to_string().into_bytes();
    http(
        addr,
        "POST",
        path,
        Some(token),
        Some(("application/json", &bytes)),
    )
}

/// Polls `path` until it answers 200, or fails the test.
pub fn wait_until_ok(what: &str, mut probe: impl FnMut() -> Option<Response>) -> Response {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let last = probe();
        if let Some(r) = last.as_ref().filter(|r| r.status == 200) {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{what} never answered 200; last: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ------------------------------------------------------------------ HTTPS

/// A client that trusts tests/data/tls-cert.pem and nothing else.
pub fn tls_client() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(test_data("tls-cert.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    assert_eq!(roots.len(), 1);
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// One HTTPS exchange, checking the server's certificate for `name`; also returns the
/// negotiated ALPN protocol.
pub fn https(
    addr: SocketAddr,
    name: &str,
    path: &str,
) -> std::io::Result<(Response, Option<Vec<u8>>)> {
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let connection =
        rustls::ClientConnection::new(tls_client(), server_name).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(connection, connect(addr)?);
    let raw = exchange(&mut tls, &request_bytes(name, "GET", path, None, None))?;
    let alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
    let response = parse_response(&raw).map_err(std::io::Error::other)?;
    Ok((response, alpn))
}

// ------------------------------------------------------------------ a running server

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub scheme: String,
    /// What it printed on stdout: up to the end of the banner while it runs, all of it
    /// once stopped.
    pub stdout: Vec<String>,
    pub stdout_lines: mpsc::Receiver<String>,
    /// Role name ("care worker") to (user id, token), from the demo banner.
    pub tokens: BTreeMap<String, (String, String)>,
    pub stderr: Arc<Mutex<String>>,
    pub readers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Spawns `careledger serve ARGS` and waits for its address (and, with --demo, the
    /// whole table of demo tokens).
    pub fn start(args: &[&str]) -> Server {
        Self::start_verb("serve", args)
    }

    /// Spawns `careledger VERB ARGS` (a verb that serves: `serve`, `replica`) and waits
    /// for its address.
    pub fn start_verb(verb: &str, args: &[&str]) -> Server {
        let demo = args.contains(&"--demo");
        let mut child = super::spawn(&[&[verb], args].concat(), Stdio::null());
        let stdout = child.stdout.take().unwrap();
        let mut stderr_pipe = child.stderr.take().unwrap();
        let (tx, stdout_lines) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }),
            {
                let stderr = stderr.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        match stderr_pipe.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => stderr
                                .lock()
                                .unwrap()
                                .push_str(&String::from_utf8_lossy(&buf[..n])),
                        }
                    }
                })
            },
        ];
        let mut server = Server {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            scheme: String::new(),
            stdout: Vec::new(),
            stdout_lines,
            tokens: BTreeMap::new(),
            stderr,
            readers,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        // careledger: serving DIR on SCHEME://ADDR
        let banner = server.next_line(deadline);
        let (_, url) = banner
            .strip_prefix("careledger: serving ")
            .and_then(|rest| rest.rsplit_once(" on "))
            .unwrap_or_else(|| panic!("unexpected first line {banner:?}"));
        let (scheme, addr) = url.split_once("://").unwrap();
        server.scheme = scheme.to_string();
        server.addr = addr
            .parse()
            .unwrap_or_else(|e| panic!("bad address in {banner:?}: {e}"));
        assert_ne!(server.addr.port(), 0, "the banner shows the bound port");
        if demo {
            // The sign-in links for the pages (a title, one line per role), then the
            // tokens: a blank line, the table's title, one line per role, a blank line.
            let mut links = 0;
            loop {
                let line = server.next_line(deadline);
                if line.starts_with("demo tokens") {
                    break;
                }
                if line.contains("/demo/inv_") {
                    links += 1;
                    continue;
                }
                assert!(
                    line.trim().is_empty() || line.starts_with("open careledger in a browser"),
                    "unexpected line {line:?}"
                );
            }
            assert!(links >= 11, "one sign-in link per role, not {links}");
            loop {
                let line = server.next_line(deadline);
                if line.trim().is_empty() {
                    break;
                }
                let words: Vec<&str> = line.split_whitespace().collect();
                assert!(
                    words.len() >= 3 && words[words.len() - 1].starts_with("clt_"),
                    "not a token line: {line:?}"
                );
                let token = words[words.len() - 1].to_string();
                let user = words[words.len() - 2].to_string();
                let role = words[..words.len() - 2].join(" ");
                assert!(
                    server.tokens.insert(role, (user, token)).is_none(),
                    "a role listed twice: {line:?}"
                );
            }
        }
        server
    }

    pub fn next_line(&mut self, deadline: Instant) -> String {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.stdout_lines.recv_timeout(wait) {
            Ok(line) => {
                self.stdout.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "serve printed nothing more within {START_TIMEOUT:?}; stdout so far: {:?}; stderr: {}",
                self.stdout,
                self.stderr()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let deadline = Instant::now() + STOP_TIMEOUT;
                while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                panic!(
                    "serve closed stdout ({:?}) before its banner; stdout: {:?}; stderr: {}",
                    self.child.try_wait(),
                    self.stdout,
                    self.stderr()
                )
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn token(&self, role: &str) -> &str {
        &self.user_and_token(role).1
    }

    pub fn user(&self, role: &str) -> &str {
        &self.user_and_token(role).0
    }

    pub fn user_and_token(&self, role: &str) -> &(String, String) {
        self.tokens
            .get(role)
            .unwrap_or_else(|| panic!("no demo token for {role:?} in {:?}", self.tokens.keys()))
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Response {
        get(self.addr, path, token)
    }

    pub fn wait_ready(&self) -> Response {
        let r = wait_until_ok("GET /readyz", || Some(self.get("/readyz", None)));
        assert!(r.text().starts_with("ready"), "{}", r.text());
        r
    }

    /// Sends SIGTERM and waits for the exit; returns its status and everything it wrote
    /// on stderr.
    pub fn stop(&mut self) -> (ExitStatus, String) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "serve still running {STOP_TIMEOUT:?} after SIGTERM; stderr: {}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.stdout.extend(self.stdout_lines.try_iter());
        (status, self.stderr())
    }

    /// Stops it, checking the graceful exit.
    pub fn stop_gracefully(&mut self) -> String {
        let (status, stderr) = self.stop();
        assert!(status.success(), "exit after SIGTERM: {status}; {stderr}");
        assert!(
            stderr.lines().any(|l| l == STOPPED),
            "no {STOPPED:?} line on stderr: {stderr}"
        );
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already reaped after stop(); otherwise the test failed part way.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of an unlabelled Prometheus counter or gauge.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// The single event `careledger log` lists at `seq` among `subject`'s events.
pub fn logged_event(data: &str, subject: &str, seq: u64) -> Value {
    let out = cli_ok(&[
        "log",
        "--data",
        data,
        "--subject",
        subject,
        "--from",
        &seq.to_string(),
        "--limit",
        "1",
    ]);
    let event: Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("log printed {out:?}: {e}"));
    assert_eq!(event["seq"], seq, "{event}");
    assert_eq!(event["subject"], subject, "{event}");
    event
}

pub fn b64(value: &Value) -> Vec<u8> {
    B64.decode(value.as_str().unwrap()).unwrap()
}
