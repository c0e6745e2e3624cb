//! A person's printed documents over HTTP: `GET /v1/people/{id}/documents/{kind}`.
//!
//! The service does not lay documents out itself: the typesetter (crates/print, typst) is
//! heavy, and the API's tests should not wait for it. The binary gives the service a
//! [`Documents`] that prints from the ledger; the handler asks the access gate first (the
//! document's categories, one `access.read` event, durable before a byte is sent) and
//! prints inside the gate's build step, so a refused reader causes no printing at all.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use careledger_care::{Category, Purpose, Role};
use careledger_ledger::Ledger;

use crate::auth::Principal;
use crate::extract::{Auth, Params, PathArg};
use crate::handlers::default_purpose;
use crate::{gate, ApiError, App};

/// A document about one person that the service prints.
#[derive(Debug)]
pub struct DocumentKind {
    /// The path segment and the CLI's name: `care-plan`.
    pub name: &'static str,
    /// Every category the document prints, checked by the gate as a section read is. The
    /// care plan prints the person's details, representatives, communication needs and
    /// allergies beside the plan; the diary the person's details beside the notes; the MAR
    /// chart only what NICE NG67 asks (name, date of birth, NHS number, GP, allergies), as
    /// the record's medicines section does, so an emergency clinician's break-glass access
    /// to medicines reaches the chart and nothing else.
    pub categories: &'static [Category],
    pub summary: &'static str,
}

/// The documents about one person, with the categories each shows.
pub const PERSON_DOCUMENTS: &[DocumentKind] = &[
    DocumentKind {
        name: "care-plan",
        categories: &[
            Category::CarePlan,
            Category::PersonalDetails,
            Category::CommunicationNeeds,
            Category::Medicines,
        ],
        summary: "The current care plan: the PRSB sections and About me, its version, when and by whom it was published",
    },
    DocumentKind {
        name: "mar",
        categories: &[Category::Medicines],
        summary: "The MAR chart (NICE NG67): the person's details and allergies, each medicine, and a grid of every dose given or refused in the period, with empty cells for entries by hand",
    },
    DocumentKind {
        name: "diary",
        categories: &[
            Category::DailyNotes,
            Category::Incidents,
            Category::HealthObservations,
            Category::PersonalDetails,
        ],
        summary: "Diary records: the period's daily notes, incidents and observations, each attributed, for the home file",
    },
];

/// A provider-wide report the service prints for the council, and who may print it.
#[derive(Debug)]
pub struct ReportKind {
    /// The path segment and the CLI's name: `monitoring`.
    pub name: &'static str,
    pub roles: &'static [Role],
    pub summary: &'static str,
}

/// The council's reports, printed by the provider to give to the council. The monitoring
/// report names every person in care with their choices and information needs, which a
/// council officer may read only through a request of their own (the policy), so the
/// registered manager and provider admins print it (council officers read the findings as
/// JSON, `GET /v1/provider/findings`, by id); the response-time report covers every
/// council's requests, so the provider's own staff and auditors print it (a council
/// officer reads their own requests' lines as JSON, `GET /v1/reports/response-times`).
pub const REPORTS: &[ReportKind] = &[
    ReportKind {
        name: "monitoring",
        roles: &[Role::RegisteredManager, Role::ProviderAdmin],
        summary: "The monitoring report: for the provider and each person in care, choices discussions, paper copies, information needs and whether they were met, and every finding, each line naming its events",
    },
    ReportKind {
        name: "response-times",
        roles: &[
            Role::RegisteredManager,
            Role::ProviderAdmin,
            Role::Coordinator,
            Role::Auditor,
        ],
        summary: "The response-time report: every council request received, due, acknowledged and answered, the time taken, warnings and breaches, each naming its event",
    },
];

/// The names of [`REPORTS`], in order.
pub const REPORT_NAMES: &[&str] = &["monitoring", "response-times"];

/// The names of [`PERSON_DOCUMENTS`], in order.
pub const NAMES: &[&str] = &["care-plan", "mar", "diary"];

/// Formats a document is printed in (`format=`), as the print crate names them.
pub const FORMATS: &[&str] = &["pdf", "large-print", "easy-read", "text"];
/// Days a MAR chart or diary covers unless asked (`days=`), and at most.
pub const DAYS_DEFAULT: u32 = 28;
pub const DAYS_MAX: u32 = 92;

/// A printed document, ready to send.
#[derive(Debug, Clone)]
pub struct Printed {
    pub bytes: Vec<u8>,
    /// `application/pdf` or `text/plain; charset=utf-8`.
    pub media_type: &'static str,
    /// The format it was printed in (one of [`FORMATS`]): the one asked for, or the one
    /// the person's recorded information needs choose.
    pub format: &'static str,
    /// "care-plan-person-1.pdf".
    pub file_name: String,
    /// The reference every page carries (`CL1:...`), which `check-document` reads.
    pub reference: String,
    /// The version printed (the care plan's, the MAR chart's revision, the guide's), as
    /// the reference names it; none for diary records and reports.
    pub version: Option<u32>,
    /// BLAKE3 of `bytes` in hex, as `paper.copy_placed` records a copy.
    pub digest: String,
}

/// What the check of a printed copy's reference found: the answer of
/// `GET /v1/documents/check` and of the check page, said as to anyone: whether the copy was
/// printed from this ledger, and for a report that it is a report of its time. Nothing of
/// the person (a reference is not bound to its document, and the ledger's checkpoint is
/// public, so anyone could write one naming any id) and nothing of the ledger's roots.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct DocumentCheck {
    /// The reference, as read (`CL1:KIND:VERSION:SIZE:ROOT:SUBJECT`).
    pub reference: String,
    /// The ledger's root at the reference's tree size starts as printed: the copy was
    /// printed from this ledger, and its checkpoint is one the ledger holds.
    pub checkpoint_verified: bool,
    /// What was found of the checkpoint, in words.
    pub checkpoint: String,
    /// Whether the copy is the current version: only for a report (always: a report of its
    /// time); absent otherwise (the provider checks a person's document with
    /// `careledger check-document`).
    pub current: Option<bool>,
    /// What else there is to say, in words; absent for a copy not from this ledger.
    pub said: Option<String>,
}

/// Why a document could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum PrintRefused {
    /// The document has nothing to print yet (no published care plan): 404.
    #[error("{0}")]
    Nothing(String),
    /// Printing failed: 500, with what went wrong.
    #[error("{0}")]
    Failed(String),
    /// The request names something that cannot be (a malformed reference): 400.
    #[error("{0}")]
    Bad(String),
}

/// What prints documents from the ledger; the binary gives one to the service
/// ([`App::set_documents`]).
pub trait Documents: Send + Sync + 'static {
    /// Prints `kind` (one of [`PERSON_DOCUMENTS`]) about `person` from `ledger` as it
    /// stands, in `format` (one of [`FORMATS`]; `None`: the person's recorded needs
    /// choose), covering `days` days where the document has a period.
    fn person(
        &self,
        ledger: &Ledger,
        kind: &'static str,
        person: &str,
        format: Option<&'static str>,
        days: u32,
    ) -> Result<Printed, PrintRefused>;

    /// Prints the provider-wide report `kind` (one of [`REPORTS`]) from `ledger` as it
    /// stands, in `format` (default pdf).
    fn report(
        &self,
        ledger: &Ledger,
        kind: &'static str,
        format: Option<&'static str>,
    ) -> Result<Printed, PrintRefused>;

    /// Prints the provider's current Service User Guide from `ledger` as it stands, in
    /// `format` (default pdf); [`PrintRefused::Nothing`] when none is published.
    fn guide(&self, ledger: &Ledger, format: Option<&'static str>)
        -> Result<Printed, PrintRefused>;

    /// Checks a printed copy's `reference` against `ledger`, said as to anyone.
    fn check(&self, ledger: &Ledger, reference: &str) -> Result<DocumentCheck, PrintRefused>;
}

/// Longest reference the check reads, in characters (a reference is under 120).
pub const REFERENCE_CHARS_MAX: usize = 300;

/// Checks `reference` with the service's printer: the check page's and
/// `GET /v1/documents/check`'s answer. Needs no sign-in, so it says only whether the copy
/// came from this ledger ([`DocumentCheck`]).
pub async fn check_reference(app: &App, reference: &str) -> Result<DocumentCheck, ApiError> {
    if reference.trim().is_empty() {
        return Err(ApiError::bad_request(
            "reference",
            "give the reference printed at the foot of the page (it starts CL1:)",
        ));
    }
    if reference.chars().count() > REFERENCE_CHARS_MAX {
        return Err(ApiError::bad_request(
            "reference",
            format!("a reference is at most {REFERENCE_CHARS_MAX} characters"),
        ));
    }
    let Some(documents) = app.documents.get().cloned() else {
        return Err(no_printer());
    };
    let reference = reference.trim().to_string();
    app.offload("a document check", move |app, _| {
        documents
            .check(&app.ledger, &reference)
            .map_err(|e| match e {
                PrintRefused::Bad(why) => ApiError::bad_request("reference", why),
                PrintRefused::Nothing(why) => ApiError::not_found(why).field("reference"),
                PrintRefused::Failed(why) => ApiError::internal(why),
            })
    })
    .await
}

/// `GET /v1/documents/check?reference=...`: is a printed copy current, and was it printed
/// from this ledger?
pub async fn check(
    State(app): State<App>,
    params: Params,
) -> Result<axum::Json<DocumentCheck>, ApiError> {
    params.only(&["reference"])?;
    let reference = params.str("reference").unwrap_or("");
    Ok(axum::Json(check_reference(&app, reference).await?))
}

pub(crate) fn no_printer() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "no-documents",
        "this service was started without its document printer",
    )
}

impl App {
    /// Gives the service its document printer; once only (a second is ignored, and
    /// `false` says so).
    pub fn set_documents(&self, documents: Arc<dyn Documents>) -> bool {
        self.documents.set(documents).is_ok()
    }
}

/// What a document request asks for, checked.
#[derive(Debug, Clone, Copy)]
pub struct Asked {
    pub kind: &'static DocumentKind,
    pub format: Option<&'static str>,
    pub days: u32,
}

/// `format=` checked: one of [`FORMATS`].
fn format_of(format: Option<&str>) -> Result<Option<&'static str>, ApiError> {
    match format {
        None => Ok(None),
        Some(f) => Ok(Some(*FORMATS.iter().find(|x| **x == f).ok_or_else(
            || {
                ApiError::bad_request(
                    "format",
                    format!(
                        "{f:?} is not a format; choose one of {}",
                        FORMATS.join(", ")
                    ),
                )
            },
        )?)),
    }
}

impl Asked {
    /// Checks a request's kind, `format` and `days`, naming what is wrong.
    pub fn parse(kind: &str, format: Option<&str>, days: Option<u64>) -> Result<Asked, ApiError> {
        let Some(kind) = PERSON_DOCUMENTS.iter().find(|k| k.name == kind) else {
            return Err(ApiError::not_found(format!(
                "{kind:?} is not a document about a person; they are {}",
                NAMES.join(", ")
            ))
            .field("kind"));
        };
        let format = format_of(format)?;
        let days = match days {
            None => DAYS_DEFAULT,
            Some(d) if (1..=u64::from(DAYS_MAX)).contains(&d) => d as u32,
            Some(d) => {
                return Err(ApiError::bad_request(
                    "days",
                    format!("days must be between 1 and {DAYS_MAX}, not {d}"),
                ))
            }
        };
        Ok(Asked { kind, format, days })
    }
}

/// `GET /v1/people/{id}/documents/{kind}`: the document through the gate.
pub async fn person_document(
    State(app): State<App>,
    Auth(who): Auth,
    PathArg((person, kind)): PathArg<(String, String)>,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&["purpose", "format", "days"])?;
    let asked = Asked::parse(&kind, params.str("format"), params.u64("days")?)?;
    let purpose = params
        .name::<Purpose>("purpose")?
        .unwrap_or(default_purpose(who.role));
    send(&app, &who, &person, asked, purpose).await
}

/// Prints `asked` about `person` for `who` through the gate (the document's categories,
/// one access event, durable before the answer) and answers with it: the body, its media
/// type and file name, and headers naming its reference, digest, format and access event.
/// The pages' print links answer through this too.
pub async fn send(
    app: &App,
    who: &Principal,
    person: &str,
    asked: Asked,
    purpose: Purpose,
) -> Result<Response, ApiError> {
    let granted = print_through_gate(app, who, person, asked, purpose).await?;
    Ok(answer(
        granted.data,
        Some((granted.access_seq, granted.flagged)),
    ))
}

/// Prints `asked` about `person` for `who` inside the gate's read of the document's
/// categories: nothing is printed for a refused reader, and the access event is durable
/// before the document is returned. A download and an email print through here.
pub(crate) async fn print_through_gate(
    app: &App,
    who: &Principal,
    person: &str,
    asked: Asked,
    purpose: Purpose,
) -> Result<gate::Granted<Printed>, ApiError> {
    let Some(documents) = app.documents.get().cloned() else {
        return Err(no_printer());
    };
    let id = person.to_string();
    let Asked { kind, format, days } = asked;
    let name = kind.name;
    gate::read(
        app,
        who,
        person,
        kind.categories,
        purpose,
        move |app, deadline| {
            deadline.check()?;
            match documents.person(&app.ledger, name, &id, format, days) {
                Ok(p) => Ok((p, 1)),
                Err(PrintRefused::Nothing(why)) => Err(ApiError::not_found(why).field("kind")),
                Err(PrintRefused::Failed(why)) => Err(ApiError::internal(why)),
                Err(PrintRefused::Bad(why)) => Err(ApiError::bad_request("kind", why)),
            }
        },
    )
    .await
}

/// `GET /v1/reports/{kind}/document`: a report for the council, printed, for the roles
/// [`REPORTS`] names. It reads every person's projections (a scan, bounded like findings)
/// and records no access event, as the findings report does not: it is the provider's
/// report of itself.
pub async fn report_document(
    State(app): State<App>,
    Auth(who): Auth,
    PathArg(kind): PathArg<String>,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&["format"])?;
    let Some(report) = REPORTS.iter().find(|r| r.name == kind) else {
        return Err(ApiError::not_found(format!(
            "{kind:?} is not a report; they are {}",
            REPORT_NAMES.join(", ")
        ))
        .field("kind"));
    };
    crate::handlers::require_role(
        &who,
        report.roles,
        &format!("print the {} report", report.name),
    )?;
    let format = format_of(params.str("format"))?;
    let Some(documents) = app.documents.get().cloned() else {
        return Err(no_printer());
    };
    let name = report.name;
    let scan = app.scan_permit()?;
    let printed = app
        .offload("a report", move |app, deadline| {
            scan.run(app, deadline, move |app, _| {
                documents
                    .report(&app.ledger, name, format)
                    .map_err(|e| match e {
                        PrintRefused::Nothing(why) => ApiError::not_found(why).field("kind"),
                        PrintRefused::Bad(why) => ApiError::bad_request("kind", why),
                        PrintRefused::Failed(why) => ApiError::internal(why),
                    })
            })
        })
        .await?;
    Ok(answer(printed, None))
}

/// `GET /v1/guide/document`: the provider's current Service User Guide, to anyone signed
/// in. It is the provider's document, about nobody, so no access event is written; the
/// person's own format is theirs to ask for (`format=`).
pub async fn guide_document(
    State(app): State<App>,
    Auth(_): Auth,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&["format"])?;
    send_guide(&app, params.str("format")).await
}

/// The current Service User Guide in `format` (one of [`FORMATS`]; default pdf), as
/// `GET /v1/guide/document` and the guide page send it.
pub async fn send_guide(app: &App, format: Option<&str>) -> Result<Response, ApiError> {
    let format = format_of(format)?;
    let Some(documents) = app.documents.get().cloned() else {
        return Err(no_printer());
    };
    let printed = app
        .offload("the Service User Guide", move |app, _| {
            documents.guide(&app.ledger, format).map_err(|e| match e {
                PrintRefused::Nothing(why) => ApiError::not_found(why),
                PrintRefused::Bad(why) => ApiError::bad_request("format", why),
                PrintRefused::Failed(why) => ApiError::internal(why),
            })
        })
        .await?;
    Ok(answer(printed, None))
}

/// A printed document as an answer: the body, its media type and file name, and headers
/// naming its reference, digest, format and (for a person's document) the access event.
fn answer(p: Printed, access: Option<(u64, bool)>) -> Response {
    let mut response = (StatusCode::OK, p.bytes).into_response();
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    let ours = header::HeaderName::from_static;
    set(header::CONTENT_TYPE, p.media_type.to_string());
    set(
        header::CONTENT_DISPOSITION,
        format!(
            "inline; filename=\"{}\"",
            p.file_name.replace(['"', '\\'], "_")
        ),
    );
    set(header::CACHE_CONTROL, "no-store".into());
    set(ours("careledger-reference"), p.reference);
    set(ours("careledger-digest"), p.digest);
    set(ours("careledger-format"), p.format.into());
    if let Some((seq, flagged)) = access {
        set(ours("careledger-access-event"), seq.to_string());
        if flagged {
            set(ours("careledger-access-flagged"), "true".into());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_names_are_the_documents_in_order() {
        let names: Vec<&str> = super::PERSON_DOCUMENTS.iter().map(|k| k.name).collect();
        assert_eq!(names, super::NAMES);
    }
}
