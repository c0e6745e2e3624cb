//! One message, one recipient, one attachment: tried up to the configured attempts, with a
//! growing wait between them, until the relay accepts it (its answer is kept) or refuses
//! it for good.

use std::error::Error as _;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, Security};

/// A file sent with the message.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// "care-plan-person-0003.pdf".
    pub file_name: String,
    /// "application/pdf".
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// What to send. The subject must hold no personal data (it travels unencrypted between
/// some relays); the configured tag goes before it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub attachment: Attachment,
    /// The Message-ID header, angle brackets included: unique, chosen by the caller so it
    /// can be recorded whatever happens.
    pub message_id: String,
}

/// The relay accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub message_id: String,
    /// The relay's answer to the message ("250 2.0.0 Ok: queued as 4F2A1").
    pub answer: String,
    pub attempts: u32,
}

/// The relay did not accept the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error} (after {attempts} attempt{})", if *.attempts == 1 { "" } else { "s" })]
pub struct Failed {
    pub attempts: u32,
    /// What the last attempt met: the relay's answer, or why there was none.
    pub error: String,
    /// Refused for good (a 5xx answer, an untrusted certificate, a bad address): retrying
    /// would not help.
    pub permanent: bool,
}

/// Sends through the configured relay.
pub struct Mailer {
    config: MailConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("config", &self.config)
            .finish()
    }
}

/// Why a mailer could not be made from a configuration.
#[derive(Debug, thiserror::Error)]
#[error("the mail relay cannot be used: {0}")]
pub struct MailerError(String);

impl Mailer {
    pub fn new(config: MailConfig) -> Result<Mailer, MailerError> {
        let mut tls = TlsParameters::builder(config.relay.clone());
        if let Some(pem) = &config.extra_ca_pem {
            let ca = Certificate::from_pem(pem).map_err(|e| MailerError(e.to_string()))?;
            tls = tls.add_root_certificate(ca);
        }
        let tls = tls.build_rustls().map_err(|e| MailerError(e.to_string()))?;
        let tls = match config.security {
            Security::Starttls => Tls::Required(tls),
            Security::Tls => Tls::Wrapper(tls),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.relay)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            config,
        })
    }

    pub fn config(&self) -> &MailConfig {
        &self.config
    }

    /// The subject as sent: the tag, then the words.
    pub fn subject(&self, words: &str) -> String {
        match &self.config.subject_tag {
            Some(tag) => format!("{} {words}", tag.trim()),
            None => words.to_string(),
        }
    }

    fn message(&self, mail: &Mail) -> Result<Message, Failed> {
        let refused = |error: String| Failed {
            attempts: 0,
            error,
            permanent: true,
        };
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| refused(format!("{:?} is not an email address: {e}", mail.to)))?;
        let from: Mailbox = self
            .config
            .from
            .parse()
            .map_err(|e| refused(format!("the configured sender is not an address: {e}")))?;
        let kind = ContentType::parse(&mail.attachment.media_type)
            .map_err(|e| refused(format!("{:?}: {e}", mail.attachment.media_type)))?;
        Message::builder()
            .from(from)
            .to(to)
            .subject(self.subject(&mail.subject))
            .message_id(Some(mail.message_id.clone()))
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(mail.text.clone()))
                    .singlepart(
                        lettre::message::Attachment::new(mail.attachment.file_name.clone())
                            .body(mail.attachment.bytes.clone(), kind),
                    ),
            )
            .map_err(|e| refused(e.to_string()))
    }

    /// Sends `mail`, trying up to the configured attempts with the configured waits
    /// between them; stops early when the relay refuses it for good.
    pub async fn send(&self, mail: &Mail) -> Result<Delivered, Failed> {
        let message = self.message(mail)?;
        let mut last = String::new();
        for attempt in 1..=self.config.attempts {
            if attempt > 1 {
                tokio::time::sleep(self.config.wait_before(attempt)).await;
            }
            match self.transport.send(message.clone()).await {
                Ok(response) => {
                    let lines: Vec<&str> = response.message().collect();
                    return Ok(Delivered {
                        message_id: mail.message_id.clone(),
                        answer: format!("{} {}", response.code(), lines.join(" "))
                            .trim()
                            .to_string(),
                        attempts: attempt,
                    });
                }
                Err(e) => {
                    last = describe(&e);
                    if e.is_permanent() || e.is_tls() || certificate_refused(&e) {
                        return Err(Failed {
                            attempts: attempt,
                            error: last,
                            permanent: true,
                        });
                    }
                }
            }
        }
        Err(Failed {
            attempts: self.config.attempts,
            error: last,
            permanent: false,
        })
    }
}

/// Whether the relay's certificate was refused (not signed by a trusted authority, for
/// another name, expired): a configuration to fix, not a moment to wait out.
fn certificate_refused(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        let tls = s.downcast_ref::<rustls::Error>().or_else(|| {
            s.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(t) = tls {
            return matches!(
                t,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        source = s.source();
    }
    false
}

/// An error and its causes, in one line.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}
