//! Errors as RFC 9457 problem details (`application/problem+json`): a status, a title, a
//! detail a person can act on, and where the request itself was at fault, the field.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use careledger_care::codec::DecodeError;
use careledger_care::RuleError;
use careledger_ledger::{CareRefusal, LedgerError};
use careledger_store::{AppendError, StoreError};
use schemars::JsonSchema;
use serde::Serialize;

/// How long a caller told "busy" should wait before trying again.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// The body of every error answer (RFC 9457).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Problem {
    /// A URI naming the problem type; its last segment is a short stable name.
    pub r#type: String,
    pub title: &'static str,
    pub status: u16,
    /// What went wrong, in words a person can act on.
    pub detail: String,
    /// The request field at fault: a JSON path such as payload.sections.review_date, a query
    /// or path parameter, or a header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The refusal event the access gate appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_event: Option<u64>,
}

/// An error answer. Build it with the constructors; every one names what went wrong.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// A short, stable name of the problem type (the last part of its `type` URI).
    pub kind: &'static str,
    pub detail: String,
    /// The request field at fault (a JSON path, a query or path parameter, a header).
    pub field: Option<String>,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
    /// The sequence number of the refusal event the access gate wrote, if any.
    pub access_event: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
            field: None,
            retry_after: None,
            access_event: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-request", detail).field(field)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail).field("authorization")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// A person id the ledger does not know.
    pub fn no_person(id: &str) -> Self {
        Self::not_found(format!("no person {id:?} in this ledger")).field("person")
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// The disk is too full to write: 507, and nothing was written.
    pub fn insufficient_storage(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient-storage",
            detail,
        )
    }

    pub fn busy(detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail);
        e.retry_after = Some(RETRY_AFTER_SECONDS);
        e
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    /// A care rule refused the command; the field it names is placed by its path.
    pub fn rule(error: &RuleError) -> Self {
        use RuleError::*;
        let (status, kind_name) = match error {
            NotRegistered { .. }
            | UnknownPartner { .. }
            | UnknownGrant { .. }
            | UnknownRequest { .. }
            | UnknownOutage { .. }
            | NoEmergencyToReview { .. }
            | NoPlan { .. } => (StatusCode::NOT_FOUND, "not-found"),
            AlreadyRegistered { .. }
            | StaffExists { .. }
            | PartnerExists { .. }
            | RepresentativeExists { .. }
            | GrantExists { .. }
            | GrantRevoked { .. }
            | RequestExists { .. }
            | RequestClosed { .. }
            | OutageExists { .. }
            | OutageOngoing { .. }
            | AlreadyOnMar { .. }
            | VisitOpen { .. }
            | PlanVersionConflict { .. }
            | GuideVersionConflict { .. }
            | ReviewNotCurrent { .. }
            | SlaAlreadyRecorded { .. } => (StatusCode::CONFLICT, "conflict"),
            AccessNotAllowed { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "rule-violated"),
        };
        let mut e = Self::new(status, kind_name, error.to_string());
        let payload = |name: &str| Some(format!("payload.{name}"));
        e.field = match error {
            Missing { path, .. } | TooLong { path, .. } | ControlCharacter { path, .. } => {
                payload(path)
            }
            TooMany { path, .. } => path.as_deref().and_then(payload),
            InvalidNhsNumber { .. } => payload("nhs_number"),
            InvalidDigest { .. } => payload("digest"),
            InvalidEmailAddress { .. } => payload("address"),
            UnknownEmailHolder { .. } => payload("holder"),
            BirthInFuture(_) => payload("date_of_birth"),
            InFuture { .. } | BeforeEarliest { .. } | BeforeBirth { .. } => {
                Some("occurred_at".into())
            }
            SubjectRequired { .. } | SubjectNotAllowed { .. } | NotRegistered { .. } => {
                Some("subject".into())
            }
            PlanVersionConflict { .. }
            | ReviewNotCurrent { .. }
            | GuideVersionConflict { .. }
            | UnknownGuideVersion { .. } => payload("version"),
            ReasonRequired { .. } => payload("reason"),
            DoseRequired => payload("dose_given"),
            DueTooLate { .. } | DueBeforeReceipt => payload("due_at_us"),
            ReceivedLongBefore { .. } => payload("received_at_us"),
            ExpiryInPast | EmergencyTooLong => payload("expires_at_us"),
            ContributionNotAllowed { .. } | AuthorMismatch { .. } => payload("author"),
            ChosenNotExplained { .. } => payload("chosen"),
            ContradictoryNeeds { .. } | DuplicateNeed { .. } => payload("needs"),
            ChannelNotAgreed { .. } => payload("channel"),
            NoSharingConsent { .. } => payload("categories"),
            NoEmergencyToReview { .. } => payload("emergency_event"),
            NoAuthority { .. } | WrongBasis { .. } => payload("decided_by"),
            EvidenceRequired { .. } => payload("evidence_of_authority"),
            _ => None,
        };
        e
    }

    fn title(&self) -> &'static str {
        match self.kind {
            "invalid-request" => "The request is not valid",
            "unauthenticated" => "Authentication is required",
            "forbidden" => "Not allowed",
            "not-found" => "Not found",
            "conflict" => "Conflicts with the ledger's current state",
            "rule-violated" => "A care rule refused it",
            "too-large" => "The request body is too large",
            "too-many-attempts" => "Too many failed sign-in attempts",
            "busy" => "The ledger is busy",
            "timeout" => "The request took too long",
            "unsupported-media-type" => "The body must be JSON",
            "method-not-allowed" => "Method not allowed",
            "key-reused" => "The idempotency key was used for another request",
            "undecodable-event" => "A stored event does not decode",
            "insufficient-storage" => "The ledger's disk is too full to write",
            "replica" => "This service is a read-only replica",
            "primary-unreachable" => "The replica's primary could not record the read",
            "replica-ahead" | "not-a-frame" => "The replica's history is not this ledger's",
            _ => "The service failed",
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.kind, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            r#type: format!("https://careledger.example/problems/{}", self.kind),
            title: self.title(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            field: self.field.clone(),
            access_event: self.access_event,
        };
        let text = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (self.status, text).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 9110 section 11.6.1 and RFC 6750 section 3.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"careledger\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<AppendError> for ApiError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Busy(_) => ApiError::busy(e.to_string()),
            AppendError::PayloadTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", e.to_string())
                    .field("payload")
            }
            AppendError::Invalid { source, .. } => {
                use careledger_log::envelope::EnvelopeError as E;
                let field = match &source {
                    E::EmptyField { field }
                    | E::FieldTooLong { field, .. }
                    | E::ControlCharacter { field } => Some(*field),
                    _ => None,
                };
                let mut e = ApiError::bad_request("body", source.to_string());
                e.field = field.map(str::to_string);
                e
            }
            AppendError::TooManyEvents { .. } | AppendError::Empty => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule-violated",
                e.to_string(),
            ),
            AppendError::Closed => {
                ApiError::unavailable("the ledger is shutting down; nothing was written")
            }
            AppendError::KeyReused { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "key-reused",
                format!("{e}; nothing was written: use a new key for a new request"),
            )
            .field(crate::idempotency::HEADER),
            AppendError::KeyTooLong { .. } => {
                ApiError::bad_request(crate::idempotency::HEADER, e.to_string())
            }
            // Keys expire with time: the same request succeeds later.
            AppendError::KeysFull { .. } => ApiError::busy(e.to_string()),
            AppendError::DiskFull { .. } => ApiError::insufficient_storage(e.to_string()),
            AppendError::Replica { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "replica", e.to_string())
            }
            AppendError::PrimaryUnreachable { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "primary-unreachable",
                e.to_string(),
            ),
            AppendError::WriteFailed(reason) if careledger_store::is_no_space(&reason) => {
                ApiError::insufficient_storage(format!(
                    "the disk holding the ledger is full ({reason}); nothing of this request \
                     was written, and appends are refused until space is freed and the \
                     service restarted (reads go on)"
                ))
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidArgument(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", m)
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Refused { error, .. } => match error {
                CareRefusal::Rule(rule) => ApiError::rule(&rule),
                CareRefusal::Decode(d @ DecodeError::Encode { .. }) => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", d.to_string())
                        .field("payload")
                }
                CareRefusal::Decode(d) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "rule-violated",
                    d.to_string(),
                )
                .field("payload"),
            },
            LedgerError::Append(a) => a.into(),
            LedgerError::Store(s) => s.into(),
            LedgerError::Poisoned => ApiError::internal(e.to_string()),
        }
    }
}
