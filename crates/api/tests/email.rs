//! `POST /v1/people/{id}/documents/{kind}/email`: only where the person chose secure email,
//! only to an address recorded for them or a representative, printed through the gate (one
//! access event), and the relay's outcome recorded as `email.delivered` or `email.failed`.
//! The relay here is a stand-in that keeps what it was given; crates/mail/tests talk to a
//! real SMTP server, and tests/serve.rs sends through one end to end.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use careledger_api::documents::{DocumentCheck, Documents, PrintRefused, Printed};
use careledger_api::email::{Mailer, NotSent, Outgoing, Sending, Sent};
use careledger_care::CareEvent;
use careledger_ledger::Ledger;
use common::Harness;
use serde_json::json;

/// Prints a short text naming the document and person.
struct Echo;

impl Documents for Echo {
    fn person(
        &self,
        _: &Ledger,
        kind: &'static str,
        person: &str,
        format: Option<&'static str>,
        _: u32,
    ) -> Result<Printed, PrintRefused> {
        let format = format.unwrap_or("pdf");
        let bytes = format!("{kind} of {person} in {format}").into_bytes();
        Ok(Printed {
            digest: blake3::hash(&bytes).to_hex().to_string(),
            bytes,
            media_type: "application/pdf",
            format,
            file_name: format!("{kind}-{person}.pdf"),
            reference: format!("CL1:{kind}:1:10:abcdefabcdef:{person}"),
            version: Some(1),
        })
    }
    fn report(
        &self,
        _: &Ledger,
        _: &'static str,
        _: Option<&'static str>,
    ) -> Result<Printed, PrintRefused> {
        Err(PrintRefused::Nothing("no reports here".into()))
    }
    fn guide(&self, _: &Ledger, _: Option<&'static str>) -> Result<Printed, PrintRefused> {
        Err(PrintRefused::Nothing("no guide here".into()))
    }
    fn check(&self, _: &Ledger, _: &str) -> Result<DocumentCheck, PrintRefused> {
        Err(PrintRefused::Bad("no checks here".into()))
    }
}

/// A relay that keeps every message and answers as told.
#[derive(Default)]
struct Relay {
    sent: Mutex<Vec<Outgoing>>,
    refuse: bool,
}

/// The service's handle on the relay; the test keeps another.
struct Handle(Arc<Relay>);

impl Mailer for Handle {
    fn domain(&self) -> String {
        "care.example.org".into()
    }
    fn send(&self, mail: Outgoing) -> Sending {
        let me = self.0.clone();
        Box::pin(async move {
            me.sent.lock().unwrap().push(mail);
            if me.refuse {
                Err(NotSent {
                    error: "550 5.7.1 Refused by policy".into(),
                    attempts: 1,
                    permanent: true,
                })
            } else {
                Ok(Sent {
                    answer: "250 2.0.0 Ok: queued as 7F3A".into(),
                    attempts: 2,
                })
            }
        })
    }
}

async fn harness(refuse: bool) -> (Harness, Arc<Relay>) {
    let h = Harness::seeded().await;
    assert!(h.app.set_documents(Arc::new(Echo)));
    let relay = Arc::new(Relay {
        refuse,
        ..Relay::default()
    });
    assert!(h.app.set_mailer(Arc::new(Handle(relay.clone()))));
    (h, relay)
}

/// person-a chooses secure email; their attorney's address is recorded.
async fn chooses_email(h: &Harness) {
    h.event(
        "staff-co01",
        "choices.discussed",
        Some("person-a"),
        json!({
            "present": ["person-a", "rep-a-lpa"], "options_explained": ["Paper", "SecureEmail"],
            "chosen": ["Paper", "SecureEmail"], "told_access_is_free": true, "notes": "",
        }),
    )
    .await;
    h.event(
        "rep-a-lpa",
        "email.address_recorded",
        Some("person-a"),
        json!({"holder": "rep-a-lpa", "address": "mary.able@example.org"}),
    )
    .await;
}

/// The email event that follows `from`, once the background send has recorded it.
async fn outcome(h: &Harness, from: u64) -> (String, String, CareEvent) {
    for _ in 0..200 {
        let found = h
            .events_from(from)
            .into_iter()
            .find(|(kind, ..)| kind.starts_with("email."));
        if let Some((kind, actor, _, Some(event))) = found {
            return (kind, actor, event);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no email event was recorded");
}

const PATH: &str = "/v1/people/person-a/documents/care-plan/email";

#[tokio::test]
async fn a_document_goes_to_the_recorded_address_and_the_relays_answer_is_recorded() {
    let (h, relay) = harness(false).await;
    chooses_email(&h).await;
    let before = h.size();
    let a = h
        .post(
            "staff-co01",
            PATH,
            json!({"to": "rep-a-lpa", "format": "large-print"}),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.text());
    let queued = a.json();
    assert_eq!(
        queued["access_event"], before,
        "the printing's access event comes first"
    );
    assert_eq!(queued["address"], "mary.able@example.org");
    assert_eq!(queued["format"], "large-print");
    let digest = blake3::hash(b"care-plan of person-a in large-print")
        .to_hex()
        .to_string();
    assert_eq!(queued["digest"], digest.as_str());
    let message_id = format!("<{}.{before}@care.example.org>", &digest[..16]);
    assert_eq!(queued["message_id"], message_id.as_str());
    let (kind, actor, event) = outcome(&h, before + 1).await;
    assert_eq!(
        (kind.as_str(), actor.as_str()),
        ("email.delivered", "staff-co01")
    );
    let CareEvent::SecureEmailDelivered(d) = event else {
        panic!("{event:?}")
    };
    assert_eq!(d.to, "mary.able@example.org");
    assert_eq!(d.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(d.message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(
        d.relay_answer.as_deref(),
        Some("250 2.0.0 Ok: queued as 7F3A")
    );
    assert_eq!(d.version, Some(1));
    assert_eq!(d.format, careledger_care::Format::LargePrint);
    assert!(!d.as_link);
    let sent = relay.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "mary.able@example.org");
    assert_eq!(
        sent[0].subject, "Your care plan",
        "no personal data in the subject"
    );
    assert_eq!(sent[0].bytes, b"care-plan of person-a in large-print");
    assert_eq!(sent[0].media_type, "application/pdf");
    assert!(
        sent[0]
            .text
            .contains("CL1:care-plan:1:10:abcdefabcdef:person-a"),
        "{}",
        sent[0].text
    );
    // The person's projection counts it.
    let emails = h
        .app
        .ledger
        .read(|s| s.person("person-a").unwrap().counts.emails)
        .unwrap();
    assert_eq!(emails, 1);
}

#[tokio::test]
async fn a_relay_that_refuses_is_recorded_as_a_failure() {
    let (h, _) = harness(true).await;
    chooses_email(&h).await;
    let before = h.size();
    let a = h.post("staff-rm01", PATH, json!({"to": "rep-a-lpa"})).await;
    assert_eq!(a.status, 202, "{}", a.text());
    let (kind, _, event) = outcome(&h, before + 1).await;
    assert_eq!(kind, "email.failed");
    let CareEvent::SecureEmailFailed(f) = event else {
        panic!("{event:?}")
    };
    assert_eq!(f.error, "550 5.7.1 Refused by policy");
    assert!(f.permanent);
    assert_eq!(f.attempts, 1);
    assert_eq!(f.to, "mary.able@example.org");
    let failed = h
        .app
        .ledger
        .read(|s| s.person("person-a").unwrap().counts.emails_failed)
        .unwrap();
    assert_eq!(failed, 1);
}

#[tokio::test]
async fn nothing_is_printed_or_sent_unless_the_person_chose_email_to_a_recorded_address() {
    let (h, relay) = harness(false).await;
    let before = h.size();
    // person-a's last discussion chose paper only.
    let a = h.post("staff-co01", PATH, json!({"to": "person-a"})).await;
    let p = a.assert_problem(422, None);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("has not chosen secure email"),
        "{p}"
    );
    assert_eq!(h.size(), before, "no access event for a refusal");
    chooses_email(&h).await;
    let before = h.size();
    // No address is recorded for the person themselves, nor for a stranger.
    for to in ["person-a", "someone-else"] {
        let a = h.post("staff-co01", PATH, json!({"to": to})).await;
        let p = a.assert_problem(422, Some("to"));
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("no email address is recorded"),
            "{p}"
        );
    }
    // A care worker does not send documents by email.
    h.post("staff-cw01", PATH, json!({"to": "rep-a-lpa"}))
        .await
        .assert_problem(403, None);
    // Bad requests are named.
    h.post(
        "staff-co01",
        PATH,
        json!({"to": "rep-a-lpa", "format": "word"}),
    )
    .await
    .assert_problem(400, Some("format"));
    h.post(
        "staff-co01",
        PATH,
        json!({"to": "rep-a-lpa", "cc": "x@example.org"}),
    )
    .await
    .assert_problem(400, None);
    h.post(
        "staff-co01",
        "/v1/people/person-a/documents/letter/email",
        json!({"to": "rep-a-lpa"}),
    )
    .await
    .assert_problem(404, Some("kind"));
    h.post("staff-co01", PATH, json!({"to": "rep-a-lpa", "days": 93}))
        .await
        .assert_problem(400, Some("days"));
    assert_eq!(h.size(), before, "nothing recorded");
    assert!(relay.sent.lock().unwrap().is_empty(), "nothing sent");
}

#[tokio::test]
async fn without_a_relay_the_route_says_so() {
    let h = Harness::seeded().await;
    assert!(h.app.set_documents(Arc::new(Echo)));
    h.post("staff-co01", PATH, json!({"to": "rep-a-lpa"}))
        .await
        .assert_problem(501, None);
}

#[tokio::test]
async fn a_document_goes_only_to_someone_who_may_read_it_and_only_staff_who_send() {
    let (h, relay) = harness(false).await;
    chooses_email(&h).await;
    // The family representative may read only the daily notes (their grant): the care
    // plan is not emailed to them, though an address is recorded.
    h.event(
        "rep-a-family",
        "email.address_recorded",
        Some("person-a"),
        json!({"holder": "rep-a-family", "address": "fred.able@example.org"}),
    )
    .await;
    let before = h.size();
    let a = h
        .post("staff-co01", PATH, json!({"to": "rep-a-family"}))
        .await;
    let p = a.assert_problem(422, Some("to"));
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("rep-a-family may not read this document themselves"),
        "{p}"
    );
    // A provider admin does not read care plans for direct care, so does not send them.
    h.post("staff-pa01", PATH, json!({"to": "rep-a-lpa"}))
        .await
        .assert_problem(403, None);
    assert_eq!(h.size(), before, "nothing printed, nothing recorded");
    assert!(relay.sent.lock().unwrap().is_empty());
    // A delivery recorded by hand cannot pass for one the relay accepted.
    for field in ["digest", "message_id", "relay_answer"] {
        let mut payload = json!({"document": "CarePlan", "version": 1, "format": "StandardPrint",
            "to": "mary.able@example.org", "as_link": false});
        payload[field] = json!(if field == "digest" {
            "0".repeat(64)
        } else {
            "x".into()
        });
        h.post(
            "staff-co01",
            "/v1/events",
            json!({"kind": "email.delivered", "subject": "person-a", "payload": payload}),
        )
        .await
        .assert_problem(400, Some(&format!("payload.{field}")));
    }
    assert_eq!(h.size(), before);
}

/// A relay that never answers.
struct Silent;

impl Mailer for Silent {
    fn domain(&self) -> String {
        "care.example.org".into()
    }
    fn send(&self, _: Outgoing) -> Sending {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_send_still_waiting_when_the_service_stops_is_recorded_as_failed() {
    let h = Harness::seeded().await;
    assert!(h.app.set_documents(Arc::new(Echo)));
    assert!(h.app.set_mailer(Arc::new(Silent)));
    chooses_email(&h).await;
    let before = h.size();
    let a = h.post("staff-co01", PATH, json!({"to": "rep-a-lpa"})).await;
    assert_eq!(a.status, 202, "{}", a.text());
    careledger_api::email::drain(&h.app, Duration::from_millis(200)).await;
    let (kind, _, event) = outcome(&h, before + 1).await;
    assert_eq!(kind, "email.failed");
    let CareEvent::SecureEmailFailed(f) = event else {
        panic!("{event:?}")
    };
    assert!(f.error.contains("the service stopped"), "{}", f.error);
    assert!(!f.permanent);
    assert_eq!(
        h.app.email_slots.available_permits(),
        careledger_api::email::EMAILS_IN_FLIGHT_MAX,
        "every place is free again"
    );
}

#[tokio::test]
async fn when_every_place_is_taken_one_more_email_is_busy_and_nothing_is_printed() {
    let h = Harness::seeded().await;
    assert!(h.app.set_documents(Arc::new(Echo)));
    assert!(h.app.set_mailer(Arc::new(Silent)));
    chooses_email(&h).await;
    for _ in 0..careledger_api::email::EMAILS_IN_FLIGHT_MAX {
        let a = h.post("staff-co01", PATH, json!({"to": "rep-a-lpa"})).await;
        assert_eq!(a.status, 202, "{}", a.text());
    }
    let before = h.size();
    let busy = h.post("staff-co01", PATH, json!({"to": "rep-a-lpa"})).await;
    busy.assert_problem(503, None);
    assert_eq!(h.size(), before, "no access event for a busy answer");
    careledger_api::email::drain(&h.app, Duration::from_millis(200)).await;
}
