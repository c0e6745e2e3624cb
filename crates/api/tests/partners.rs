//! A partner's own handovers: a partner records `handover.received` (what they hand over
//! to the provider) under their own id, about people who agreed to share with them, and
//! nothing else.

mod common;

use common::Harness;
use serde_json::json;

fn handover(partner: &str, subject: &str) -> serde_json::Value {
    json!({"kind": "handover.received", "subject": subject,
           "payload": {"partner_id": partner, "summary": "dressing changed", "channel": "SecureEmail"}})
}

#[tokio::test]
async fn a_partner_hands_over_only_as_themselves_and_only_about_people_who_agreed() {
    let h = Harness::seeded().await;
    let dn = "partner-dn";
    // person-a has not agreed to share with the district nurses yet.
    let before = h.size();
    h.post(dn, "/v1/events", handover(dn, "person-a"))
        .await
        .assert_problem(403, Some("subject"));
    h.event(
        "staff-rm01",
        "sharing.consent",
        Some("person-a"),
        json!({"partner_id": dn, "categories": ["Medicines"], "given": true,
               "decided_by": "person-a", "basis": "PersonHasCapacity"}),
    )
    .await;
    assert_eq!(h.size(), before + 1, "the refusal appended nothing");
    // Not in another partner's name.
    h.post(dn, "/v1/events", handover("partner-other", "person-a"))
        .await
        .assert_problem(403, Some("payload.partner_id"));
    // Not a handover sent (that is the provider's), nor any other kind.
    let sent = json!({"kind": "handover.sent", "subject": "person-a",
        "payload": {"partner_id": dn, "categories": ["Medicines"], "summary": "x", "channel": "SecureEmail"}});
    h.post(dn, "/v1/events", sent)
        .await
        .assert_problem(403, Some("kind"));
    let a = h.post(dn, "/v1/events", handover(dn, "person-a")).await;
    assert_eq!(a.status, 201, "{}", a.text());
    // Consent to share opens no record to the partner.
    h.get(Some(dn), "/v1/people/person-a/handovers")
        .await
        .assert_problem(403, None);
    // The care worker reads it in the person's handovers.
    let a = h
        .get(Some("staff-cw01"), "/v1/people/person-a/handovers")
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    let items = body["data"]["history"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["actor"], dn);
    let partner = &body["data"]["partners"][0];
    assert_eq!(partner["partner_id"], dn);
    assert_eq!(partner["agreed_channel"], "SecureEmail");
    assert!(
        partner.get("may_share").is_none(),
        "consent to share is consent records, not daily notes"
    );
}
