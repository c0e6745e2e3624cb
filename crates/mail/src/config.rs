//! The relay the provider sends through, read from a JSON file:
//!
//! ```json
//! {
//!   "relay": "send.nhs.net",
//!   "port": 587,
//!   "security": "starttls",
//!   "username": "sunrise.care@nhs.net",
//!   "password_file": "relay-password",
//!   "from": "Sunrise Home Care <sunrise.care@nhs.net>",
//!   "subject_tag": "[secure]"
//! }
//! ```
//!
//! `security` is `starttls` (port 587) or `tls` (implicit TLS, port 465); there is no
//! plain option. The password is in a file of its own (relative to the configuration's
//! folder), so the configuration can be read and shared without it. `ca_file` adds a
//! certificate authority to trust besides the public ones (a relay inside the provider's
//! network). `subject_tag` goes at the start of every subject: from an NHSmail account,
//! `[secure]` makes the relay encrypt a message to an address outside the secure network.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// How the connection to the relay is protected. Plain SMTP is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Connect in the clear, then STARTTLS before anything else; refuse a relay that does
    /// not offer it.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// Attempts a message gets unless configured.
pub const ATTEMPTS_DEFAULT: u32 = 4;
/// At most this many attempts.
pub const ATTEMPTS_MAX: u32 = 10;
/// The wait before the second attempt unless configured; each later wait doubles.
pub const RETRY_FIRST_DEFAULT: Duration = Duration::from_secs(30);
/// The longest wait between two attempts.
pub const RETRY_WAIT_MAX: Duration = Duration::from_secs(15 * 60);
/// How long one attempt may take (connect, TLS, each SMTP command) unless configured.
pub const TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// Characters the subject tag may have.
pub const SUBJECT_TAG_CHARS_MAX: usize = 40;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    relay: String,
    port: Option<u16>,
    security: Security,
    username: Option<String>,
    password_file: Option<PathBuf>,
    from: String,
    subject_tag: Option<String>,
    ca_file: Option<PathBuf>,
    attempts: Option<u32>,
    retry_first_seconds: Option<u64>,
    timeout_seconds: Option<u64>,
}

/// The relay and how to use it, checked.
#[derive(Clone)]
pub struct MailConfig {
    pub relay: String,
    pub port: u16,
    pub security: Security,
    /// The account and its password, when the relay asks for them.
    pub credentials: Option<(String, String)>,
    /// `Sunrise Home Care <sunrise.care@nhs.net>`.
    pub from: String,
    /// Put before every subject (`[secure]`), if any.
    pub subject_tag: Option<String>,
    /// A certificate authority to trust besides the public ones (PEM).
    pub extra_ca_pem: Option<Vec<u8>>,
    pub attempts: u32,
    pub retry_first: Duration,
    pub timeout: Duration,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("relay", &self.relay)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.credentials.as_ref().map(|(u, _)| u))
            .field("from", &self.from)
            .field("subject_tag", &self.subject_tag)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What is wrong with a configuration, naming the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl MailConfig {
    /// Reads and checks the configuration at `path` (and its password and CA files).
    pub fn read(path: &Path) -> Result<MailConfig, ConfigError> {
        let shown = path.display().to_string();
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| ConfigError::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let invalid = |message: String| ConfigError::Invalid {
            path: shown.clone(),
            message,
        };
        let bytes = read(path)?;
        let file: File = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        let folder = path.parent().unwrap_or(Path::new("."));
        let beside = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                folder.join(p)
            }
        };
        let relay = file.relay.trim().to_string();
        if relay.is_empty() || relay.contains(char::is_whitespace) {
            return Err(invalid(format!(
                "relay {:?} is not a host name",
                file.relay
            )));
        }
        let port = file.port.unwrap_or(match file.security {
            Security::Starttls => 587,
            Security::Tls => 465,
        });
        if port == 0 {
            return Err(invalid("port 0 is not a port".into()));
        }
        let credentials =
            match (file.username, file.password_file) {
                (None, None) => None,
                (Some(u), Some(p)) => {
                    let password = String::from_utf8(read(&beside(&p))?)
                        .map_err(|_| invalid(format!("{} is not UTF-8 text", p.display())))?
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    if password.is_empty() {
                        return Err(invalid(format!("{} is empty", p.display())));
                    }
                    Some((u, password))
                }
                (Some(_), None) => return Err(invalid(
                    "username is given without password_file (the file that holds the password)"
                        .into(),
                )),
                (None, Some(_)) => {
                    return Err(invalid("password_file is given without username".into()))
                }
            };
        file.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| invalid(format!("from {:?} is not an address: {e}", file.from)))?;
        if let Some(tag) = &file.subject_tag {
            if tag.chars().count() > SUBJECT_TAG_CHARS_MAX || tag.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "subject_tag {tag:?} must be at most {SUBJECT_TAG_CHARS_MAX} characters with no control characters"
                )));
            }
        }
        let attempts = file.attempts.unwrap_or(ATTEMPTS_DEFAULT);
        if !(1..=ATTEMPTS_MAX).contains(&attempts) {
            return Err(invalid(format!(
                "attempts must be between 1 and {ATTEMPTS_MAX}, not {attempts}"
            )));
        }
        let extra_ca_pem = match &file.ca_file {
            Some(p) => {
                let pem = read(&beside(p))?;
                lettre::transport::smtp::client::Certificate::from_pem(&pem).map_err(|e| {
                    invalid(format!("{} is not a PEM certificate: {e}", p.display()))
                })?;
                Some(pem)
            }
            None => None,
        };
        let seconds = |v: Option<u64>, default: Duration, name: &str| match v {
            None => Ok(default),
            Some(0) => Err(invalid(format!("{name} must be at least 1"))),
            Some(s) if s > 3600 => Err(invalid(format!("{name} must be at most 3600, not {s}"))),
            Some(s) => Ok(Duration::from_secs(s)),
        };
        Ok(MailConfig {
            relay,
            port,
            security: file.security,
            credentials,
            from: file.from,
            subject_tag: file.subject_tag.filter(|t| !t.trim().is_empty()),
            extra_ca_pem,
            attempts,
            retry_first: seconds(
                file.retry_first_seconds,
                RETRY_FIRST_DEFAULT,
                "retry_first_seconds",
            )?,
            timeout: seconds(file.timeout_seconds, TIMEOUT_DEFAULT, "timeout_seconds")?,
        })
    }

    /// The wait before attempt `n` (2 for the first retry): the first wait, doubled for
    /// each later attempt, at most [`RETRY_WAIT_MAX`].
    pub fn wait_before(&self, n: u32) -> Duration {
        let doublings = n.saturating_sub(2).min(20);
        self.retry_first
            .saturating_mul(1 << doublings)
            .min(RETRY_WAIT_MAX)
    }
}
