//! `careledger serve` end to end: the real binary on a real socket, spoken to over HTTP/1.1
//! (and HTTPS) by the small client in `common/server.rs`, managed with the CLI while it
//! runs and stopped with SIGTERM, as an operator would run it.

mod common;

use common::server::*;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use careledger_log::merkle::{verify_consistency, verify_inclusion, Blake3Hasher, TreeHasher};
use careledger_log::{Checkpoint, NoteVerifier};
use serde_json::{json, Value};

// ------------------------------------------------------------------ the tests

/// The demo, as its banner suggests using it: the gate records every read and refusal,
/// a care worker's note is acknowledged only once durable, and after SIGTERM and a
/// restart without --demo everything is still there, verifies, and the tokens still work.
#[test]
fn demo_serves_records_every_read_and_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let data = path_str(&dir).to_string();
    let mut server = Server::start(&["--demo", "--data", &data, "--listen", "127.0.0.1:0"]);
    assert_eq!(server.scheme, "http");
    assert_eq!(
        server.stdout[0],
        format!("careledger: serving {data} on http://{}", server.addr)
    );
    // One user per role, as the demo promises.
    for role in [
        "care worker",
        "coordinator",
        "registered manager",
        "provider admin",
        "the person",
        "representative",
        "partner",
        "monitoring officer",
        "social care professional",
        "auditor",
        "emergency clinician",
        "family member or carer",
    ] {
        assert!(server.tokens.contains_key(role), "no {role} token");
    }
    assert_eq!(server.tokens.len(), 12, "{:?}", server.tokens);
    assert_eq!(server.user("the person"), "person-0001");
    assert_eq!(server.user("care worker"), "staff-cw01");
    assert_eq!(server.user("auditor"), "auditor-01");
    let person = server.token("the person").to_string();
    let worker = server.token("care worker").to_string();
    let auditor = server.token("auditor").to_string();
    let manager = server.token("registered manager").to_string();

    let ready = server.wait_ready();
    let events_at_start: u64 = ready.text()["ready: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(events_at_start > 100, "{}", ready.text());
    let health = server.get("/healthz", None);
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let (plan_reference, mar_reference) = documents_over_http(&server, &manager, &person);

    // The checkpoint and key need no token; the checkpoint is the demo ledger's.
    let key = server.get("/v1/ledger/key", None);
    assert_eq!(key.status, 200);
    let verifier = NoteVerifier::parse(key.text().trim()).unwrap();
    let first = server.get("/v1/ledger/checkpoint", None);
    assert_eq!(first.status, 200);
    assert!(first.content_type().starts_with("text/plain"), "{first:?}");
    let first = Checkpoint::open(&first.text(), &verifier).unwrap();
    assert_eq!(first.origin, "demo.careledger.local/home-care");
    assert!(first.size >= 1);

    // Who am I; no token; the OpenAPI document.
    let me = server.get("/v1/me", Some(&person)).expect_json(200);
    assert_eq!(me["id"], "person-0001");
    assert_eq!(me["role"], "Person");
    assert_eq!(me["default_purpose"], "PersonalAccess");
    let anonymous = server.get("/v1/people/person-0001/care-plan", None);
    assert_eq!(anonymous.expect_problem(401)["field"], "authorization");
    let openapi = server.get("/openapi.json", None).expect_json(200);
    assert!(
        openapi["paths"]["/v1/people/{id}/care-plan"]["get"].is_object(),
        "{}",
        openapi["paths"]
    );

    // The person reads their own care plan: 200, with the access event that records it.
    let own = server
        .get("/v1/people/person-0001/care-plan", Some(&person))
        .expect_json(200);
    assert_eq!(own["person"], "person-0001");
    let read_seq = own["access"]["event"]
        .as_u64()
        .unwrap_or_else(|| panic!("no access.event in {own}"));
    assert!(read_seq >= events_at_start, "{own}");
    assert_eq!(own["access"]["flagged"], false);
    assert_eq!(
        own["access"]["basis"][0]["basis"]["kind"], "OwnRecord",
        "{own}"
    );
    assert!(own["data"]["current"].is_object(), "{own}");

    // ... and someone else's: 403, and the refusal is recorded too (found in the log below:
    // the answer does not number it, since person-0001 has no tie to that record).
    let other = server.get("/v1/people/person-0002/care-plan", Some(&person));
    let refused = other.expect_problem(403);
    assert!(refused.get("access_event").is_none(), "{refused}");
    assert!(
        !other.text().contains("about_me"),
        "a refusal carries no data: {}",
        other.text()
    );

    // A section that does not exist, and an unknown query parameter, are refused before
    // the gate.
    server
        .get("/v1/people/person-0001/diary", Some(&person))
        .expect_problem(404);
    let misspelt = server
        .get(
            "/v1/people/person-0001/care-plan?purpse=Audit",
            Some(&person),
        )
        .expect_problem(400);
    assert_eq!(misspelt["field"], "purpse");

    // The care worker records a diary note: 201 once durable.
    let text = "End-to-end test: settled well after lunch, asked for the radio.";
    let note = json!({
        "kind": "diary.note",
        "subject": "person-0001",
        "payload": {"author": "Staff", "text": text},
    });
    let recorded = post_json(server.addr, "/v1/events", &worker, &note);
    let recorded = recorded.expect_json(201);
    assert_eq!(recorded["kind"], "diary.note");
    let note_seq = recorded["event"]
        .as_u64()
        .unwrap_or_else(|| panic!("no event in {recorded}"));
    assert!(note_seq > read_seq, "{recorded}");

    // Commands the service must refuse, each naming the field at fault.
    let not_json = http(
        server.addr,
        "POST",
        "/v1/events",
        Some(&worker),
        Some(("text/plain", note.to_string().as_bytes())),
    );
    not_json.expect_problem(415);
    let unknown = post_json(
        server.addr,
        "/v1/events",
        &worker,
        &json!({"kind": "diary.nope", "subject": "person-0001", "payload": {}}),
    );
    assert_eq!(unknown.expect_problem(400)["field"], "kind");
    let missing_text = post_json(
        server.addr,
        "/v1/events",
        &worker,
        &json!({"kind": "diary.note", "subject": "person-0001", "payload": {"author": "Staff"}}),
    );
    let missing_text = missing_text.expect_problem(400);
    assert!(
        missing_text["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("payload")),
        "{missing_text}"
    );
    let for_someone_else = post_json(
        server.addr,
        "/v1/events",
        &person,
        &json!({"kind": "diary.note", "subject": "person-0002",
                "payload": {"author": "Person", "text": "not mine to write"}}),
    );
    assert_eq!(for_someone_else.expect_problem(403)["field"], "subject");

    // The response-time report signs a fresh checkpoint; the note's inclusion in it and
    // the log's growth since the demo's checkpoint verify with the log crate alone.
    let report = server
        .get("/v1/reports/response-times", Some(&manager))
        .expect_json(200);
    let fresh = Checkpoint::open(report["checkpoint"].as_str().unwrap(), &verifier).unwrap();
    assert_eq!(report["tree_size"], fresh.size);
    assert!(fresh.size > note_seq, "{report}");
    let latest = server.get("/v1/ledger/checkpoint", None);
    let latest = Checkpoint::open(&latest.text(), &verifier).unwrap();
    assert!(latest.size >= fresh.size);
    let envelope = server.get(&format!("/v1/ledger/events/{note_seq}"), Some(&auditor));
    assert_eq!(envelope.status, 200, "{}", envelope.text());
    assert_eq!(envelope.content_type(), "application/octet-stream");
    let proof = server
        .get(
            &format!(
                "/v1/ledger/proofs/inclusion?seq={note_seq}&size={}",
                fresh.size
            ),
            Some(&auditor),
        )
        .expect_json(200);
    assert_eq!(proof["leaf_index"], note_seq);
    let leaf = b64(&proof["leaf_hash"]);
    assert_eq!(leaf, Blake3Hasher::hash_leaf(&envelope.body));
    let hashes: Vec<Vec<u8>> = proof["proof"].as_array().unwrap().iter().map(b64).collect();
    verify_inclusion::<Blake3Hasher, _>(note_seq, fresh.size, &leaf, &hashes, &fresh.root).unwrap();
    let consistency = server
        .get(
            &format!(
                "/v1/ledger/proofs/consistency?from={}&to={}",
                first.size, fresh.size
            ),
            Some(&auditor),
        )
        .expect_json(200);
    assert_eq!(b64(&consistency["root1"]), first.root.to_vec());
    assert_eq!(b64(&consistency["root2"]), fresh.root.to_vec());
    let hashes: Vec<Vec<u8>> = consistency["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(b64)
        .collect();
    verify_consistency::<Blake3Hasher, _>(
        first.size,
        fresh.size,
        &hashes,
        &first.root,
        &fresh.root,
    )
    .unwrap();
    // Envelopes name people: a care worker may not fetch them.
    server
        .get(&format!("/v1/ledger/events/{note_seq}"), Some(&worker))
        .expect_problem(403);

    // The metrics saw the read, the refusal and the 403.
    let metrics = server.get("/metrics", None);
    assert_eq!(metrics.status, 200);
    let metrics = metrics.text();
    assert!(metric(&metrics, "careledger_access_allowed_total") >= 1);
    assert!(metric(&metrics, "careledger_access_refused_total") >= 1);
    assert!(metric(&metrics, "careledger_ledger_events") > note_seq);
    assert!(
        metrics.contains(
            "careledger_http_requests_total{method=\"GET\",route=\"/v1/people/{id}/care-plan\",status=\"403\"} 1"
        ),
        "{metrics}"
    );

    let stderr = server.stop_gracefully();
    // One JSON line per request, by route template: no person's id reaches the log.
    let request_lines: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert!(
        request_lines
            .iter()
            .any(|l| l["route"] == "/v1/people/{id}/care-plan"
                && l["status"] == 403
                && l["method"] == "GET"),
        "{stderr}"
    );
    assert!(
        request_lines
            .iter()
            .any(|l| l["route"] == "/v1/events" && l["status"] == 201),
        "{stderr}"
    );
    assert!(
        !stderr.contains("person-0001") && !stderr.contains("person-0002"),
        "a person's id reached the log: {stderr}"
    );

    // What the ledger holds, read with the CLI once the server is gone.
    let read = logged_event(&data, "person-0001", read_seq);
    assert_eq!(read["kind"], "access.read", "{read}");
    assert_eq!(read["actor"], "person-0001", "{read}");
    assert_eq!(read["payload"]["purpose"], "PersonalAccess", "{read}");
    assert_eq!(read["payload"]["categories"], json!(["CarePlan"]), "{read}");
    let later = cli_ok(&[
        "log",
        "--data",
        &data,
        "--subject",
        "person-0002",
        "--from",
        &read_seq.to_string(),
    ]);
    let refused_seq = later
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["kind"] == "access.refused" && e["actor"] == "person-0001")
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or_else(|| panic!("no recorded refusal of person-0001 in {later}"));
    assert!(refused_seq > read_seq && refused_seq < note_seq);
    let refusal = logged_event(&data, "person-0002", refused_seq);
    assert_eq!(refusal["kind"], "access.refused", "{refusal}");
    assert_eq!(refusal["actor"], "person-0001", "{refusal}");
    assert_eq!(refusal["payload"]["categories"], json!(["CarePlan"]));
    let logged_note = logged_event(&data, "person-0001", note_seq);
    assert_eq!(logged_note["kind"], "diary.note", "{logged_note}");
    assert_eq!(logged_note["actor"], "staff-cw01", "{logged_note}");
    assert_eq!(logged_note["payload"]["text"], text, "{logged_note}");
    let verified = cli_ok(&["verify", "--data", &data]);
    assert!(verified.starts_with("verified "), "{verified}");
    let verified_events: u64 = verified["verified ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(verified_events > note_seq, "{verified}");

    // Restart without --demo: no new tokens, the demo users' tokens still work, and the
    // note is still there.
    let mut again = Server::start(&["--data", &data, "--listen", "127.0.0.1:0", "--quiet"]);
    assert!(again.tokens.is_empty());
    again.wait_ready();
    let notes = again
        .get(
            &format!(
                "/v1/people/person-0001/daily-notes?after={}&limit=1",
                note_seq - 1
            ),
            Some(&worker),
        )
        .expect_json(200);
    let item = &notes["data"]["items"][0];
    assert_eq!(item["event"], note_seq, "{notes}");
    assert_eq!(item["kind"], "diary.note", "{notes}");
    assert_eq!(item["actor"], "staff-cw01", "{notes}");
    assert_eq!(item["payload"]["text"], text, "{notes}");
    assert!(
        notes["access"]["event"].as_u64().unwrap() >= verified_events,
        "{notes}"
    );
    let stderr = again.stop_gracefully();
    assert!(
        !stderr.lines().any(|l| l.starts_with('{')),
        "--quiet still logged requests: {stderr}"
    );
    assert!(
        !again.stdout.iter().any(|l| l.contains("clt_")),
        "a restart without --demo printed tokens: {:?}",
        again.stdout
    );
    cli_ok(&["verify", "--data", &data]);
    // The care plan printed over HTTP is still the current version, and its checkpoint is
    // this ledger's.
    let checked = cli_ok(&["check-document", "--data", &data, &plan_reference]);
    assert!(checked.contains("current"), "{checked}");
    // The MAR chart's checkpoint is this ledger's too (exit 3 if its root were not); the
    // chart may be out of date by now (exit 1), not foreign.
    let out = cli(&["check-document", "--data", &data, &mar_reference]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A person's documents printed by the service through the gate: the manager's MAR chart
/// as PDF (its digest header is the body's, its reference names the checkpoint), the
/// person's own care plan in their own format; a refusal prints nothing. Returns the care
/// plan's and the MAR chart's references.
fn documents_over_http(server: &Server, manager: &str, person: &str) -> (String, String) {
    let mar = server.get(
        "/v1/people/person-0001/documents/mar?format=pdf",
        Some(manager),
    );
    assert_eq!(mar.status, 200, "{}", mar.text());
    assert_eq!(mar.content_type(), "application/pdf");
    assert!(mar.body.starts_with(b"%PDF-"), "not a PDF");
    assert_eq!(
        mar.header("careledger-digest"),
        Some(blake3::hash(&mar.body).to_hex().as_str())
    );
    let reference = mar.header("careledger-reference").unwrap().to_string();
    assert!(reference.starts_with("CL1:mar:"), "{reference}");
    assert!(reference.ends_with(":person-0001"), "{reference}");
    assert!(mar
        .header("careledger-access-event")
        .unwrap()
        .parse::<u64>()
        .is_ok());
    let text = server.get(
        "/v1/people/person-0001/documents/diary?format=text&days=7",
        Some(manager),
    );
    assert_eq!(text.status, 200, "{}", text.text());
    assert!(text.content_type().starts_with("text/plain"));
    assert!(text.text().contains("Diary records for"), "{}", text.text());
    let own = server.get("/v1/people/person-0001/documents/care-plan", Some(person));
    assert_eq!(own.status, 200, "{}", own.text());
    let format = own.header("careledger-format").unwrap();
    assert!(
        ["pdf", "large-print", "easy-read", "text"].contains(&format),
        "{format}"
    );
    let someone_else = server.get("/v1/people/person-0002/documents/care-plan", Some(person));
    someone_else.expect_problem(403);
    // Anyone holding the paper checks it, without signing in: printed from this ledger,
    // and said without the person's name.
    let check = |r: &str| server.get(&format!("/v1/documents/check?reference={r}"), None);
    let checked = check(&reference).expect_json(200);
    assert_eq!(checked["checkpoint_verified"], true, "{checked}");
    // Of a person's document, nothing more to anyone: a reference names any id.
    assert!(checked["current"].is_null(), "{checked}");
    assert!(
        checked["said"]
            .as_str()
            .unwrap()
            .contains("for the provider to check"),
        "{checked}"
    );
    let name = server
        .get("/v1/people/person-0001/details", Some(manager))
        .expect_json(200)["data"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !checked.to_string().contains(&name),
        "{checked} names {name}"
    );
    // The same reference with another root: not this ledger's, and nothing more said.
    let mut parts: Vec<String> = reference.split(':').map(String::from).collect();
    parts[4] = "000000000000".into();
    let forged_reference = parts.join(":");
    let forged = check(&forged_reference).expect_json(200);
    assert_eq!(forged["checkpoint_verified"], false, "{forged}");
    assert!(forged["said"].is_null(), "{forged}");
    // Never the ledger's root, which would let anyone write a reference that checks.
    assert!(
        !forged
            .to_string()
            .contains(&reference.split(':').nth(4).unwrap().to_string()),
        "{forged}"
    );
    // A reference naming someone else, or nobody, is answered the same way as any other.
    parts[4] = reference.split(':').nth(4).unwrap().into();
    parts[5] = "person-9999".into();
    let nobody = check(&parts.join(":")).expect_json(200);
    assert_eq!(nobody["said"], checked["said"], "{nobody}");
    check("not-a-reference").expect_problem(400);
    // The council's reports, printed by the service for the roles that see them.
    let report = server.get("/v1/reports/monitoring/document?format=text", Some(manager));
    assert_eq!(report.status, 200, "{}", report.text());
    assert!(
        report.text().starts_with("Monitoring report"),
        "{}",
        report.text()
    );
    assert!(report.text().contains("(event "), "{}", report.text());
    let times = server.get("/v1/reports/response-times/document", Some(manager));
    assert_eq!(times.status, 200, "{}", times.text());
    assert!(times.body.starts_with(b"%PDF-"));
    assert!(times
        .header("careledger-reference")
        .unwrap()
        .starts_with("CL1:response-times:-:"));
    server
        .get("/v1/reports/monitoring/document", Some(person))
        .expect_problem(403);
    // The check page says the same.
    let page = server.get(&format!("/check?reference={reference}"), None);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.text().contains("Printed from this ledger."),
        "{}",
        page.text()
    );
    let page = server.get(&format!("/check?reference={forged_reference}"), None);
    assert!(
        page.text().contains("Not printed from this ledger."),
        "{}",
        page.text()
    );
    (
        own.header("careledger-reference").unwrap().to_string(),
        reference,
    )
}

/// After its token table, `serve --demo` prints shell lines to paste (`export B=...` and
/// one variable per role's token, each named in the line above them), and its curl examples
/// use those variables: pasted into a shell, every example reaches the service and works.
#[test]
fn demo_banner_has_shell_lines_that_its_curl_examples_use() {
    let tmp = tempfile::tempdir().unwrap();
    let data = path_str(&tmp.path().join("demo")).to_string();
    let mut server = Server::start(&[
        "--demo",
        "--data",
        &data,
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ]);
    // The rest of the banner, up to its last example.
    let deadline = Instant::now() + START_TIMEOUT;
    let mut rest = Vec::new();
    while !rest
        .last()
        .is_some_and(|l: &String| l.contains("/openapi.json"))
    {
        rest.push(server.next_line(deadline));
    }
    let first_export = rest
        .iter()
        .position(|l| l.trim_start().starts_with("export "))
        .unwrap_or_else(|| panic!("no export lines in {rest:#?}"));
    let explanation = rest[..first_export].join(" ");
    let exports: Vec<(String, String)> = rest
        .iter()
        .filter_map(|l| l.trim().strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let base = format!("http://{}", server.addr);
    assert_eq!(exports[0], ("B".to_string(), base.clone()), "{rest:#?}");
    assert_eq!(exports.len(), server.tokens.len() + 1, "{rest:#?}");
    for (role, (_, token)) in &server.tokens {
        let (name, _) = exports
            .iter()
            .find(|(_, t)| t == token)
            .unwrap_or_else(|| panic!("no export line for the {role} token: {rest:#?}"));
        assert!(
            explanation.contains(&format!(" {name}")),
            "{name} is not explained: {explanation}"
        );
    }
    let person = &server.tokens["the person"].1;
    assert!(
        exports.contains(&("PERSON".to_string(), person.clone())),
        "{exports:?}"
    );

    // Paste the export lines and the examples into a shell, with a `curl` that lists its
    // arguments, one a line.
    let pasted: Vec<&str> = rest
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("export ") || l.starts_with("curl "))
        .collect();
    let examples: Vec<&&str> = pasted.iter().filter(|l| l.starts_with("curl ")).collect();
    assert!(examples.len() >= 4, "{rest:#?}");
    let script = format!(
        "set -eu\ncurl() {{ for a in \"$@\"; do printf '%s\\n' \"$a\"; done; printf '%s\\n' '-- end'; }}\n{}\n",
        pasted.join("\n")
    );
    let shell = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert!(
        shell.status.success(),
        "{}",
        String::from_utf8_lossy(&shell.stderr)
    );
    let stdout = String::from_utf8(shell.stdout).unwrap();
    let calls: Vec<Vec<&str>> = stdout
        .split_terminator("-- end\n")
        .map(|c| c.lines().collect())
        .collect();
    assert_eq!(calls.len(), examples.len(), "{stdout}");
    for (call, example) in calls.iter().zip(&examples) {
        let url = call.last().unwrap();
        let path = url
            .strip_prefix(base.as_str())
            .unwrap_or_else(|| panic!("{example}: {url} is not on {base}"));
        let token = call.iter().position(|a| *a == "-H").map(|i| {
            call[i + 1]
                .strip_prefix("Authorization: Bearer ")
                .unwrap_or_else(|| panic!("{example}: header {:?}", call[i + 1]))
        });
        if let Some(token) = token {
            assert!(token.starts_with("clt_"), "{example}: token {token:?}");
        }
        let answer = server.get(path, token);
        assert_eq!(answer.status, 200, "{example}: {}", answer.text());
    }
    server.stop_gracefully();
}

/// Users and tokens managed with the CLI while the server runs: a new auditor's token
/// works once issued and stops working within seconds of its revocation.
#[test]
fn tokens_issued_and_revoked_with_the_cli_take_effect_while_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init_ledger(tmp.path());
    let data = path_str(&data);
    let mut server = Server::start(&["--data", data, "--listen", "127.0.0.1:0", "--quiet"]);
    assert!(server.tokens.is_empty());
    server.wait_ready();

    let added = cli_ok(&[
        "user",
        "add",
        "--data",
        data,
        "auditor-e2e",
        "--role",
        "Auditor",
        "--name",
        "Test Auditor",
    ]);
    assert!(added.contains("auditor-e2e"), "{added}");
    let users = cli_ok(&["user", "list", "--data", data]);
    assert!(
        users
            .lines()
            .any(|l| l == "auditor-e2e\tAuditor\tTest Auditor"),
        "{users}"
    );
    let (code, stderr) = cli_err(&["token", "issue", "--data", data, "nobody"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("nobody"), "{stderr}");
    let token = cli_ok(&["token", "issue", "--data", data, "auditor-e2e"]);
    let token = token.trim().to_string();
    assert!(token.starts_with("clt_"), "{token:?}");
    assert_eq!(token.lines().count(), 1, "the token alone: {token:?}");

    // The server reloads auth.json within about a second.
    let me = wait_until_ok("GET /v1/me with the new token", || {
        std::thread::sleep(Duration::from_millis(400));
        Some(server.get("/v1/me", Some(&token)))
    });
    let me = me.json();
    assert_eq!(me["id"], "auditor-e2e");
    assert_eq!(me["role"], "Auditor");

    // Garbage, a right id with a wrong secret, an expired token: all 401.
    server
        .get("/v1/me", Some("clt_0000_garbage"))
        .expect_problem(401);
    let id = token.split('_').nth(1).unwrap();
    let forged = format!("clt_{id}_{}", "A".repeat(43));
    assert_eq!(
        server.get("/v1/me", Some(&forged)).expect_problem(401)["field"],
        "authorization"
    );
    // A token that expires as it is issued, and a second good one issued after it: once
    // the second works, the server has loaded both, and the first is refused for its age.
    let expired = cli_ok(&[
        "token",
        "issue",
        "--data",
        data,
        "auditor-e2e",
        "--expires-days",
        "0",
    ]);
    let second = cli_ok(&["token", "issue", "--data", data, "auditor-e2e"]);
    wait_until_ok("GET /v1/me with a second token", || {
        std::thread::sleep(Duration::from_millis(400));
        Some(server.get("/v1/me", Some(second.trim())))
    });
    server
        .get("/v1/me", Some(expired.trim()))
        .expect_problem(401);
    // The first token still works.
    server.get("/v1/me", Some(&token)).expect_json(200);

    let revoked = cli_ok(&["token", "revoke", "--data", data, &token]);
    assert!(revoked.contains(id), "{revoked}");
    let since = Instant::now();
    loop {
        let r = server.get("/v1/me", Some(&token));
        if r.status == 401 {
            r.expect_problem(401);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            since.elapsed() < AUTH_RELOAD_TIMEOUT,
            "the revoked token still works after {:?}",
            since.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Revoking it again is harmless; an unknown token is an error.
    cli_ok(&["token", "revoke", "--data", data, id]);
    let (code, stderr) = cli_err(&["token", "revoke", "--data", data, "clt_ffff_nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("ffff"), "{stderr}");
    server.stop_gracefully();
}

/// Ten failed sign-ins from one address lock it out for five minutes: even a good token
/// then gets 429 with Retry-After, while the unauthenticated endpoints still answer.
/// A server of its own, since the lockout would spoil any other check from 127.0.0.1.
#[test]
fn ten_failed_attempts_lock_the_client_out() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init_ledger(tmp.path());
    let data = path_str(&data);
    cli_ok(&[
        "user",
        "add",
        "--data",
        data,
        "auditor-e2e",
        "--role",
        "Auditor",
    ]);
    let token = cli_ok(&["token", "issue", "--data", data, "auditor-e2e"]);
    let token = token.trim();
    let mut server = Server::start(&["--data", data, "--listen", "127.0.0.1:0", "--quiet"]);
    server.wait_ready();
    server.get("/v1/me", Some(token)).expect_json(200);
    for attempt in 1..=10 {
        let r = server.get("/v1/me", Some(&format!("clt_{attempt:04}_wrong")));
        assert_eq!(r.status, 401, "attempt {attempt}: {}", r.text());
    }
    for token in ["clt_0011_wrong", token] {
        let r = server.get("/v1/me", Some(token));
        let problem = r.expect_problem(429);
        assert_eq!(problem["field"], "authorization");
        let retry: u64 = r
            .header("retry-after")
            .unwrap_or_else(|| panic!("no Retry-After: {r:?}"))
            .parse()
            .unwrap();
        assert!((1..=300).contains(&retry), "Retry-After {retry}");
    }
    assert_eq!(server.get("/healthz", None).status, 200);
    let metrics = server.get("/metrics", None).text();
    assert_eq!(metric(&metrics, "careledger_auth_failures_total"), 10);
    assert_eq!(metric(&metrics, "careledger_auth_locked_out_total"), 2);
    server.stop_gracefully();
}

/// HTTPS with the committed test certificate, checked by a rustls client that trusts that
/// certificate alone.
#[test]
fn serves_https_with_a_certificate_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init_ledger(tmp.path());
    let data = path_str(&data);
    let cert = test_data("tls-cert.pem");
    let key = test_data("tls-key.pem");
    let mut server = Server::start(&[
        "--data",
        data,
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        path_str(&cert),
        "--tls-key",
        path_str(&key),
        "--quiet",
    ]);
    assert_eq!(server.scheme, "https");
    let addr = server.addr;
    let ready = wait_until_ok("GET /readyz over TLS", || {
        https(addr, "localhost", "/readyz").ok().map(|(r, _)| r)
    });
    assert!(ready.text().starts_with("ready: "), "{}", ready.text());
    for name in ["localhost", "127.0.0.1"] {
        let (health, alpn) = https(addr, name, "/healthz")
            .unwrap_or_else(|e| panic!("GET /healthz over TLS as {name}: {e}"));
        assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    }
    // The client does check the certificate: it is not valid for another name.
    let wrong = https(addr, "example.com", "/healthz");
    assert!(wrong.is_err(), "{wrong:?}");

    // Plain HTTP to the TLS port gets no answer from the service.
    let plain = connect(addr).and_then(|mut tcp| {
        exchange(
            &mut tcp,
            &request_bytes(&addr.to_string(), "GET", "/healthz", None, None),
        )
    });
    if let Ok(raw) = &plain {
        assert!(
            !raw.starts_with(b"HTTP/1.1 200"),
            "plain HTTP was answered: {}",
            String::from_utf8_lossy(raw)
        );
        assert!(find(raw, b"ok\n").is_none(), "{raw:?}");
    }
    // ... and the TLS port still works after it.
    let (health, _) = https(addr, "localhost", "/healthz").unwrap();
    assert_eq!(health.status, 200);
    let stderr = server.stop_gracefully();
    assert!(
        !stderr.lines().any(|l| l.starts_with('{')),
        "--quiet still logged requests: {stderr}"
    );

    // A missing key file, or the certificate given as the key: serve refuses to start and
    // names the file.
    let missing = tmp.path().join("no-such-key.pem");
    for key in [path_str(&missing), path_str(&cert)] {
        let (code, stderr) = cli_err(&[
            "serve",
            "--data",
            data,
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            path_str(&cert),
            "--tls-key",
            key,
        ]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(key), "{stderr}");
    }
    // A certificate without its key is a usage error.
    let (code, stderr) = cli_err(&[
        "serve",
        "--data",
        data,
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        path_str(&cert),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

/// `serve` refuses to start, with a message that says why, on a folder without a ledger
/// and on an address already in use.
#[test]
fn serve_refuses_a_folder_without_a_ledger_and_a_busy_address() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let absent = tmp.path().join("absent");
    for dir in [&empty, &absent] {
        let (code, stderr) =
            cli_err(&["serve", "--data", path_str(dir), "--listen", "127.0.0.1:0"]);
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains("no ledger") && stderr.contains(path_str(dir)),
            "{stderr}"
        );
    }
    assert!(!absent.exists(), "serve created {}", absent.display());
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    let data = init_ledger(tmp.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = cli_err(&["serve", "--data", path_str(&data), "--listen", &addr]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    drop(taken);
    // The failed start left the ledger as it was.
    cli_ok(&["verify", "--data", path_str(&data)]);
}

/// SIGTERM must end the service even while a client holds a request it never finishes
/// (here: headers without their blank line): the header read timeout closes it.
#[test]
fn sigterm_stops_serve_despite_a_client_that_never_finishes_its_request() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init_ledger(tmp.path());
    let mut server = Server::start(&[
        "--data",
        path_str(&data),
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ]);
    server.wait_ready();
    // The bytes the server has read from clients, as of a GET /metrics (whose own request
    // is read, and counted, before it is answered).
    let probe = request_bytes(&server.addr.to_string(), "GET", "/metrics", None, None).len();
    let received = || {
        let text = server.get("/metrics", None).text();
        metric(&text, "careledger_http_received_bytes_total") as i64
    };
    let before = received();
    let partial = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n";
    let mut slow = connect(server.addr).unwrap();
    slow.write_all(partial).unwrap();
    // Until the server has read the whole partial request, SIGTERM would not test it: wait
    // until the count has grown by it, beyond the probes' own requests.
    let deadline = Instant::now() + IO_TIMEOUT;
    for probes in 1.. {
        let beyond_probes = received() - before - (probes * probe) as i64;
        if beyond_probes == partial.len() as i64 {
            break;
        }
        assert!(
            (0..partial.len() as i64).contains(&beyond_probes),
            "{beyond_probes} bytes read besides the probes; the partial request has {}",
            partial.len()
        );
        assert!(
            Instant::now() < deadline,
            "the server did not read the partial request within {IO_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Fails after STOP_TIMEOUT if the server is still running.
    server.stop_gracefully();
    drop(slow);
}

/// Adds the user `manager-e2e` (a registered manager) to the ledger at `data` with the
/// CLI, and returns a token issued for them.
fn manager_token(data: &str) -> String {
    cli_ok(&[
        "user",
        "add",
        "--data",
        data,
        "manager-e2e",
        "--role",
        "RegisteredManager",
        "--name",
        "Test Manager",
    ]);
    cli_ok(&["token", "issue", "--data", data, "manager-e2e"])
        .trim()
        .to_string()
}

/// A real full disk under the service: a ledger on a small tmpfs. Below the free-space
/// floor writes are answered 507 and reads go on; on a disk that fills anyway (no floor)
/// the failed write is 507 too, reads go on, and the service stops when asked; with space
/// given back, every acknowledged event is there and the ledger verifies. Needs root to
/// mount the tmpfs (CI has it; elsewhere the test is skipped).
#[test]
fn a_full_disk_under_serve_is_507_reads_go_on_and_nothing_acknowledged_is_lost() {
    let Some(disk) = common::Tmpfs::mount(12) else {
        return;
    };
    let data = init_ledger(&disk.path);
    let data = path_str(&data);
    let token = manager_token(data);
    let staff = |tag: &str, n: usize| {
        json!({
            "kind": "staff.registered",
            "payload": {
                "staff_id": format!("staff-{tag}{n}"),
                "name": format!("Care Worker {n} {}", "x".repeat(7000)),
                "role": "CareWorker",
            },
        })
    };
    // Appends until the first answer that is not 201; the acknowledged event numbers.
    let fill = |server: &Server, tag: &str, acked: &mut Vec<u64>| -> Response {
        for n in 0..5_000 {
            let r = post_json(server.addr, "/v1/events", &token, &staff(tag, n));
            if r.status != 201 {
                return r;
            }
            acked.push(r.json()["event"].as_u64().unwrap());
        }
        panic!("the disk never filled");
    };
    let mut acked = Vec::new();

    let start = |floor: &str| {
        let server = Server::start(&[
            "--data",
            data,
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "--free-space-floor",
            floor,
        ]);
        server.wait_ready();
        server
    };

    // 1. A floor 3 MiB below what is free now: refused with 507 once below it.
    let floor = disk.free_bytes().saturating_sub(3 << 20).to_string();
    let mut server = start(&floor);
    let refused = fill(&server, "a", &mut acked).expect_problem(507);
    assert!(
        refused["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("insufficient-storage")),
        "{refused}"
    );
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("below the floor") && detail.contains("free"),
        "{detail}"
    );
    assert!(!acked.is_empty());
    // Reads go on.
    let last = *acked.last().unwrap();
    let event = server.get(&format!("/v1/ledger/events/{last}"), Some(&token));
    assert_eq!(event.status, 200, "{}", event.text());
    assert_eq!(
        server.get("/v1/ledger/checkpoint", Some(&token)).status,
        200
    );
    server.stop_gracefully();

    // 2. No floor: the disk fills under a write. 507, reads go on, and it stops in time.
    let mut server = start("0");
    let failed = fill(&server, "b", &mut acked);
    let problem = failed.expect_problem(507);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("full")),
        "{problem}"
    );
    let last = *acked.last().unwrap();
    let event = server.get(&format!("/v1/ledger/events/{last}"), Some(&token));
    assert_eq!(event.status, 200, "{}", event.text());
    let (_, stderr) = server.stop();
    assert!(!stderr.contains("panicked"), "{stderr}");

    // 3. Space given back: every acknowledged event, and appends again.
    disk.resize(64);
    let mut server = start("0");
    for seq in &acked {
        let event = server.get(&format!("/v1/ledger/events/{seq}"), Some(&token));
        assert_eq!(
            event.status,
            200,
            "acknowledged event {seq}: {}",
            event.text()
        );
    }
    post_json(server.addr, "/v1/events", &token, &staff("c", 0)).expect_json(201);
    server.stop_gracefully();
    let verified = cli_ok(&["verify", "--data", data]);
    assert!(verified.starts_with("verified "), "{verified}");
}

/// `serve --backup-dir`: backups taken on schedule while the service runs, each at a
/// checkpoint signed for it, the oldest removed beyond `--backup-keep`; the newest restores
/// to a ledger with the live ledger's root at its size.
#[test]
fn scheduled_backups_restore_to_the_live_root_and_keep_the_newest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init_ledger(tmp.path());
    let data = path_str(&data);
    let backups = tmp.path().join("backups");
    let token = manager_token(data);
    let mut server = Server::start(&[
        "--data",
        data,
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--backup-dir",
        path_str(&backups),
        "--backup-every",
        "10s",
        "--backup-keep",
        "1",
    ]);
    server.wait_ready();
    let list = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&backups)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    // Writes go on while backups are taken; two rounds, so the first is removed.
    while seen.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no second backup within a minute: {:?}",
            list()
        );
        let body = json!({"kind": "staff.registered", "payload": {
            "staff_id": format!("staff-b{n}"), "name": "Care Worker", "role": "CareWorker"}});
        post_json(server.addr, "/v1/events", &token, &body).expect_json(201);
        n += 1;
        for path in list() {
            if path.extension().is_some_and(|e| e == "backup") {
                seen.insert(path);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // An export while the service runs: read from the events file, no lock needed.
    let export = tmp.path().join("live.export");
    cli(&["export", "--data", data, "--out", path_str(&export)]);
    assert!(std::fs::metadata(&export).unwrap().len() > 1000);
    server.stop_gracefully();
    let kept: Vec<PathBuf> = list()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "backup"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let newest = kept[0].to_str().unwrap();
    let restored = tmp.path().join("restored");
    // With the ledger's master key, which backups never hold.
    let key = format!("{data}.master-key");
    let said = cli_ok(&[
        "restore",
        "--from",
        newest,
        "--data",
        path_str(&restored),
        "--master-key",
        &key,
    ]);
    let size: u64 = said
        .strip_prefix("restored ")
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(size > 0, "{said}");
    // The live ledger's root at that size is the restored one's.
    let live: Value = serde_json::from_str(&cli_ok(&[
        "prove",
        "consistency",
        "--data",
        data,
        "--from",
        &size.to_string(),
        "--to",
        &size.to_string(),
    ]))
    .unwrap();
    let root = live["root1"].as_str().unwrap();
    assert!(said.contains(&format!("(root {root})")), "{said} vs {live}");
    cli_ok(&["verify", "--data", path_str(&restored)]);
    // The service's users came along: the restored folder has them.
    let users = cli_ok(&["user", "list", "--data", path_str(&restored)]);
    assert!(users.contains("manager-e2e"), "{users}");
}
