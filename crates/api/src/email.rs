//! A person's documents by secure email: `POST /v1/people/{id}/documents/{kind}/email`.
//!
//! The guidance's "access to information ... by secure email": a document goes only to an
//! address recorded for the person or one of their representatives
//! (`email.address_recorded`), only where the person chose secure email in their last
//! choices discussion, through the provider's relay. The document is printed through the
//! access gate as a download is (one access event, the document's categories); the answer
//! is 202 once that event is durable, and the relay is tried in the background (with the
//! retries and waits of its configuration), after which the service records what happened:
//! `email.delivered` with the digest of the file attached, the Message-ID and the relay's
//! answer, or `email.failed` with the attempts and the last error.
//!
//! The service does not speak SMTP itself: the binary gives it a [`Mailer`]
//! (careledger-mail, lettre over rustls), as it gives it the document printer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use careledger_care::event::{SecureEmailDelivered, SecureEmailFailed};
use careledger_care::{policy, CareEvent, InfoOption};
use careledger_ledger::Command;
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::documents::{Asked, Printed};
use crate::extract::{Auth, JsonBody, PathArg};
use crate::handlers::default_purpose;
use crate::{ApiError, App};

/// Emails being sent (waiting for the relay, or between its attempts) at once; a further
/// one is refused as busy until one is done.
pub const EMAILS_IN_FLIGHT_MAX: usize = 16;
/// How long a stopping service waits for emails being sent, then for the records of those
/// it stopped ([`drain`]).
pub const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// One message for the relay.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: String,
    /// Without personal data: "Your care plan".
    pub subject: String,
    pub text: String,
    pub file_name: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// Angle brackets included.
    pub message_id: String,
}

/// The relay accepted the message.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Its answer: "250 2.0.0 Ok: queued as 4F2A1".
    pub answer: String,
    pub attempts: u32,
}

/// The relay did not accept the message, after every attempt or for good.
#[derive(Debug, Clone)]
pub struct NotSent {
    pub error: String,
    pub attempts: u32,
    pub permanent: bool,
}

/// A future that sends one message.
pub type Sending = Pin<Box<dyn Future<Output = Result<Sent, NotSent>> + Send + 'static>>;

/// What sends email through the provider's relay; the binary gives one to the service
/// ([`App::set_mailer`]). Without one the email route answers 501.
pub trait Mailer: Send + Sync + 'static {
    /// The domain Message-IDs are made under: the sender address's.
    fn domain(&self) -> String;
    /// Sends `mail`, with the relay's retries; resolves once it is accepted or given up.
    fn send(&self, mail: Outgoing) -> Sending;
}

impl App {
    /// Gives the service its mailer; once only (a second is ignored, and `false` says so).
    pub fn set_mailer(&self, mailer: Arc<dyn Mailer>) -> bool {
        self.mailer.set(mailer).is_ok()
    }
}

/// `POST /v1/people/{id}/documents/{kind}/email`'s body.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    /// Whose recorded address it goes to: the person's id, or one of their
    /// representatives' (`email.address_recorded`).
    #[schemars(length(min = 1, max = 50))]
    pub to: String,
    /// How to print it (pdf, large-print, easy-read, text); default what the person's
    /// recorded information needs ask for.
    pub format: Option<String>,
    /// Days a MAR chart or diary covers, ending today (default 28, at most 92).
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    #[schemars(range(min = 1, max = 92))]
    pub days: Option<u32>,
}

/// The answer: the document was printed (its access event is durable) and is on its way
/// to the relay; `email.delivered` or `email.failed` follows in the person's history.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EmailQueued {
    /// The access event the printing wrote.
    pub access_event: u64,
    /// Whose address: the person or a representative.
    pub to: String,
    pub address: String,
    /// The Message-ID the message carries (and the ledger records).
    pub message_id: String,
    /// BLAKE3 of the file attached.
    pub digest: String,
    /// The reference every page carries.
    pub reference: String,
    pub format: &'static str,
}

fn no_mailer() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "no-email",
        "this service has no mail relay: start it with serve --email-config FILE",
    )
}

/// The ledger's name of a document the API prints.
fn document_of(kind: &str) -> careledger_care::Document {
    match kind {
        "mar" => careledger_care::Document::Mar,
        "diary" => careledger_care::Document::DiaryRecords,
        _ => careledger_care::Document::CarePlan,
    }
}

/// The ledger's name of a format the API prints in.
fn format_of(name: &str) -> careledger_care::Format {
    match name {
        "large-print" => careledger_care::Format::LargePrint,
        "easy-read" => careledger_care::Format::EasyRead,
        "text" => careledger_care::Format::ElectronicPlainText,
        _ => careledger_care::Format::StandardPrint,
    }
}

/// What the subject says: the document, nothing of the person.
fn subject_of(kind: &str) -> &'static str {
    match kind {
        "mar" => "Your medicines chart (MAR)",
        "diary" => "Your diary records",
        _ => "Your care plan",
    }
}

/// Who sends documents by email: the provider's staff who read people's records for
/// direct care and record their choices.
pub const SENDERS: &[careledger_care::Role] = &[
    careledger_care::Role::Coordinator,
    careledger_care::Role::RegisteredManager,
];

/// Whether the person chose secure email in their last choices discussion.
pub fn chose_email(p: &careledger_care::state::PersonState) -> bool {
    p.last_discussion
        .as_ref()
        .is_some_and(|d| d.chosen.contains(&InfoOption::SecureEmail))
}

/// What the access policy says of `holder` (the person, or one of their representatives)
/// reading `categories` of `person`'s record themselves: a document goes by email only to
/// someone it allows every category.
pub fn recipient_decision(
    state: &careledger_care::State,
    person: &str,
    holder: &str,
    categories: &[careledger_care::Category],
    now_us: i64,
) -> policy::Decision {
    let role = if holder == person {
        careledger_care::Role::Person
    } else {
        careledger_care::Role::Representative
    };
    let reader = policy::Principal { id: holder, role };
    policy::decide(
        state,
        &reader,
        person,
        categories,
        default_purpose(role),
        now_us,
    )
}

/// The address `holder` has on `person`'s record, if the person chose secure email and the
/// holder may read every category of the document themselves (a representative without
/// the authority or a grant to see it does not get it by email either).
fn address_of(
    app: &App,
    person: &str,
    holder: &str,
    categories: &[careledger_care::Category],
) -> Result<String, ApiError> {
    let now = careledger_store::now_us();
    app.ledger.read(|s| {
        let p = s.person(person).ok_or_else(|| ApiError::no_person(person))?;
        if !chose_email(p) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule-violated",
                format!(
                    "{person} has not chosen secure email in their last choices discussion: documents go by email only to people who chose it (record a choices discussion)"
                ),
            ));
        }
        let address = p
            .email_addresses
            .get(holder)
            .map(|(a, _)| a.clone())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "rule-violated",
                    format!(
                        "no email address is recorded for {holder} on {person}'s record (record email.address_recorded for the person or a representative first)"
                    ),
                )
                .field("to")
            })?;
        let decision = recipient_decision(s, person, holder, categories, now);
        if !decision.is_allowed() {
            let why: Vec<String> = decision
                .refused
                .iter()
                .map(|(c, reason)| format!("{}: {reason}", c.name()))
                .collect();
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule-violated",
                format!(
                    "{holder} may not read this document themselves ({}), so it is not emailed to them",
                    why.join("; ")
                ),
            )
            .field("to"));
        }
        Ok(address)
    })?
}

pub async fn email_document(
    State(app): State<App>,
    Auth(who): Auth,
    PathArg((person, kind)): PathArg<(String, String)>,
    JsonBody(body): JsonBody<EmailRequest>,
) -> Result<Response, ApiError> {
    let asked = Asked::parse(&kind, body.format.as_deref(), body.days.map(u64::from))?;
    let queued = queue(&app, &who, &person, asked, &body.to).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(queued)).into_response())
}

/// Prints `asked` about `person` through the gate and sends it to `holder`'s recorded
/// address in the background; the pages' Email button answers through this too.
pub async fn queue(
    app: &App,
    who: &Principal,
    person: &str,
    asked: Asked,
    holder: &str,
) -> Result<EmailQueued, ApiError> {
    crate::handlers::require_role(who, SENDERS, "send documents by email")?;
    if app.shutting_down.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ApiError::busy(
            "the service is stopping; send it again once it is back",
        ));
    }
    let mailer = app.mailer.get().cloned().ok_or_else(no_mailer)?;
    if app.documents.get().is_none() {
        return Err(crate::documents::no_printer());
    }
    let address = address_of(app, person, holder, asked.kind.categories)?;
    let slot = app.email_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::busy(format!(
            "{EMAILS_IN_FLIGHT_MAX} emails are being sent already; try again shortly"
        ))
    })?;
    let name = asked.kind.name;
    let granted =
        crate::documents::print_through_gate(app, who, person, asked, default_purpose(who.role))
            .await?;
    let printed: Printed = granted.data;
    let message_id = format!(
        "<{}.{}@{}>",
        &printed.digest[..16.min(printed.digest.len())],
        granted.access_seq,
        mailer.domain()
    );
    let queued = EmailQueued {
        access_event: granted.access_seq,
        to: holder.to_string(),
        address: address.clone(),
        message_id: message_id.clone(),
        digest: printed.digest.clone(),
        reference: printed.reference.clone(),
        format: printed.format,
    };
    let outgoing = Outgoing {
        to: address.clone(),
        subject: subject_of(name).to_string(),
        text: format!(
            "Attached is {}, sent by secure email from your care provider's records, as you chose.\n\n\
             Every page carries the reference {}, which says which version of the record it was printed from, so the copy can be checked with the provider.\n\n\
             If you did not expect this email, please tell your care provider.\n",
            subject_of(name).replacen("Your", "your", 1),
            printed.reference
        ),
        file_name: printed.file_name.clone(),
        media_type: printed
            .media_type
            .split(';')
            .next()
            .unwrap_or("application/octet-stream")
            .to_string(),
        bytes: printed.bytes,
        message_id: message_id.clone(),
    };
    let (app, actor, person) = (app.clone(), who.id.clone(), person.to_string());
    let (document, version, recorded) = (
        document_of(name),
        printed.version,
        format_of(printed.format),
    );
    let digest = printed.digest;
    // The send outlives the request (a client that goes away does not stop it), and its
    // outcome is recorded whatever it is.
    let mut stopping = app.email_stop.subscribe();
    tokio::spawn(async move {
        // The service stopping (after the time it waits for sends) ends a send still
        // waiting for the relay: recorded as failed, to be sent again.
        let outcome = tokio::select! {
            outcome = mailer.send(outgoing) => outcome,
            _ = stopping.wait_for(|stop| *stop) => Err(NotSent {
                error: "the service stopped before the relay accepted the message (it may not have been sent): send it again".into(),
                attempts: 0,
                permanent: false,
            }),
        };
        let event = match outcome {
            Ok(sent) => CareEvent::SecureEmailDelivered(SecureEmailDelivered {
                document,
                version,
                format: recorded,
                to: address,
                as_link: false,
                digest: Some(digest),
                message_id: Some(message_id),
                relay_answer: Some(clip(&sent.answer)),
            }),
            Err(not) => CareEvent::SecureEmailFailed(SecureEmailFailed {
                document,
                version,
                format: recorded,
                to: address,
                digest,
                message_id,
                attempts: not.attempts,
                error: clip(&not.error),
                permanent: not.permanent,
            }),
        };
        let kind = event.kind();
        let command = Command::about(&actor, &person, careledger_store::now_us(), event);
        if let Err(e) = app.append(vec![command]).await {
            tracing::error!(person = %person, kind, error = %e, "an email's outcome could not be recorded");
        }
        drop(slot);
    });
    Ok(queued)
}

/// When the service stops: waits, at most `wait`, for the emails being sent to finish and
/// their outcomes to be recorded; then tells the rest to stop, each recording
/// `email.failed` (to be sent again), and waits at most `wait` again for those records.
/// What is still unrecorded after that is logged.
pub async fn drain(app: &App, wait: std::time::Duration) {
    let all = EMAILS_IN_FLIGHT_MAX as u32;
    if tokio::time::timeout(wait, app.email_slots.acquire_many(all))
        .await
        .is_ok()
    {
        return;
    }
    let stopped = EMAILS_IN_FLIGHT_MAX - app.email_slots.available_permits();
    app.email_stop.send_replace(true);
    if tokio::time::timeout(wait, app.email_slots.acquire_many(all))
        .await
        .is_err()
    {
        let left = EMAILS_IN_FLIGHT_MAX - app.email_slots.available_permits();
        tracing::warn!(
            emails = left,
            "shutdown: emails whose outcome could not be recorded before the service stopped"
        );
    } else {
        tracing::warn!(
            emails = stopped,
            "shutdown: emails still waiting for the relay were stopped and recorded as failed"
        );
    }
}

/// A relay's answer or error as recorded: one line, at most 1,000 characters.
fn clip(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1000)
        .collect();
    let line = line.trim().to_string();
    if line.is_empty() {
        "(no answer)".into()
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_recorded_as_one_bounded_line() {
        assert_eq!(clip("451 4.3.0\r\nTry later\u{7}"), "451 4.3.0  Try later");
        assert_eq!(clip("\n"), "(no answer)");
        assert_eq!(clip(&"x".repeat(5000)).len(), 1000);
    }
}
