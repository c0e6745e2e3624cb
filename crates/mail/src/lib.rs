//! careledger's secure email: a printed document sent as an attachment through the
//! provider's SMTP relay, over TLS only (STARTTLS or implicit TLS, never plain), with
//! retries and backoff, and the relay's answer kept for the ledger (`email.delivered`,
//! `email.failed`).
//!
//! - [`config`]: the relay, its credentials and the subject tag, read from a file and
//!   checked before anything is sent.
//! - [`send`]: one message to one recipient, tried up to the configured attempts.
//!
//! What to send and to whom is decided elsewhere (the care rules and the API); this crate
//! knows nothing of the ledger.
#![forbid(unsafe_code)]

pub mod config;
pub mod send;

pub use config::{ConfigError, MailConfig, Security};
pub use send::{Attachment, Delivered, Failed, Mail, Mailer};
