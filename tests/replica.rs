//! `careledger replica` and `careledger promote` end to end: a real primary and a real
//! replica on real sockets, as an operator runs them (docs/OPERATIONS.md, replica and
//! failover).

mod common;

use common::server::*;

use std::time::{Duration, Instant};

use base64::Engine as _;
use careledger_care::event::AccessRefused;
use careledger_care::{CareEvent, Category, Purpose, Role};
use serde_json::{json, Value};

/// How long a replica may take to hold what its primary acknowledged, on a busy machine
/// (it takes frames within milliseconds; this is a deadline, not a measurement).
const CATCH_UP: Duration = Duration::from_secs(60);

fn add_user(data: &str, id: &str, role: &str) -> String {
    cli_ok(&["user", "add", "--data", data, id, "--role", role]);
    cli_ok(&["token", "issue", "--data", data, id])
        .trim()
        .to_string()
}

/// The number of events a `/readyz` answer names.
fn ready_events(server: &Server) -> u64 {
    let text = server.get("/readyz", None).text();
    text.split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count in {text:?}"))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + CATCH_UP;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {CATCH_UP:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn person(id: &str) -> Value {
    json!({"kind": "person.registered", "subject": id, "payload": {
        "name": format!("Person {id}"), "date_of_birth": "1940-01-01", "nhs_number": null,
        "address": "1 High Street", "gp_practice": "The Surgery", "allergies": []}})
}

/// An event about the organisation (`_id` only tells the tests' calls apart).
fn note(_id: &str, n: usize) -> Value {
    json!({"kind": "staff.registered", "payload": {
        "staff_id": format!("staff-cw{n:04}"), "name": format!("Care Worker {n}"), "role": "CareWorker"}})
}

/// `serve` on the ledger at `data`, letting `replica` follow it, once ready.
fn serve_allowing(data: &str, replica: &str) -> Server {
    let server = Server::start(&[
        "--data",
        data,
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--replica",
        replica,
    ]);
    server.wait_ready();
    server
}

fn replica(data: &str, primary: &Server, token: &str) -> Server {
    let url = format!("http://{}", primary.addr);
    let server = Server::start_verb(
        "replica",
        &[
            "--data",
            data,
            "--primary",
            &url,
            "--token",
            token,
            "--listen",
            "127.0.0.1:0",
            "--quiet",
        ],
    );
    assert!(
        server.stdout[0].contains(&format!("a replica of {url}")),
        "{:?}",
        server.stdout
    );
    server
}

/// A replica follows a running primary, serves reads (recording each at the primary,
/// where the same gate decides), answers writes 503 naming the primary, takes the
/// primary's users and revocations, and verifies; promoted with the ledger's key it
/// serves as the primary, with every event and the same verifier.
#[test]
fn a_replica_follows_serves_reads_refuses_writes_and_takes_over() {
    let tmp = tempfile::tempdir().unwrap();
    let pdir = tmp.path().join("primary");
    let rdir = tmp.path().join("replica");
    let (pdata, rdata) = (path_str(&pdir).to_string(), path_str(&rdir).to_string());
    cli_ok(&["init", "--data", &pdata]);
    // The replica shares the primary's master key (beside each folder), and so does
    // anything restored from their backups.
    let key = tmp.path().join("primary.master-key");
    for copy in ["replica.master-key", "restored.master-key"] {
        std::fs::copy(&key, tmp.path().join(copy)).unwrap();
    }
    let follower = add_user(&pdata, "replica-1", "ProviderAdmin");
    let admin = add_user(&pdata, "staff-pa01", "ProviderAdmin");
    let manager = add_user(&pdata, "staff-rm01", "RegisteredManager");
    let reader = add_user(&pdata, "person-r", "Person");
    let mut primary = serve_allowing(&pdata, "replica-1");
    post_json(primary.addr, "/v1/events", &manager, &person("person-r")).expect_json(201);
    for n in 0..20 {
        post_json(primary.addr, "/v1/events", &manager, &note("person-r", n)).expect_json(201);
    }

    // Only the users the primary was started to allow may follow: not another provider
    // admin, nor a manager.
    for token in [&admin, &manager] {
        let refused = get(primary.addr, "/v1/replication/frames?from=0", Some(token));
        let problem = refused.expect_problem(403);
        assert!(
            problem["detail"].as_str().unwrap().contains("--replica"),
            "{problem}"
        );
        get(primary.addr, "/v1/replication/auth", Some(token)).expect_problem(403);
    }

    let mut replica = replica(&rdata, &primary, &follower);
    replica.wait_ready();
    let size = ready_events(&primary);
    wait_for("the replica holds the primary's events", || {
        ready_events(&replica) == size
    });
    assert!(
        replica.get("/readyz", None).text().contains("read-only"),
        "{}",
        replica.get("/readyz", None).text()
    );

    // The primary's tokens work on the replica; a read there is recorded at the primary.
    let me = replica.get("/v1/me", Some(&manager)).expect_json(200);
    assert_eq!(me["id"], "staff-rm01");
    let read = replica
        .get("/v1/people/person-r/details", Some(&reader))
        .expect_json(200);
    assert_eq!(read["data"]["name"], "Person person-r", "{read}");
    let access_event = read["access"]["event"]
        .as_u64()
        .expect("the read names its access event");
    assert_eq!(
        access_event, size,
        "recorded at the primary as its next event"
    );
    let event = primary.get(&format!("/v1/ledger/events/{access_event}"), Some(&admin));
    assert_eq!(event.status, 200, "{}", event.text());
    // A refused read on the replica is recorded at the primary too.
    let refusal = replica
        .get("/v1/people/person-r/details", Some(&follower))
        .expect_problem(403);
    let refusal_event = refusal["access_event"].as_u64().expect("recorded");
    assert_eq!(refusal_event, size + 1);

    // What the primary records for replicas: only a reader's own reads, as its own role,
    // now, of the access kinds. Anything else is refused and nothing is written.
    let forged = |actor: &str, role: Role, kind: &str, at_us: i64| {
        let payload = CareEvent::AccessRefused(AccessRefused {
            role,
            categories: vec![Category::PersonalDetails],
            purpose: Purpose::DirectCare,
            reason: "test".into(),
        })
        .encode()
        .unwrap();
        json!({"events": [{"actor": actor, "subject": "person-r", "occurred_at_us": at_us,
            "kind": kind, "payload": base64::engine::general_purpose::STANDARD.encode(payload)}]})
    };
    let now = careledger_store::now_us();
    let hour_ago = now - 3_600_000_000;
    let before = ready_events(&primary);
    for (what, body, status) in [
        (
            "another actor",
            forged("person-r", Role::Person, "access.refused", now),
            403,
        ),
        (
            "another role",
            forged("staff-rm01", Role::Person, "access.refused", now),
            403,
        ),
        (
            "not an access kind",
            forged("staff-rm01", Role::RegisteredManager, "diary.note", now),
            400,
        ),
        (
            "an hour ago",
            forged(
                "staff-rm01",
                Role::RegisteredManager,
                "access.refused",
                hour_ago,
            ),
            400,
        ),
    ] {
        let r = post_json(primary.addr, "/v1/replication/access", &manager, &body);
        assert_eq!(r.status, status, "{what}: {}", r.text());
    }
    assert_eq!(ready_events(&primary), before, "nothing forged was written");
    let own = post_json(
        primary.addr,
        "/v1/replication/access",
        &manager,
        &forged("staff-rm01", Role::RegisteredManager, "access.refused", now),
    )
    .expect_json(201);
    assert_eq!(own["receipts"][0]["seq"].as_u64(), Some(before));
    wait_for("the replica holds its own read's access event", || {
        ready_events(&replica) > access_event
    });

    // Writes are refused, naming the primary; nothing is written anywhere.
    let before = ready_events(&primary);
    let write = post_json(replica.addr, "/v1/events", &manager, &note("person-r", 99));
    let problem = write.expect_problem(503);
    assert!(
        problem["type"].as_str().unwrap().ends_with("/replica"),
        "{problem}"
    );
    let primary_url = format!("http://{}", primary.addr);
    assert!(
        problem["detail"].as_str().unwrap().contains(&primary_url),
        "{problem}"
    );
    assert_eq!(ready_events(&primary), before);

    // A revocation at the primary reaches the replica within seconds.
    let doomed = add_user(&pdata, "staff-rm02", "RegisteredManager");
    // (Asking with the token before the copy arrives would count as failed attempts,
    // and ten lock the client out: wait for the copy first.)
    wait_for("the new user reaches the replica's files", || {
        std::fs::read_to_string(rdir.join("auth.json")).is_ok_and(|a| a.contains("staff-rm02"))
    });
    wait_for("the new user's token works on the replica", || {
        std::thread::sleep(Duration::from_millis(400));
        replica.get("/v1/me", Some(&doomed)).status == 200
    });
    cli_ok(&["token", "revoke", "--data", &pdata, &doomed]);
    wait_for("the revoked token stops working on the replica", || {
        replica.get("/v1/me", Some(&doomed)).status == 401
    });
    // Users are managed at the primary, not on the replica.
    let (_, stderr) = cli_err(&["user", "add", "--data", &rdata, "x", "--role", "Auditor"]);
    assert!(stderr.contains("replica"), "{stderr}");

    // The primary goes away: reads that would need a record of access are refused with
    // a clear answer, the replica's own ledger reads go on.
    for n in 0..5 {
        post_json(
            primary.addr,
            "/v1/events",
            &manager,
            &note("person-r", 100 + n),
        )
        .expect_json(201);
    }
    let last = ready_events(&primary);
    wait_for("the replica catches up before the primary stops", || {
        ready_events(&replica) == last
    });
    primary.stop_gracefully();
    let read = replica.get("/v1/people/person-r/details", Some(&reader));
    let problem = read.expect_problem(503);
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/primary-unreachable"),
        "{problem}"
    );
    assert_eq!(
        replica.get("/v1/ledger/checkpoint", None).status,
        200,
        "the ledger's own reads need no primary"
    );
    let (status, stderr) = replica.stop();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The replica verifies as a ledger of its own; its events file is the primary's.
    cli_ok(&["verify", "--data", &rdata]);
    assert_eq!(
        std::fs::read(rdir.join("events.log")).unwrap(),
        std::fs::read(pdir.join("events.log")).unwrap()
    );
    // A backup taken from the stopped replica restores to a replica (no key in it).
    let backup = tmp.path().join("replica.backup");
    cli_ok(&["backup", "--data", &rdata, "--out", path_str(&backup)]);
    let restored = tmp.path().join("restored");
    cli_ok(&[
        "restore",
        "--from",
        path_str(&backup),
        "--data",
        path_str(&restored),
    ]);
    assert!(restored.join("replica").exists());
    assert!(!restored.join("signing.key").exists());

    // Promotion: refused with a stranger's key, done with the ledger's own.
    let stranger = tmp.path().join("stranger");
    cli_ok(&["init", "--data", path_str(&stranger)]);
    let (code, stderr) = cli_err(&[
        "promote",
        "--data",
        &rdata,
        "--signing-key",
        path_str(&stranger.join("signing.key")),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("own key"), "{stderr}");
    let (_, stderr) = cli_err(&["serve", "--data", &rdata, "--listen", "127.0.0.1:0"]);
    assert!(stderr.contains("is a replica"), "{stderr}");
    let promoted = cli_ok(&[
        "promote",
        "--data",
        &rdata,
        "--signing-key",
        path_str(&pdir.join("signing.key")),
    ]);
    assert!(promoted.contains(&format!("{last} events")), "{promoted}");
    let mut taken_over = Server::start(&["--data", &rdata, "--listen", "127.0.0.1:0", "--quiet"]);
    taken_over.wait_ready();
    let written = post_json(
        taken_over.addr,
        "/v1/events",
        &manager,
        &note("person-r", 200),
    )
    .expect_json(201);
    assert_eq!(written["event"].as_u64(), Some(last));
    let key = taken_over.get("/v1/ledger/key", None).text();
    assert_eq!(
        key.trim(),
        cli_ok(&["key", "--data", &pdata]).trim(),
        "the same verifier"
    );
    taken_over.stop_gracefully();
    cli_ok(&["verify", "--data", &rdata]);
}

/// A primary whose history changed under the replica (restored from an older backup and
/// written to since) is refused as a fork: the replica stops following, says so on
/// `/readyz`, and keeps everything it holds.
#[test]
fn a_primary_whose_history_changed_is_refused_as_a_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let pdir = tmp.path().join("primary");
    let rdir = tmp.path().join("replica");
    let (pdata, rdata) = (path_str(&pdir).to_string(), path_str(&rdir).to_string());
    cli_ok(&["init", "--data", &pdata]);
    // The replica shares the primary's master key (beside each folder), and so does
    // anything restored from their backups.
    let key = tmp.path().join("primary.master-key");
    for copy in ["replica.master-key", "restored.master-key"] {
        std::fs::copy(&key, tmp.path().join(copy)).unwrap();
    }
    let admin = add_user(&pdata, "staff-pa01", "ProviderAdmin");
    let manager = add_user(&pdata, "staff-rm01", "RegisteredManager");
    let reader = add_user(&pdata, "person-f", "Person");
    let mut primary = serve_allowing(&pdata, "staff-pa01");
    post_json(primary.addr, "/v1/events", &manager, &person("person-f")).expect_json(201);
    // A signed checkpoint to back up to (the first one is signed when asked for).
    assert_eq!(primary.get("/v1/ledger/checkpoint", None).status, 200);
    let backup = tmp.path().join("early.backup");
    cli_ok(&["backup", "--data", &pdata, "--out", path_str(&backup)]);
    for n in 0..10 {
        post_json(primary.addr, "/v1/events", &manager, &note("person-f", n)).expect_json(201);
    }
    let mut replica_server = replica(&rdata, &primary, &admin);
    let size = ready_events(&primary);
    wait_for("the replica catches up", || {
        ready_events(&replica_server) == size
    });
    let (status, stderr) = replica_server.stop();
    assert!(status.success(), "{stderr}");
    primary.stop_gracefully();

    // The provider restores the early backup and goes on writing to it, on another
    // address: another history of the same ledger, signed with the same key.
    let restored = tmp.path().join("restored");
    cli_ok(&[
        "restore",
        "--from",
        path_str(&backup),
        "--data",
        path_str(&restored),
    ]);
    let mut other = serve_allowing(path_str(&restored), "staff-pa01");
    for n in 0..30 {
        post_json(
            other.addr,
            "/v1/events",
            &manager,
            &note("person-f", 1000 + n),
        )
        .expect_json(201);
    }
    let replica_server = replica(&rdata, &other, &admin);
    wait_for("the replica reports the fork", || {
        let ready = replica_server.get("/readyz", None);
        ready.status == 503 && ready.text().contains("stopped following")
    });
    let ready = replica_server.get("/readyz", None).text();
    assert!(ready.contains("history"), "{ready}");
    // Reads are not recorded in the history it refused: none is served.
    let read = replica_server.get("/v1/people/person-f/details", Some(&reader));
    let problem = read.expect_problem(503);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("stopped following"),
        "{problem}"
    );
    // Everything the replica held is still there and served.
    assert_eq!(
        replica_server
            .get(&format!("/v1/ledger/events/{}", size - 1), Some(&admin))
            .status,
        200
    );
    drop(replica_server);
    other.stop_gracefully();
    let report = cli_ok(&["verify", "--data", &rdata]);
    assert!(report.contains(&format!("{size} events")), "{report}");
}
