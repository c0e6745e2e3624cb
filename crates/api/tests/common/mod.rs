//! The service in-process: a fresh ledger, one user per role, the router called with
//! tower's `oneshot`, and a small home-care world seeded through the API itself.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use careledger_api::auth::AuthFiles;
use careledger_api::{App, ClientAddr, Limits};
use careledger_care::{CareEvent, Role};
use careledger_ledger::Ledger;
use careledger_store::{now_us, Store, StoreConfig};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// The principals of the test world: (id, role).
pub const USERS: &[(&str, Role)] = &[
    ("staff-cw01", Role::CareWorker),
    ("staff-co01", Role::Coordinator),
    ("staff-rm01", Role::RegisteredManager),
    ("staff-pa01", Role::ProviderAdmin),
    ("person-a", Role::Person),
    ("person-b", Role::Person),
    ("rep-a-lpa", Role::Representative),
    ("rep-a-family", Role::Representative),
    ("partner-dn", Role::Partner),
    ("council-mo01", Role::MonitoringOfficer),
    ("council-scp01", Role::SocialCareProfessional),
    ("auditor-01", Role::Auditor),
    ("clinician-01", Role::EmergencyClinician),
];

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub app: App,
    pub router: Router,
    pub tokens: BTreeMap<&'static str, String>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// A problem document whose `field` is `field`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, field: Option<&str>) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(self.content_type(), "application/problem+json");
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{p}");
        if let Some(field) = field {
            assert_eq!(p["field"], field, "{p}");
        }
        p
    }
}

pub fn open(dir: &std::path::Path, config: StoreConfig, limits: Limits) -> App {
    let config = StoreConfig {
        master_key: config.master_key.clone().or_else(|| Some(master_key())),
        ..config
    };
    let ledger = Ledger::open(dir, config).unwrap();
    App::new(ledger, dir, limits).unwrap()
}

/// The master key every harness ledger of this test binary is sealed with, so that a test
/// reopening a harness's folder with a default configuration reads it.
pub fn master_key() -> std::sync::Arc<careledger_store::MasterKey> {
    static KEY: std::sync::OnceLock<std::sync::Arc<careledger_store::MasterKey>> =
        std::sync::OnceLock::new();
    KEY.get_or_init(|| std::sync::Arc::new(careledger_store::MasterKey::generate().unwrap()))
        .clone()
}

/// A store configuration with the harnesses' master key.
pub fn sealed(config: StoreConfig) -> StoreConfig {
    StoreConfig {
        master_key: Some(master_key()),
        ..config
    }
}

pub fn quiet() -> Limits {
    Limits {
        log_requests: false,
        ..Limits::default()
    }
}

impl Harness {
    /// An empty ledger with one user (and token) per principal of [`USERS`].
    pub fn empty() -> Self {
        Self::with(StoreConfig::default(), quiet())
    }

    /// The ledger is sealed at rest, as every ledger careledger makes, with a master key
    /// kept in memory ([`master_key`]) unless `config` names one.
    pub fn with(config: StoreConfig, limits: Limits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            master_key: Some(config.master_key.clone().unwrap_or_else(master_key)),
            ..config
        };
        Store::init_sealed(
            dir.path(),
            "test.careledger.local/api",
            config.master_key.as_deref().unwrap(),
        )
        .unwrap();
        let mut files = AuthFiles::open(dir.path()).unwrap();
        let mut tokens = BTreeMap::new();
        for (id, role) in USERS {
            files.add_user(id, *role, "test user", now_us()).unwrap();
            tokens.insert(*id, files.issue(id, now_us(), None).unwrap().1);
        }
        // Release the files (and their lock) before the service opens them.
        drop(files);
        let app = open(dir.path(), config, limits);
        Self {
            router: careledger_api::router(app.clone()),
            app,
            dir,
            tokens,
        }
    }

    /// [`Harness::empty`] with the world of [`Harness::seed`].
    pub async fn seeded() -> Self {
        let h = Self::empty();
        h.seed().await;
        h
    }

    pub fn token(&self, user: &str) -> &str {
        self.tokens
            .get(user)
            .unwrap_or_else(|| panic!("no user {user}"))
    }

    pub async fn request(&self, req: Request<Body>) -> Answer {
        let mut req = req;
        req.extensions_mut()
            .insert(ConnectInfo(ClientAddr(SocketAddr::from((
                [127, 0, 0, 1],
                40000,
            )))));
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            bytes,
        }
    }

    pub async fn get(&self, user: Option<&str>, path: &str) -> Answer {
        let mut b = Request::get(path);
        if let Some(u) = user {
            b = b.header("authorization", format!("Bearer {}", self.token(u)));
        }
        self.request(b.body(Body::empty()).unwrap()).await
    }

    pub async fn post_raw(
        &self,
        user: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        let req = Request::post(path)
            .header("authorization", format!("Bearer {}", self.token(user)))
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        self.request(req).await
    }

    pub async fn post(&self, user: &str, path: &str, body: Value) -> Answer {
        self.post_raw(
            user,
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    /// Records an event through the API and asserts it was accepted.
    pub async fn event(
        &self,
        user: &str,
        kind: &str,
        subject: Option<&str>,
        payload: Value,
    ) -> u64 {
        let mut body = json!({"kind": kind, "payload": payload});
        if let Some(s) = subject {
            body["subject"] = json!(s);
        }
        let a = self.post(user, "/v1/events", body).await;
        assert_eq!(
            a.status,
            StatusCode::CREATED,
            "{kind} by {user}: {}",
            a.text()
        );
        a.json()["event"].as_u64().unwrap()
    }

    pub fn size(&self) -> u64 {
        self.app.ledger.store().size()
    }

    /// (kind, actor, subject, event) of every event from `from` on.
    pub fn events_from(
        &self,
        from: u64,
    ) -> Vec<(String, String, Option<String>, Option<CareEvent>)> {
        let store = self.app.ledger.store();
        store
            .range(from, 10_000)
            .unwrap()
            .into_iter()
            .map(|s| {
                let event = s
                    .payload
                    .as_ref()
                    .and_then(|(_, p)| CareEvent::decode(&s.envelope.kind, p).ok());
                (s.envelope.kind, s.envelope.actor, s.envelope.subject, event)
            })
            .collect()
    }

    /// Staff, two people, representatives, a partner with a grant, a family grant, a care
    /// plan, a medicine with a dose, notes, an observation, an incident, AIS needs, a
    /// choices discussion, paper copies, and an open council request about person-a.
    pub async fn seed(&self) {
        let rm = "staff-rm01";
        for (id, role) in [
            ("staff-rm01", "RegisteredManager"),
            ("staff-cw01", "CareWorker"),
            ("staff-co01", "Coordinator"),
            ("staff-pa01", "ProviderAdmin"),
        ] {
            self.event(
                rm,
                "staff.registered",
                None,
                json!({"staff_id": id, "name": format!("Staff {id}"), "role": role}),
            )
            .await;
        }
        self.event(rm, "partner.registered", None, json!({"partner_id": "partner-dn", "name": "District nurses", "agreed_channel": "SecureEmail", "contact": "dn@nhs.example"}))
            .await;
        for (p, name) in [("person-a", "Alice Able"), ("person-b", "Bob Baker")] {
            self.event(rm, "person.registered", Some(p), json!({
                "name": name, "date_of_birth": "1940-02-03", "nhs_number": null,
                "address": "1 High Street", "gp_practice": "High Street Surgery", "allergies": ["penicillin"],
            }))
            .await;
            self.event(rm, "care.started", Some(p), json!({"service": "home care"}))
                .await;
            self.event(rm, "careplan.published", Some(p), json!({"version": 1, "sections": {
                "about_me": "likes tea", "needs": ["washing"], "goals": [], "actions": ["morning visit"],
                "risks": [], "contingency_plan": "call the office", "agreed_with": [p], "review_date": "2027-01-01",
            }}))
            .await;
        }
        self.event(rm, "representative.linked", Some("person-a"), json!({
            "representative_id": "rep-a-lpa", "name": "Ann Able", "relationship": "LpaHealthWelfare",
            "evidence_of_authority": "LPA registration 7000-1234-5678", "may_contribute": true,
        }))
        .await;
        self.event(
            rm,
            "representative.linked",
            Some("person-a"),
            json!({
                "representative_id": "rep-a-family", "name": "Fred Able", "relationship": "Family",
                "evidence_of_authority": null, "may_contribute": true,
            }),
        )
        .await;
        self.event(rm, "mar.medicine_added", Some("person-a"), json!({
            "medicine_id": "med-1", "name": "Paracetamol", "formulation": "tablet", "strength": "500 mg",
            "dose": "1 g", "route": "oral", "frequency": "four times a day", "min_interval_minutes": 240,
            "as_required": false, "prescriber": "Dr Who", "stop_or_review_date": null,
        }))
        .await;
        self.event("staff-cw01", "mar.administration", Some("person-a"), json!({
            "medicine_id": "med-1", "outcome": "Given", "dose_given": "1 g", "reason": null, "witnessed_by": null,
        }))
        .await;
        self.event(
            "staff-cw01",
            "diary.note",
            Some("person-a"),
            json!({"author": "Staff", "text": "Had breakfast"}),
        )
        .await;
        self.event(
            "person-a",
            "diary.note",
            Some("person-a"),
            json!({"author": "Person", "text": "I felt well today"}),
        )
        .await;
        self.event(
            "staff-cw01",
            "observation.recorded",
            Some("person-a"),
            json!({"measure": "pulse", "value": "72", "unit": "bpm"}),
        )
        .await;
        self.event(
            "staff-cw01",
            "incident.recorded",
            Some("person-a"),
            json!({"category": "fall", "description": "slipped, no injury", "severity": "Low"}),
        )
        .await;
        self.event(
            "staff-co01",
            "ais.needs_recorded",
            Some("person-a"),
            json!({"needs": [{"InformationFormat": "LargePrint"}], "consent_to_share": true}),
        )
        .await;
        self.event("staff-co01", "choices.discussed", Some("person-a"), json!({
            "present": ["person-a"], "options_explained": ["Paper", "Portal"], "chosen": ["Paper"],
            "told_access_is_free": true, "notes": "Wants the paper diary kept in the kitchen drawer.",
        }))
        .await;
        self.event(
            "staff-cw01",
            "paper.copy_placed",
            Some("person-a"),
            json!({"document": "CarePlan", "version": 1, "format": "LargePrint"}),
        )
        .await;
        // The partner sees the care plan and medicines for handover; the family member reads
        // daily notes; the person decides both.
        self.event("person-a", "access.granted", Some("person-a"), json!({
            "grant_id": "g-partner", "grantee": {"Principal": "partner-dn"}, "categories": ["CarePlan", "Medicines"],
            "purpose": "Handover", "expires_at_us": null, "decided_by": "person-a", "basis": "PersonHasCapacity",
        }))
        .await;
        self.event("rep-a-lpa", "access.granted", Some("person-a"), json!({
            "grant_id": "g-family", "grantee": {"Principal": "rep-a-family"}, "categories": ["DailyNotes"],
            "purpose": "PersonalAccess", "expires_at_us": null, "decided_by": "rep-a-lpa", "basis": "LastingPowerOfAttorney",
        }))
        .await;
        let now = now_us();
        self.event("staff-rm01", "request.received", None, json!({
            "request_id": "req-1", "requester": "council-mo01", "organisation": "County Council",
            "people": ["person-a"], "categories": ["ConsentRecords", "CommunicationNeeds"],
            "description": "consent evidence for the annual review",
            "received_at_us": now, "due_at_us": now + 24 * 3_600_000_000i64,
        }))
        .await;
    }
}

/// One operation of a served OpenAPI document: its method (upper case), its path template
/// and the operation object.
pub struct Operation<'a> {
    pub method: String,
    pub template: &'a str,
    pub op: &'a Value,
}

/// Every operation the document lists.
pub fn operations(doc: &Value) -> Vec<Operation<'_>> {
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            out.push(Operation {
                method: method.to_ascii_uppercase(),
                template,
                op,
            });
        }
    }
    out
}

impl Operation<'_> {
    /// A request as the document describes it, on the world of [`Harness::seed`]: path
    /// parameters filled in (a person's id, an event number), every required query
    /// parameter given a value its schema accepts, and a JSON body if it takes one.
    pub fn request(&self, token: Option<&str>) -> Request<Body> {
        let params = self.op["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let value = |p: &Value| match p["schema"]["type"].as_str() {
            Some("integer") => "1".to_string(),
            _ if p["name"] == "id" => "person-a".to_string(),
            _ => "x".to_string(),
        };
        let mut path = self.template.to_string();
        let mut query = Vec::new();
        for p in &params {
            let name = p["name"].as_str().unwrap();
            match p["in"].as_str() {
                Some("path") => path = path.replace(&format!("{{{name}}}"), &value(p)),
                Some("query") if p["required"] == true => {
                    query.push(format!("{name}={}", value(p)))
                }
                _ => {}
            }
        }
        assert!(
            !path.contains('{'),
            "{} {}: a path parameter is not documented",
            self.method,
            self.template
        );
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let mut b = Request::builder().method(self.method.as_str()).uri(path);
        if let Some(token) = token {
            b = b.header("authorization", format!("Bearer {token}"));
        }
        let body = if self.op.get("requestBody").is_some() {
            b = b.header("content-type", "application/json");
            Body::from("{}")
        } else {
            Body::empty()
        };
        b.body(body).unwrap()
    }
}

/// How many requests the service's metrics count for `method` on the route `template`
/// (the template the router matched; unmatched requests count under "unmatched").
pub fn routed(app: &App, method: &str, template: &str) -> u64 {
    let prefix =
        format!("careledger_http_requests_total{{method=\"{method}\",route=\"{template}\",status=");
    app.metrics
        .render(0)
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// A document printer that prints nothing and finds every reference foreign: for tests
/// that need the document routes to answer without crates/print.
pub struct NoPrinter;

impl careledger_api::documents::Documents for NoPrinter {
    fn person(
        &self,
        _: &Ledger,
        kind: &'static str,
        _: &str,
        _: Option<&'static str>,
        _: u32,
    ) -> Result<careledger_api::documents::Printed, careledger_api::documents::PrintRefused> {
        Err(careledger_api::documents::PrintRefused::Nothing(format!(
            "this test prints no {kind}"
        )))
    }

    fn report(
        &self,
        _: &Ledger,
        kind: &'static str,
        _: Option<&'static str>,
    ) -> Result<careledger_api::documents::Printed, careledger_api::documents::PrintRefused> {
        Err(careledger_api::documents::PrintRefused::Nothing(format!(
            "this test prints no {kind}"
        )))
    }

    fn guide(
        &self,
        _: &Ledger,
        _: Option<&'static str>,
    ) -> Result<careledger_api::documents::Printed, careledger_api::documents::PrintRefused> {
        Err(careledger_api::documents::PrintRefused::Nothing(
            "this test prints no guide".into(),
        ))
    }

    fn check(
        &self,
        _: &Ledger,
        reference: &str,
    ) -> Result<careledger_api::documents::DocumentCheck, careledger_api::documents::PrintRefused>
    {
        Ok(careledger_api::documents::DocumentCheck {
            reference: reference.to_string(),
            checkpoint_verified: false,
            checkpoint: "this test holds no printed copies".into(),
            current: None,
            said: None,
        })
    }
}
