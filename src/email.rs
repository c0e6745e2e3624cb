//! The service's mailer: careledger-mail (lettre over rustls, the provider's relay) given
//! to the API (`careledger_api::email::Mailer`), read from `serve --email-config FILE`.

use std::path::Path;
use std::sync::Arc;

use careledger_api::email::{Mailer, NotSent, Outgoing, Sending, Sent};
use careledger_mail::{Attachment, Mail, MailConfig};

use crate::cli::{fail, CliError};

/// Sends through the relay a configuration names.
pub struct Relay {
    mailer: Arc<careledger_mail::Mailer>,
    domain: String,
}

impl Relay {
    /// Reads and checks the configuration at `path`; its errors name the file and field.
    pub fn open(path: &Path) -> Result<Relay, CliError> {
        let config = MailConfig::read(path).map_err(|e| fail(format!("--email-config {e}")))?;
        let domain = config
            .from
            .rsplit('@')
            .next()
            .unwrap_or("careledger.invalid")
            .trim_end_matches('>')
            .trim()
            .to_string();
        let mailer = careledger_mail::Mailer::new(config)
            .map_err(|e| fail(format!("--email-config {}: {e}", path.display())))?;
        Ok(Relay {
            mailer: Arc::new(mailer),
            domain,
        })
    }

    /// What the service says it sends through, at start.
    pub fn describe(&self) -> String {
        let c = self.mailer.config();
        format!(
            "{}:{} ({:?}, {} attempts)",
            c.relay, c.port, c.security, c.attempts
        )
        .to_lowercase()
    }
}

impl Mailer for Relay {
    fn domain(&self) -> String {
        self.domain.clone()
    }

    fn send(&self, mail: Outgoing) -> Sending {
        let mailer = self.mailer.clone();
        Box::pin(async move {
            let mail = Mail {
                to: mail.to,
                subject: mail.subject,
                text: mail.text,
                attachment: Attachment {
                    file_name: mail.file_name,
                    media_type: mail.media_type,
                    bytes: mail.bytes,
                },
                message_id: mail.message_id,
            };
            match mailer.send(&mail).await {
                Ok(d) => Ok(Sent {
                    answer: d.answer,
                    attempts: d.attempts,
                }),
                Err(f) => Err(NotSent {
                    error: f.error,
                    attempts: f.attempts,
                    permanent: f.permanent,
                }),
            }
        })
    }
}
