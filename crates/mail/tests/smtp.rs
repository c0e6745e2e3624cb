//! Secure email against a real SMTP server: Python's aiosmtpd (tests/smtp_server.py), with
//! STARTTLS required, AUTH over TLS only and a certificate from a test CA the client is
//! told to trust. What arrived is read back from the server's side: the attachment's
//! digest is the document's.

mod relay;

use std::time::Duration;

use careledger_mail::{Attachment, Mail, MailConfig, Mailer};
use relay::{smtp_available, Relay};

fn mail(to: &str, bytes: &[u8]) -> Mail {
    Mail {
        to: to.into(),
        subject: "Your care plan".into(),
        text: "Your care plan is attached.".into(),
        attachment: Attachment {
            file_name: "care-plan.pdf".into(),
            media_type: "application/pdf".into(),
            bytes: bytes.to_vec(),
        },
        message_id: "<a1b2c3.4@careledger.test>".into(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_document_arrives_over_starttls_with_its_digest_and_the_relays_answer() {
    if !smtp_available() {
        return;
    }
    let server = Relay::start("accept");
    let mailer = Mailer::new(MailConfig::read(&server.config("")).unwrap()).unwrap();
    let pdf = b"%PDF-1.7 the care plan, as printed\x00\xff\x10 bytes of every value";
    let delivered = runtime()
        .block_on(mailer.send(&mail("mary.hill@example.org", pdf)))
        .unwrap();
    assert_eq!(delivered.attempts, 1);
    assert_eq!(delivered.message_id, "<a1b2c3.4@careledger.test>");
    assert!(
        delivered
            .answer
            .starts_with("250 2.0.0 Ok: queued as TEST1"),
        "{}",
        delivered.answer
    );
    let got = server.received();
    assert_eq!(got.len(), 1);
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(got[0].join("message.json")).unwrap()).unwrap();
    assert_eq!(info["tls"], true, "sent only after STARTTLS: {info}");
    assert_eq!(info["authenticated"], true, "{info}");
    assert_eq!(info["subject"], "[secure] Your care plan");
    assert_eq!(info["message_id"], "<a1b2c3.4@careledger.test>");
    assert_eq!(
        info["rcpt_tos"],
        serde_json::json!(["mary.hill@example.org"])
    );
    assert_eq!(info["attachments"][0]["type"], "application/pdf");
    let attachment = std::fs::read(got[0].join("care-plan.pdf")).unwrap();
    assert_eq!(
        blake3::hash(&attachment),
        blake3::hash(pdf),
        "the attachment that arrived is the document sent"
    );
}

#[test]
fn a_relay_that_says_try_later_is_tried_again_after_a_wait() {
    if !smtp_available() {
        return;
    }
    let server = Relay::start("fail-first:2");
    let mailer = Mailer::new(MailConfig::read(&server.config("")).unwrap()).unwrap();
    let started = std::time::Instant::now();
    let delivered = runtime()
        .block_on(mailer.send(&mail("mary.hill@example.org", b"plan")))
        .unwrap();
    assert_eq!(delivered.attempts, 3);
    // Waits of 1 s then 2 s (doubling): at least 3 s in all.
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(server.received().len(), 1, "sent once, not three times");
}

#[test]
fn a_refusal_for_good_is_not_retried_and_says_what_the_relay_said() {
    if !smtp_available() {
        return;
    }
    let server = Relay::start("reject");
    let mailer = Mailer::new(MailConfig::read(&server.config("")).unwrap()).unwrap();
    let failed = runtime()
        .block_on(mailer.send(&mail("mary.hill@example.org", b"plan")))
        .unwrap_err();
    assert_eq!(failed.attempts, 1);
    assert!(failed.permanent);
    assert!(
        failed.error.contains("Refused by policy"),
        "{}",
        failed.error
    );
    assert!(server.received().is_empty());
}

#[test]
fn nothing_is_sent_to_a_relay_without_starttls_or_with_an_untrusted_certificate() {
    if !smtp_available() {
        return;
    }
    // A relay that offers no STARTTLS: the client does not fall back to plain text.
    let plain = Relay::start("plain");
    let mailer =
        Mailer::new(MailConfig::read(&plain.config(r#", "attempts": 2"#)).unwrap()).unwrap();
    let failed = runtime()
        .block_on(mailer.send(&mail("mary.hill@example.org", b"plan")))
        .unwrap_err();
    assert!(
        failed.error.to_lowercase().contains("starttls"),
        "{}",
        failed.error
    );
    assert!(plain.received().is_empty(), "nothing went out in the clear");
    // A relay whose certificate no trusted authority signed.
    let server = Relay::start("accept");
    let path = server.config("");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(r#""ca_file": "ca.pem", "#, "");
    std::fs::write(&path, text).unwrap();
    let mailer = Mailer::new(MailConfig::read(&path).unwrap()).unwrap();
    let failed = runtime()
        .block_on(mailer.send(&mail("mary.hill@example.org", b"plan")))
        .unwrap_err();
    assert_eq!(failed.attempts, 1, "a certificate is not retried: {failed}");
    assert!(failed.permanent);
    assert!(server.received().is_empty());
}

#[test]
fn a_configuration_that_could_send_in_the_clear_or_is_incomplete_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.json");
    let base = r#""relay": "send.example.net", "from": "Care <care@example.net>""#;
    for (body, said) in [
        (
            format!(r#"{{{base}, "security": "none"}}"#),
            "unknown variant `none`",
        ),
        (format!(r#"{{{base}}}"#), "missing field `security`"),
        (
            format!(r#"{{{base}, "security": "tls", "colour": 1}}"#),
            "unknown field `colour`",
        ),
        (
            format!(r#"{{{base}, "security": "tls", "username": "u"}}"#),
            "without password_file",
        ),
        (
            format!(r#"{{{base}, "security": "tls", "attempts": 0}}"#),
            "attempts must be between 1 and 10",
        ),
        (
            r#"{"relay": "send.example.net", "from": "not an address", "security": "tls"}"#
                .to_string(),
            "from \"not an address\" is not an address",
        ),
        (
            format!(r#"{{{base}, "security": "tls", "subject_tag": "[secure]\u0007"}}"#),
            "subject_tag",
        ),
        (
            format!(r#"{{{base}, "security": "tls", "ca_file": "missing.pem"}}"#),
            "missing.pem",
        ),
    ] {
        std::fs::write(&path, &body).unwrap();
        let e = MailConfig::read(&path).unwrap_err().to_string();
        assert!(e.contains(said), "{body}: {e}");
    }
    std::fs::write(&path, format!(r#"{{{base}, "security": "tls"}}"#)).unwrap();
    let c = MailConfig::read(&path).unwrap();
    assert_eq!(c.port, 465, "implicit TLS defaults to port 465");
    assert_eq!(c.wait_before(2), Duration::from_secs(30));
    assert_eq!(c.wait_before(4), Duration::from_secs(120));
    assert_eq!(
        c.wait_before(10),
        Duration::from_secs(15 * 60),
        "at most 15 minutes"
    );
}
