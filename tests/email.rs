//! Secure email end to end: `careledger serve --demo --email-config FILE` sending a printed
//! care plan through a real SMTP relay (aiosmtpd, crates/mail/tests/smtp_server.py, with
//! STARTTLS required and a test CA), then the ledger read back after SIGTERM: the
//! attachment that arrived has the digest `email.delivered` recorded, and the Message-ID.

mod common;
#[path = "../crates/mail/tests/relay/mod.rs"]
mod relay;

use common::server::*;
use relay::{smtp_available, Relay};

use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[test]
fn a_care_plan_emailed_through_a_real_relay_arrives_with_the_digest_the_ledger_recorded() {
    if !smtp_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start("accept");
    let relay_dir = relay.dir.path().to_path_buf();
    let config = relay.config(r#", "attempts": 2"#);
    let data = tmp.path().join("demo");
    let mut server = Server::start(&[
        "--demo",
        "--data",
        path_str(&data),
        "--listen",
        "127.0.0.1:0",
        "--email-config",
        path_str(&config),
    ]);
    server.wait_ready();
    let coordinator = server.token("coordinator").to_string();
    // The person chooses secure email, and their address is recorded.
    for (kind, payload) in [
        (
            "choices.discussed",
            json!({"present": ["person-0001"], "options_explained": ["Paper", "SecureEmail"],
                   "chosen": ["SecureEmail"], "told_access_is_free": true, "notes": ""}),
        ),
        (
            "email.address_recorded",
            json!({"holder": "person-0001", "address": "joan.person@example.org"}),
        ),
    ] {
        let r = post_json(
            server.addr,
            "/v1/events",
            &coordinator,
            &json!({"kind": kind, "subject": "person-0001", "payload": payload}),
        );
        assert_eq!(r.status, 201, "{kind}: {}", r.text());
    }
    let r = post_json(
        server.addr,
        "/v1/people/person-0001/documents/care-plan/email",
        &coordinator,
        &json!({"to": "person-0001", "format": "large-print"}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let queued: Value = serde_json::from_slice(&r.body).unwrap();
    let digest = queued["digest"].as_str().unwrap().to_string();
    let message_id = queued["message_id"].as_str().unwrap().to_string();
    assert!(message_id.ends_with("@test.example>"), "{message_id}");

    // What the relay received.
    let folder = relay_dir.join("messages/1");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !folder.join("message.json").exists() {
        assert!(
            Instant::now() < deadline,
            "nothing reached the relay; {}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let info: Value =
        serde_json::from_slice(&std::fs::read(folder.join("message.json")).unwrap()).unwrap();
    assert_eq!(info["tls"], true, "{info}");
    assert_eq!(
        info["subject"], "[secure] Your care plan",
        "no personal data: {info}"
    );
    assert_eq!(info["rcpt_tos"], json!(["joan.person@example.org"]));
    assert_eq!(info["message_id"], message_id.as_str());
    let name = info["attachments"][0]["name"].as_str().unwrap();
    assert_eq!(name, "care-plan-person-0001.pdf");
    let attachment = std::fs::read(folder.join(name)).unwrap();
    assert!(attachment.starts_with(b"%PDF-"));
    assert_eq!(blake3::hash(&attachment).to_hex().as_str(), digest);

    // Stopped (the ledger is read by the CLI, which needs it closed); the ledger says
    // what arrived. Stopping with sends in flight is crates/api/tests/email.rs's.
    server.stop_gracefully();
    drop(relay);
    let log = cli_ok(&[
        "log",
        "--data",
        path_str(&data),
        "--subject",
        "person-0001",
        "--from",
        &queued["access_event"].as_u64().unwrap().to_string(),
    ]);
    let delivered: Value = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["kind"] == "email.delivered")
        .unwrap_or_else(|| panic!("no email.delivered in {log}"));
    let p = &delivered["payload"];
    assert_eq!(p["digest"], digest.as_str());
    assert_eq!(p["message_id"], message_id.as_str());
    assert_eq!(p["to"], "joan.person@example.org");
    assert_eq!(p["format"], "LargePrint");
    assert!(
        p["relay_answer"]
            .as_str()
            .unwrap()
            .starts_with("250 2.0.0 Ok: queued as TEST1"),
        "{p}"
    );
    assert_eq!(delivered["actor"], server.user("coordinator"));
}

#[test]
fn serve_refuses_an_email_configuration_that_could_send_in_the_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init_ledger(tmp.path());
    let config = tmp.path().join("mail.json");
    std::fs::write(
        &config,
        r#"{"relay": "send.example.net", "security": "none", "from": "Care <c@example.net>"}"#,
    )
    .unwrap();
    let (code, stderr) = cli_err(&[
        "serve",
        "--data",
        path_str(&data),
        "--listen",
        "127.0.0.1:0",
        "--email-config",
        path_str(&config),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--email-config"), "{stderr}");
    assert!(stderr.contains("unknown variant `none`"), "{stderr}");
}
