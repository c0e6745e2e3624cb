//! The pages through the whole router (the API's, with the pages merged in), as a browser
//! would send requests: sign-in links, cookies, form tokens. What a real browser adds
//! (rendering, accessibility, the keyboard) is in `tests/browser/run.mjs`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use careledger_api::auth::{AuthFiles, InvitationKind};
use careledger_api::{App, ClientAddr, Limits};
use careledger_care::event::*;
use careledger_care::{CareEvent, Category, Grantee, Purpose, Role};
use careledger_ledger::{Command, Ledger};
use careledger_store::{now_us, Store};
use careledger_web::Web;
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Harness {
    app: App,
    web: Arc<Web>,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

/// A browser: its cookies.
#[derive(Default, Clone)]
struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&mut self, a: &Answer) {
        for v in a.headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !val.is_empty() {
                self.cookies.push((k.to_string(), val.to_string()));
            }
        }
    }
}

/// The value of the first hidden `_token` in a page.
fn form_token(body: &str) -> String {
    let at = body.find(r#"name="_token" value=""#).expect("a form token") + 21;
    body[at..at + body[at..].find('"').unwrap()].to_string()
}

impl Harness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Sealed at rest, as every ledger careledger makes.
        let master = std::sync::Arc::new(careledger_store::MasterKey::generate().unwrap());
        Store::init_sealed(dir.path(), "test.careledger.local/web", &master).unwrap();
        let mut files = AuthFiles::open(dir.path()).unwrap();
        for (id, role) in [
            ("staff-rm01", Role::RegisteredManager),
            ("staff-cw01", Role::CareWorker),
            ("person-a", Role::Person),
            ("family-a", Role::Family),
            ("para-1", Role::EmergencyClinician),
            ("partner-dn", Role::Partner),
        ] {
            files.add_user(id, role, "test user", now_us()).unwrap();
        }
        drop(files);
        let ledger = Ledger::open(
            dir.path(),
            careledger_store::StoreConfig {
                master_key: Some(master),
                ..Default::default()
            },
        )
        .unwrap();
        let app = App::new(
            ledger,
            dir.path(),
            Limits {
                log_requests: false,
                ..Limits::default()
            },
        )
        .unwrap();
        let web = Arc::new(Web::open(dir.path(), careledger_web::IDLE_DEFAULT, false).unwrap());
        let router =
            careledger_api::routes::router_with(app.clone(), careledger_web::router(web.clone()));
        let h = Self {
            app,
            web,
            router,
            _dir: dir,
        };
        h.seed().await;
        h
    }

    async fn seed(&self) {
        let t = now_us() - careledger_care::DAY_US;
        let org = |e| Command::organisation("staff-rm01", t, e);
        let about = |e| Command::about("staff-rm01", "person-a", t, e);
        self.app
            .append(vec![
                org(CareEvent::StaffRegistered(StaffRegistered {
                    staff_id: "staff-rm01".into(),
                    name: "Rita Morgan".into(),
                    role: Role::RegisteredManager,
                })),
                org(CareEvent::StaffRegistered(StaffRegistered {
                    staff_id: "staff-cw01".into(),
                    name: "Sam Carter".into(),
                    role: Role::CareWorker,
                })),
                about(CareEvent::PersonRegistered(PersonRegistered {
                    name: "Alice Able".into(),
                    date_of_birth: chrono::NaiveDate::from_ymd_opt(1940, 2, 3).unwrap(),
                    nhs_number: None,
                    address: "1 High Street".into(),
                    gp_practice: "High Street Surgery".into(),
                    allergies: vec![],
                })),
                about(CareEvent::CareStarted(CareStarted {
                    service: "home care".into(),
                })),
            ])
            .await
            .unwrap();
    }

    async fn send(&self, b: &mut Browser, req: Request<Body>) -> Answer {
        let mut req = req;
        req.extensions_mut()
            .insert(ConnectInfo(ClientAddr(SocketAddr::from((
                [127, 0, 0, 1],
                40000,
            )))));
        if !b.cookies.is_empty() {
            req.headers_mut()
                .insert(header::COOKIE, b.header().parse().unwrap());
        }
        let response = self.router.clone().oneshot(req).await.unwrap();
        let a = Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: String::from_utf8(
                response
                    .into_body()
                    .collect()
                    .await
                    .unwrap()
                    .to_bytes()
                    .to_vec(),
            )
            .unwrap(),
        };
        b.take(&a);
        a
    }

    async fn get(&self, b: &mut Browser, path: &str) -> Answer {
        self.send(b, Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    async fn post(
        &self,
        b: &mut Browser,
        path: &str,
        fields: &[(&str, &str)],
        site: &str,
    ) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            b,
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", site)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// Signs `user` in with a demo link; returns the browser and a form token of a page.
    async fn sign_in(&self, user: &str) -> (Browser, String) {
        let secret = AuthFiles::open(self.app.ledger.store().dir())
            .unwrap()
            .invite(
                user,
                InvitationKind::DemoSignIn,
                "test",
                now_us(),
                careledger_care::DAY_US,
            )
            .unwrap();
        let mut b = Browser::default();
        let page = self.get(&mut b, &format!("/demo/{secret}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let token = form_token(&page.body);
        let a = self
            .post(
                &mut b,
                &format!("/demo/{secret}"),
                &[("_token", &token)],
                "same-origin",
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let home = self.get(&mut b, "/people").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        (b, form_token(&home.body))
    }

    fn size(&self) -> u64 {
        self.app.ledger.store().size()
    }

    /// (kind, actor) of the events after `from`.
    fn since(&self, from: u64) -> Vec<(String, String)> {
        let store = self.app.ledger.store();
        (from..store.size())
            .map(|s| {
                let e = store.get(s).unwrap().envelope;
                (e.kind, e.actor)
            })
            .collect()
    }
}

fn kinds(events: &[(String, String)]) -> Vec<&str> {
    events.iter().map(|(k, _)| k.as_str()).collect()
}

#[tokio::test]
async fn each_page_view_of_a_record_leaves_exactly_one_access_event() {
    let h = Harness::new().await;
    let (mut person, _) = h.sign_in("person-a").await;
    for section in [
        "",
        "/care-plan",
        "/daily-notes",
        "/medicines",
        "/who-looked",
        "/sharing",
        "/choices",
    ] {
        let before = h.size();
        let a = h
            .get(&mut person, &format!("/people/person-a{section}"))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{section}: {}", a.body);
        assert_eq!(
            h.since(before),
            vec![("access.read".to_string(), "person-a".to_string())],
            "{section}"
        );
    }
    // Refused: one refusal event, and no data.
    let (mut family, _) = h.sign_in("family-a").await;
    let before = h.size();
    let a = h.get(&mut family, "/people/person-a/care-plan").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(!a.body.contains("About me"));
    assert_eq!(kinds(&h.since(before)), vec!["access.refused"]);
}

#[tokio::test]
async fn a_person_gives_and_takes_back_access_and_the_family_member_sees_only_that() {
    let h = Harness::new().await;
    let (mut person, token) = h.sign_in("person-a").await;
    let a = h
        .post(
            &mut person,
            "/people/person-a/sharing",
            &[
                ("_token", &token),
                ("grantee", "family-a"),
                ("categories", "CarePlan"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let grant = h
        .app
        .ledger
        .read(|s| {
            s.person("person-a")
                .unwrap()
                .grants
                .iter()
                .map(|(id, g)| (id.clone(), g.clone()))
                .next()
                .unwrap()
        })
        .unwrap();
    assert_eq!(grant.1.grantee, Grantee::Principal("family-a".into()));
    assert_eq!(grant.1.categories, vec![Category::CarePlan]);
    assert_eq!(grant.1.purpose, Purpose::PersonalAccess);
    let (mut family, _) = h.sign_in("family-a").await;
    assert_eq!(
        h.get(&mut family, "/people/person-a/care-plan")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        h.get(&mut family, "/people/person-a/medicines")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let looked = h.get(&mut person, "/people/person-a/who-looked").await;
    assert!(
        looked
            .body
            .contains("family-a, family member or carer, read your care plan on your behalf"),
        "{}",
        looked.body
    );
    let a = h
        .post(
            &mut person,
            &format!("/people/person-a/sharing/{}/take-back", grant.0),
            &[("_token", &token)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        h.get(&mut family, "/people/person-a/care-plan")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn forms_from_another_site_or_without_the_token_change_nothing() {
    let h = Harness::new().await;
    let (mut cw, token) = h.sign_in("staff-cw01").await;
    let before = h.size();
    let note = [("_token", token.as_str()), ("text", "forged")];
    let a = h
        .post(&mut cw, "/people/person-a/daily-notes", &note, "cross-site")
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = h
        .post(
            &mut cw,
            "/people/person-a/daily-notes",
            &[("text", "forged")],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = h
        .post(
            &mut cw,
            "/people/person-a/daily-notes",
            &[("_token", "x".repeat(43).as_str()), ("text", "forged")],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(h.size(), before, "nothing was written");
    // With the token, from this site: recorded, and a script in it is text.
    let script = [
        ("_token", token.as_str()),
        ("text", "<script>alert(1)</script>"),
    ];
    let a = h
        .post(
            &mut cw,
            "/people/person-a/daily-notes",
            &script,
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = h.get(&mut cw, "/people/person-a/daily-notes").await;
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.body.contains("<script>"));
    // A textarea's lines arrive as CR LF and are recorded as LF: the ledger refuses any
    // control character but a newline and a tab in its texts.
    let before = h.size();
    let lines = [
        ("_token", token.as_str()),
        ("text", "Ate well.\r\nSlept well.\rWoke at 7."),
    ];
    let a = h
        .post(
            &mut cw,
            "/people/person-a/daily-notes",
            &lines,
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let stored = h.app.ledger.store().get(before).unwrap();
    let (_, payload) = stored.payload.expect("the note's payload");
    let Ok(careledger_care::CareEvent::DiaryNote(n)) =
        careledger_care::CareEvent::decode(&stored.envelope.kind, &payload)
    else {
        panic!("not a diary note: {}", stored.envelope.kind)
    };
    assert_eq!(n.text, "Ate well.\nSlept well.\nWoke at 7.");
    // GET never changes anything but the access log.
    let before = h.size();
    h.get(&mut cw, "/people/person-a/daily-notes?text=forged")
        .await;
    assert_eq!(kinds(&h.since(before)), vec!["access.read"]);
}

#[tokio::test]
async fn signing_in_and_out_is_recorded_and_the_old_cookie_is_refused() {
    let h = Harness::new().await;
    let before = h.size();
    let (mut cw, token) = h.sign_in("staff-cw01").await;
    let events = h.since(before);
    assert_eq!(
        events[0],
        ("session.signed_in".to_string(), "staff-cw01".to_string())
    );
    let cookie = cw
        .cookies
        .iter()
        .find(|(k, _)| k == "careledger")
        .unwrap()
        .clone();
    let before = h.size();
    let a = h
        .post(&mut cw, "/sign-out", &[("_token", &token)], "same-origin")
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(kinds(&h.since(before)), vec!["session.signed_out"]);
    let mut old = Browser {
        cookies: vec![cookie],
    };
    let a = h.get(&mut old, "/people").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/sign-in"));
    assert_eq!(h.web.sessions.len(), 0);
}

#[tokio::test]
async fn revoking_a_user_ends_their_sessions_and_says_why() {
    let h = Harness::new().await;
    let (mut cw, _) = h.sign_in("staff-cw01").await;
    AuthFiles::open(h.app.ledger.store().dir())
        .unwrap()
        .revoke_user("staff-cw01", now_us())
        .unwrap();
    h.app.auth.reload();
    let before = h.size();
    let a = h.get(&mut cw, "/people").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let out = h.since(before);
    assert_eq!(kinds(&out), vec!["session.signed_out"]);
    let stored = h.app.ledger.store().get(before).unwrap();
    let event = CareEvent::decode(&stored.envelope.kind, &stored.payload.unwrap().1).unwrap();
    assert!(matches!(
        event,
        CareEvent::SignedOut(SignedOut {
            reason: SignOutReason::UserRevoked,
            ..
        })
    ));
}

#[tokio::test]
async fn passwords_from_an_invitation_and_failed_sign_ins_count_towards_the_lockout() {
    let h = Harness::new().await;
    let secret = AuthFiles::open(h.app.ledger.store().dir())
        .unwrap()
        .invite(
            "staff-cw01",
            InvitationKind::SetPassword,
            "test",
            now_us(),
            careledger_api::auth::INVITATION_VALID_US,
        )
        .unwrap();
    let mut b = Browser::default();
    let page = h.get(&mut b, &format!("/invitation/{secret}")).await;
    let token = form_token(&page.body);
    let pw = "correct horse battery staple";
    let a = h
        .post(
            &mut b,
            &format!("/invitation/{secret}"),
            &[("_token", &token), ("password", pw), ("confirm", pw)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    // Used once.
    assert_eq!(
        h.get(&mut b, &format!("/invitation/{secret}")).await.status,
        StatusCode::NOT_FOUND
    );
    let stored = AuthFiles::open(h.app.ledger.store().dir())
        .unwrap()
        .user("staff-cw01")
        .unwrap()
        .password
        .clone()
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert!(!stored.contains(pw));
    let page = h.get(&mut b, "/sign-in").await;
    let token = form_token(&page.body);
    let before = h.size();
    let a = h
        .post(
            &mut b,
            "/sign-in",
            &[
                ("_token", &token),
                ("user", "staff-cw01"),
                ("password", "wrong password here"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("Enter a correct user ID and password"));
    assert_eq!(kinds(&h.since(before)), vec!["session.sign_in_failed"]);
    let a = h
        .post(
            &mut b,
            "/sign-in",
            &[("_token", &token), ("user", "staff-cw01"), ("password", pw)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert!(a.headers.get_all(header::SET_COOKIE).iter().any(|c| {
        let c = c.to_str().unwrap();
        c.starts_with("careledger=") && c.contains("HttpOnly") && c.contains("SameSite=Strict")
    }));
    // Ten failures from one client lock it out, like bearer tokens.
    let mut last = StatusCode::OK;
    for _ in 0..11 {
        last = h
            .post(
                &mut b,
                "/sign-in",
                &[
                    ("_token", &token),
                    ("user", "staff-cw01"),
                    ("password", "wrong password here"),
                ],
                "same-origin",
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let h = Harness::new().await;
    let mut b = Browser::default();
    let a = h.get(&mut b, "/sign-in").await;
    let csp = a.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(a.headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(a.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(a.body.starts_with("<!DOCTYPE html><html lang=\"en-GB\">"));
    // Signed out, a record page sends the browser to sign in and shows nothing.
    let a = h.get(&mut b, "/people/person-a/care-plan").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        a.headers[header::LOCATION],
        "/sign-in?next=%2Fpeople%2Fperson-a%2Fcare-plan"
    );
}

#[tokio::test]
async fn sessions_the_file_lost_are_recorded_as_ended_at_start() {
    let h = Harness::new().await;
    let (_cw, _) = h.sign_in("staff-cw01").await;
    let open = |h: &Harness| {
        h.app
            .ledger
            .read(|s| s.sessions.get("staff-cw01").map_or(0, |u| u.open.len()))
            .unwrap()
    };
    assert_eq!(open(&h), 1);
    // The sessions file is removed (everyone signed out by hand), and the service starts.
    let dir = h.app.ledger.store().dir().to_path_buf();
    std::fs::remove_file(dir.join(careledger_web::session::SESSIONS_FILE)).unwrap();
    let fresh = Web::open(&dir, careledger_web::IDLE_DEFAULT, false).unwrap();
    careledger_web::reconcile(&h.app, &fresh).await;
    assert_eq!(
        open(&h),
        0,
        "the ledger no longer counts the lost session as open"
    );
}

#[test]
fn only_plain_paths_of_this_site_are_gone_back_to() {
    use careledger_web::pages::auth::local;
    assert_eq!(
        local("/people/person-a/care-plan?version=2"),
        "/people/person-a/care-plan?version=2"
    );
    for bad in [
        "//evil.example",
        "/\t/evil.example",
        "/\\evil.example",
        "https://evil.example",
        "/x\ny",
        "people",
        "",
    ] {
        assert_eq!(local(bad), "/", "{bad:?}");
    }
}

#[tokio::test]
async fn a_form_larger_than_the_body_limit_is_refused_unread() {
    let h = Harness::new().await;
    let (mut cw, token) = h.sign_in("staff-cw01").await;
    let before = h.size();
    let big = "x".repeat(300 * 1024);
    let a = h
        .post(
            &mut cw,
            "/people/person-a/daily-notes",
            &[("_token", &token), ("text", &big)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.size(), before);
    // Before sign-in too.
    let mut b = Browser::default();
    let a = h
        .post(&mut b, "/sign-in", &[("user", &big)], "same-origin")
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn break_glass_needs_a_reason_then_shows_medicines_only_under_a_banner() {
    let h = Harness::new().await;
    let (mut para, token) = h.sign_in("para-1").await;
    let before = h.size();
    assert_eq!(
        h.get(&mut para, "/people/person-a/medicines").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(kinds(&h.since(before)), vec!["access.refused"]);
    let page = h.get(&mut para, "/emergency?person=person-a").await;
    assert_eq!(page.status, StatusCode::OK);
    // No reason: refused by the field, nothing recorded.
    let before = h.size();
    let a = h
        .post(
            &mut para,
            "/emergency",
            &[
                ("_token", &token),
                ("person", "person-a"),
                ("reason", ""),
                ("minutes", "60"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains(r##"href="#reason""##), "{}", a.body);
    assert_eq!(h.size(), before);
    // An unknown person: said by the field.
    let a = h
        .post(
            &mut para,
            "/emergency",
            &[
                ("_token", &token),
                ("person", "person-z"),
                ("reason", "collapsed"),
                ("minutes", "60"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("There is nobody with the ID"), "{}", a.body);
    let a = h
        .post(
            &mut para,
            "/emergency",
            &[
                ("_token", &token),
                ("person", "person-a"),
                ("reason", "collapsed at home"),
                ("minutes", "60"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.headers[header::LOCATION], "/people/person-a/medicines");
    let before = h.size();
    let mar = h.get(&mut para, "/people/person-a/medicines").await;
    assert_eq!(mar.status, StatusCode::OK);
    assert!(mar.body.contains("flagged for review"));
    assert!(
        mar.body.contains("None known"),
        "allergies are stated, never blank"
    );
    assert_eq!(kinds(&h.since(before)), vec!["access.read"]);
    // Still nothing else.
    assert_eq!(
        h.get(&mut para, "/people/person-a/care-plan").await.status,
        StatusCode::FORBIDDEN
    );
    // Staff do not break glass.
    let (mut cw, token) = h.sign_in("staff-cw01").await;
    let a = h
        .post(
            &mut cw,
            "/emergency",
            &[
                ("_token", &token),
                ("person", "person-a"),
                ("reason", "x"),
                ("minutes", "60"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // The access is on the manager's "what needs doing" until reviewed.
    let emergency = (0..h.size())
        .find(|s| h.app.ledger.store().get(*s).unwrap().envelope.kind == "access.emergency")
        .unwrap();
    let (mut rm, rtoken) = h.sign_in("staff-rm01").await;
    let page = h.get(&mut rm, "/findings").await;
    assert!(
        page.body
            .contains(&format!("(event {emergency}) has not been reviewed")),
        "{}",
        page.body
    );
    // Who broke the glass and why is the person's access log: not on the findings page,
    // which council officers see too, but on the review page, through the gate.
    assert!(!page.body.contains("collapsed at home"), "{}", page.body);
    let review = format!("/findings/break-glass/{emergency}");
    assert!(
        page.body.contains(&format!("href=\"{review}\"")),
        "{}",
        page.body
    );
    let before = h.size();
    let form = h.get(&mut rm, &review).await;
    assert!(form.body.contains("collapsed at home"), "{}", form.body);
    assert_eq!(
        h.since(before),
        [("access.read".to_string(), "staff-rm01".to_string())],
        "one read of the access log"
    );
    // A care worker cannot review it.
    let a = h
        .post(
            &mut cw,
            &review,
            &[
                ("_token", &token),
                ("outcome", "Appropriate"),
                ("notes", "x"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Not appropriate needs the action taken, by its field.
    let before = h.size();
    let a = h
        .post(
            &mut rm,
            &review,
            &[
                ("_token", &rtoken),
                ("outcome", "NotAppropriate"),
                ("notes", "spoke to the paramedic"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("href=\"#action\""), "{}", a.body);
    assert_eq!(
        kinds(&h.since(before)),
        ["access.read"],
        "no review, only the form's read of the access log again"
    );
    let before = h.size();
    let a = h
        .post(
            &mut rm,
            &review,
            &[
                ("_token", &rtoken),
                ("outcome", "Appropriate"),
                ("notes", "999 call logged at 14:02; matches the reason"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(kinds(&h.since(before)), ["access.emergency_reviewed"]);
    let page = h.get(&mut rm, "/findings").await;
    assert!(
        !page.body.contains(&format!("href=\"{review}\"")),
        "{}",
        page.body
    );
    // Reviewed once: the page says there is nothing to review.
    assert_eq!(h.get(&mut rm, &review).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_care_worker_starts_a_visit_records_a_task_and_ends_it() {
    let h = Harness::new().await;
    let (mut cw, token) = h.sign_in("staff-cw01").await;
    let page = h.get(&mut cw, "/people/person-a/daily-notes").await;
    assert!(page.body.contains("No visit is in progress"));
    let a = h
        .post(
            &mut cw,
            "/people/person-a/visits",
            &[("_token", &token)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let visit = h
        .app
        .ledger
        .read(|s| {
            s.person("person-a")
                .unwrap()
                .open_visits
                .keys()
                .next()
                .cloned()
        })
        .unwrap()
        .unwrap();
    let page = h.get(&mut cw, "/people/person-a/daily-notes").await;
    assert!(page.body.contains("Visit started "));
    // Not done needs a reason, by the field.
    let a = h
        .post(
            &mut cw,
            "/people/person-a/tasks",
            &[
                ("_token", &token),
                ("visit", &visit),
                (format!("task-{visit}").as_str(), "shower"),
                (format!("outcome-{visit}").as_str(), "NotDone"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains(&format!("href=\"#why-{visit}\"")));
    let a = h
        .post(
            &mut cw,
            "/people/person-a/tasks",
            &[
                ("_token", &token),
                ("visit", &visit),
                (format!("task-{visit}").as_str(), "breakfast"),
                (format!("outcome-{visit}").as_str(), "Done"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let a = h
        .post(
            &mut cw,
            &format!("/people/person-a/visits/{visit}/end"),
            &[("_token", &token)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    // Ending it twice is the care rules' refusal, shown on the page.
    let a = h
        .post(
            &mut cw,
            &format!("/people/person-a/visits/{visit}/end"),
            &[("_token", &token)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("There is a problem"));
    let page = h.get(&mut cw, "/people/person-a/daily-notes").await;
    assert!(
        page.body.contains("Task: breakfast – done"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Visit completed"));
    // The person sees the visit in their notes, and cannot start one.
    let (mut person, ptoken) = h.sign_in("person-a").await;
    let page = h.get(&mut person, "/people/person-a/daily-notes").await;
    assert!(page.body.contains("Visit completed") && !page.body.contains("Start visit"));
    let a = h
        .post(
            &mut person,
            "/people/person-a/visits",
            &[("_token", &ptoken)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_manager_makes_a_link_only_for_someone_with_no_password_who_is_not_a_manager() {
    let h = Harness::new().await;
    let (mut rm, token) = h.sign_in("staff-rm01").await;
    let page = h.get(&mut rm, "/staff").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("/staff/staff-cw01/invite"));
    assert!(
        !page.body.contains("/staff/staff-rm01/invite"),
        "not for managers"
    );
    let a = h
        .post(
            &mut rm,
            "/staff/staff-cw01/invite",
            &[("_token", &token)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let at = a.body.find("/invitation/inv_").expect("the link is shown");
    let secret: String = a.body[at + 12..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let mut b = Browser::default();
    assert_eq!(
        h.get(&mut b, &format!("/invitation/{secret}")).await.status,
        StatusCode::OK
    );
    // The care worker sets a password with the operator's link; the manager's link, kept
    // back, can no longer reset it.
    let dir = h.app.ledger.store().dir().to_path_buf();
    let valid = careledger_api::auth::INVITATION_VALID_US;
    let operator = AuthFiles::open(&dir)
        .unwrap()
        .invite(
            "staff-cw01",
            InvitationKind::SetPassword,
            "cli",
            now_us(),
            valid,
        )
        .unwrap();
    let phc = careledger_api::auth::password::hash("the care worker's own words").unwrap();
    AuthFiles::open(&dir)
        .unwrap()
        .accept_invitation(&operator, phc.clone(), now_us())
        .unwrap();
    let kept = AuthFiles::open(&dir)
        .unwrap()
        .accept_invitation(&secret, "x".into(), now_us());
    assert!(kept.is_err(), "the manager's link is spent");
    let stored = AuthFiles::open(&dir)
        .unwrap()
        .user("staff-cw01")
        .unwrap()
        .password
        .clone();
    assert_eq!(stored, Some(phc));
    h.app.auth.reload();
    let page = h.get(&mut rm, "/staff").await;
    assert!(
        !page.body.contains("/staff/staff-cw01/invite"),
        "the care worker signs in now"
    );
    let a = h
        .post(
            &mut rm,
            "/staff/staff-cw01/invite",
            &[("_token", &token)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = h
        .post(
            &mut rm,
            "/staff/staff-rm01/invite",
            &[("_token", &token)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // A care worker may not.
    let (mut cw, ctoken) = h.sign_in("staff-cw01").await;
    assert_eq!(h.get(&mut cw, "/staff").await.status, StatusCode::FORBIDDEN);
    let a = h
        .post(
            &mut cw,
            "/staff/person-a/invite",
            &[("_token", &ctoken)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_manager_records_a_council_request_acknowledges_it_and_responds_with_the_digest() {
    let h = Harness::new().await;
    let (mut rm, token) = h.sign_in("staff-rm01").await;
    // Missing fields: each named by its field, nothing recorded.
    let before = h.size();
    let a = h
        .post(
            &mut rm,
            "/requests",
            &[("_token", &token), ("due", "24")],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["#requester", "#organisation", "#categories", "#description"] {
        assert!(a.body.contains(&format!("href=\"{field}\"")), "{field}");
    }
    assert_eq!(h.size(), before);
    let a = h
        .post(
            &mut rm,
            "/requests",
            &[
                ("_token", &token),
                ("requester", "council-mo01"),
                ("organisation", "Hertfordshire County Council"),
                ("people", "person-a"),
                ("categories", "CarePlan"),
                ("description", "The current care plan, please."),
                ("due", "24"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let id = h
        .app
        .ledger
        .read(|s| s.requests.iter().next().map(|(id, _)| id.clone()))
        .unwrap()
        .unwrap();
    let a = h
        .post(
            &mut rm,
            &format!("/requests/{id}/acknowledge"),
            &[("_token", &token)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let sent = "Care plan version 1, sent by secure email.";
    let a = h
        .post(
            &mut rm,
            &format!("/requests/{id}/respond"),
            &[
                ("_token", &token),
                (&format!("sent-{id}"), sent),
                (&format!("channel-{id}"), "SecureEmail"),
                (&format!("items-{id}"), "1"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let r = h
        .app
        .ledger
        .read(|s| s.requests.get(&id).cloned())
        .unwrap()
        .unwrap();
    assert!(r.acknowledged.is_some() && r.responded.is_some());
    let stored = h.app.ledger.store().get(h.size() - 1).unwrap();
    match CareEvent::decode(&stored.envelope.kind, &stored.payload.unwrap().1).unwrap() {
        CareEvent::RequestResponded(resp) => {
            assert_eq!(resp.digest, *blake3::hash(sent.as_bytes()).as_bytes())
        }
        other => panic!("{other:?}"),
    }
    let page = h.get(&mut rm, "/requests").await;
    assert!(page.body.contains("Answered in"), "{}", page.body);
    assert!(page.body.contains("<svg class=\"chart\""));
    // Responding twice is the care rules' refusal, by the field.
    let a = h
        .post(
            &mut rm,
            &format!("/requests/{id}/respond"),
            &[
                ("_token", &token),
                (&format!("sent-{id}"), sent),
                (&format!("channel-{id}"), "SecureEmail"),
                (&format!("items-{id}"), "1"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
}

#[tokio::test]
async fn paper_copies_placed_are_recorded_with_the_current_version_and_refusals_shown() {
    let h = Harness::new().await;
    let (mut rm, token) = h.sign_in("staff-rm01").await;
    // No care plan yet: the care rules refuse a paper copy of it, by the field.
    let a = h
        .post(
            &mut rm,
            "/people/person-a/paper",
            &[
                ("_token", &token),
                ("document", "CarePlan"),
                ("format", "LargePrint"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains(r##"href="#document""##));
    let a = h
        .post(
            &mut rm,
            "/people/person-a/paper",
            &[
                ("_token", &token),
                ("document", "ServiceUserGuide"),
                ("format", "LargePrint"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = h.get(&mut rm, "/people/person-a/choices").await;
    assert!(
        page.body.contains("Service User Guide, large print"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_partner_sees_who_agreed_to_share_what_and_the_channel_agreed() {
    let h = Harness::new().await;
    let (mut dn, _) = h.sign_in("partner-dn").await;
    let page = h.get(&mut dn, "/people").await;
    assert!(
        page.body.contains("not registered you as a partner"),
        "{}",
        page.body
    );
    let t = now_us();
    h.app
        .append(vec![
            Command::organisation(
                "staff-rm01",
                t,
                CareEvent::PartnerRegistered(PartnerRegistered {
                    partner_id: "partner-dn".into(),
                    name: "District nurses".into(),
                    agreed_channel: careledger_care::Channel::SecureEmail,
                    contact: "dn@nhs.example".into(),
                }),
            ),
            Command::about(
                "person-a",
                "person-a",
                t,
                CareEvent::SharingConsentRecorded(SharingConsentRecorded {
                    partner_id: "partner-dn".into(),
                    categories: vec![Category::Medicines],
                    given: true,
                    decided_by: "person-a".into(),
                    basis: careledger_care::CapacityBasis::PersonHasCapacity,
                }),
            ),
        ])
        .await
        .unwrap();
    let before = h.size();
    let page = h.get(&mut dn, "/people").await;
    assert!(
        page.body
            .contains("over to District nurses by secure email"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("<td>person-a</td><td>medicines and allergies</td>"));
    assert_eq!(h.size(), before, "the list reads no record");
    // Consent to share is for the provider's handovers: it opens no record to the partner.
    let mar = h.get(&mut dn, "/people/person-a/medicines").await;
    assert_eq!(mar.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.get(&mut dn, "/people/person-a/handovers").await.status,
        StatusCode::FORBIDDEN
    );

    // The care worker hands over what the person agreed to share, and only that.
    let (mut cw, token) = h.sign_in("staff-cw01").await;
    let page = h.get(&mut cw, "/people/person-a/handovers").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("District nurses (by secure email; may share: medicines and allergies)"),
        "{}",
        page.body
    );
    let before = h.size();
    let a = h
        .post(
            &mut cw,
            "/people/person-a/handovers/sent",
            &[
                ("_token", &token),
                ("sent_partner", "partner-dn"),
                ("sent_categories", "Medicines"),
                ("sent_categories", "DailyNotes"),
                ("sent_summary", "<b>new</b> antibiotics"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("href=\"#sent_categories\""), "{}", a.body);
    assert!(
        a.body.contains("daily notes"),
        "the refusal names what was not agreed"
    );
    assert_eq!(
        kinds(&h.since(before)),
        ["access.read"],
        "only the page's read"
    );
    let a = h
        .post(
            &mut cw,
            "/people/person-a/handovers/sent",
            &[
                ("_token", &token),
                ("sent_partner", "partner-dn"),
                ("sent_categories", "Medicines"),
                ("sent_summary", "<b>new</b> antibiotics"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    // The partner hands over to the provider about person-a, and no one else.
    let page = h.get(&mut dn, "/people").await;
    assert!(page.body.contains("href=\"/people/person-a/handover\""));
    let form = h.get(&mut dn, "/people/person-a/handover").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let dtoken = form_token(&form.body);
    let before = h.size();
    let a = h
        .post(
            &mut dn,
            "/people/person-a/handover",
            &[
                ("_token", &dtoken),
                ("summary", "dressing changed; next visit Tuesday"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        h.since(before),
        [("handover.received".to_string(), "partner-dn".to_string())]
    );
    h.app
        .append(vec![Command::about(
            "staff-rm01",
            "person-b",
            t,
            CareEvent::PersonRegistered(PersonRegistered {
                name: "Bob Bell".into(),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap(),
                nhs_number: None,
                address: "2 High Street".into(),
                gp_practice: "High Street Surgery".into(),
                allergies: vec![],
            }),
        )])
        .await
        .unwrap();
    let a = h
        .post(
            &mut dn,
            "/people/person-b/handover",
            &[("_token", &dtoken), ("summary", "x")],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Both show on the record, the summary as text.
    let page = h.get(&mut cw, "/people/person-a/handovers").await;
    assert!(page.body.contains("Sent to District nurses"));
    assert!(page.body.contains("&lt;b&gt;new&lt;/b&gt; antibiotics"));
    assert!(page.body.contains("Received from District nurses"));
    assert!(page.body.contains("dressing changed; next visit Tuesday"));
}

#[tokio::test]
async fn a_coordinator_publishes_a_care_plan_version_and_a_stale_form_is_refused() {
    let h = Harness::new().await;
    let (mut rm, token) = h.sign_in("staff-rm01").await;
    let page = h.get(&mut rm, "/people/person-a/care-plan").await;
    assert!(page.body.contains("Publish version 1"), "{}", page.body);
    let plan = |version: &str, about: &str| {
        vec![
            ("_token", token.clone()),
            ("version", version.to_string()),
            ("about_me", about.to_string()),
            ("needs", "Help to wash\r\nHelp with meals".to_string()),
            ("goals", "Stay at home".to_string()),
            ("actions", "Morning visit".to_string()),
            ("risks", "Falls".to_string()),
            ("contingency_plan", "Call the office".to_string()),
            ("agreed_with", "Alice Able".to_string()),
            ("review_date", "2027-06-01".to_string()),
        ]
    };
    let fields = plan("1", "I like my garden.");
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = h
        .post(&mut rm, "/people/person-a/care-plan", &pairs, "same-origin")
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let current = h
        .app
        .ledger
        .read(|s| s.person("person-a").unwrap().plan.clone())
        .unwrap()
        .unwrap();
    assert_eq!(current.version, 1);
    assert_eq!(
        current.sections.needs,
        vec!["Help to wash", "Help with meals"]
    );
    // The same form again (version 1 once more): the rules refuse it, by the form.
    let a = h
        .post(&mut rm, "/people/person-a/care-plan", &pairs, "same-origin")
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("There is a problem"));
    // No review date: by the field.
    let mut fields = plan("2", "Still my garden.");
    fields.retain(|(k, _)| *k != "review_date");
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = h
        .post(&mut rm, "/people/person-a/care-plan", &pairs, "same-origin")
        .await;
    assert!(a.body.contains(r##"href="#review_date""##));
    // The person cannot publish.
    let (mut person, ptoken) = h.sign_in("person-a").await;
    let a = h
        .post(
            &mut person,
            "/people/person-a/care-plan",
            &[("_token", &ptoken)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let page = h.get(&mut person, "/people/person-a/care-plan").await;
    assert!(page.body.contains("I like my garden.") && !page.body.contains("Publish version"));
}

/// UK local date and time fields for an instant, as a person would type them.
fn uk_fields(us: i64) -> (String, String) {
    let t = careledger_web::layout::uk(us);
    (
        t.format("%Y-%m-%d").to_string(),
        t.format("%H:%M").to_string(),
    )
}

#[tokio::test]
async fn after_an_outage_the_paper_is_added_at_the_time_it_happened_and_only_inside_it() {
    let h = Harness::new().await;
    let hour = careledger_care::HOUR_US;
    let now = now_us();
    h.app
        .append(vec![Command::about(
            "staff-rm01",
            "person-a",
            now - 6 * hour,
            CareEvent::MedicineAdded(MedicineAdded {
                medicine_id: "med-1".into(),
                name: "Paracetamol".into(),
                formulation: "tablet".into(),
                strength: "500 mg".into(),
                dose: "two tablets".into(),
                route: "oral".into(),
                frequency: "four times a day".into(),
                min_interval_minutes: 240,
                as_required: false,
                prescriber: "Dr Patel".into(),
                stop_or_review_date: None,
            }),
        )])
        .await
        .unwrap();
    let (mut rm, token) = h.sign_in("staff-rm01").await;
    // Declared from three hours ago; ended an hour ago.
    let (d, t) = uk_fields(now - 3 * hour);
    let a = h
        .post(
            &mut rm,
            "/outages",
            &[
                ("_token", &token),
                ("reason", "No internet in the office"),
                ("start_date", &d),
                ("start_time", &t),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = h.get(&mut rm, "/outages").await;
    assert!(page
        .body
        .contains("Outage going on: No internet in the office"));
    let outage = h
        .app
        .ledger
        .read(|s| s.outages.iter().next().map(|(id, _)| id.clone()))
        .unwrap()
        .unwrap();
    // It cannot end before it began: the care rules' refusal, by the time field.
    let (d0, t0) = uk_fields(now - 4 * hour);
    let a = h
        .post(
            &mut rm,
            &format!("/outages/{outage}/end"),
            &[("_token", &token), ("end_date", &d0), ("end_time", &t0)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("href=\"#end_time\""), "{}", a.body);
    assert!(a.body.contains("cannot end before the time it started"));
    let (d1, t1) = uk_fields(now - hour);
    let a = h
        .post(
            &mut rm,
            &format!("/outages/{outage}/end"),
            &[("_token", &token), ("end_date", &d1), ("end_time", &t1)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);

    // The care worker adds the paper diary note, at the time it was written.
    let (mut cw, ctoken) = h.sign_in("staff-cw01").await;
    let page = h.get(&mut cw, "/people/person-a/from-paper").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No internet in the office"));
    assert!(page.body.contains("Paracetamol"));
    let (d2, t2) = uk_fields(now - 2 * hour);
    let before = h.size();
    let a = h
        .post(
            &mut cw,
            "/people/person-a/from-paper",
            &[
                ("_token", &ctoken),
                ("outage", &outage),
                ("kind", "note"),
                ("date", &d2),
                ("time", &t2),
                ("paper", "diary sheet 14, kitchen folder"),
                ("text", "Alice had porridge and felt well"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        kinds(&h.since(before)),
        ["outage.back_entered"],
        "one back-entry, nothing else"
    );
    let e = h.app.ledger.store().get(before).unwrap().envelope;
    assert_eq!(e.occurred_at_us / 60_000_000, (now - 2 * hour) / 60_000_000);
    let page = h.get(&mut cw, "/people/person-a/daily-notes").await;
    assert!(page.body.contains("Alice had porridge and felt well"));
    assert!(page
        .body
        .contains("The original: diary sheet 14, kitchen folder."));

    // A dose from the paper MAR; a second one too soon after it is refused by the time.
    let dose = |time: String| {
        vec![
            ("_token".to_string(), ctoken.clone()),
            ("outage".into(), outage.clone()),
            ("kind".into(), "dose".into()),
            ("date".into(), d2.clone()),
            ("time".into(), time),
            ("paper".into(), "paper MAR, week 49".into()),
            ("medicine".into(), "med-1".into()),
            ("outcome".into(), "Given".into()),
            ("dose".into(), "two tablets".into()),
        ]
    };
    let pairs = dose(t2.clone());
    let fields: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let a = h
        .post(
            &mut cw,
            "/people/person-a/from-paper",
            &fields,
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (_, t3) = uk_fields(now - 2 * hour + 30 * 60_000_000);
    let pairs = dose(t3);
    let fields: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let before = h.size();
    let a = h
        .post(
            &mut cw,
            "/people/person-a/from-paper",
            &fields,
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("There is a problem"));
    assert_eq!(h.size(), before + 1, "only the page's read was recorded");
    let page = h.get(&mut cw, "/people/person-a/medicines").await;
    assert!(page.body.contains("From paper"), "{}", page.body);

    // Outside the outage: refused by the time field, nothing recorded.
    let (d4, t4) = uk_fields(now - 5 * hour);
    let a = h
        .post(
            &mut cw,
            "/people/person-a/from-paper",
            &[
                ("_token", &ctoken),
                ("outage", &outage),
                ("kind", "note"),
                ("date", &d4),
                ("time", &t4),
                ("paper", "sheet 2"),
                ("text", "before the outage"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("href=\"#time\""), "{}", a.body);
    assert!(a.body.contains("outside outage"));
    // Missing fields are named, each by its field.
    let a = h
        .post(
            &mut cw,
            "/people/person-a/from-paper",
            &[("_token", &ctoken), ("kind", "note")],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["outage", "paper", "date", "text"] {
        assert!(
            a.body.contains(&format!("href=\"#{f}\"")),
            "{f}: {}",
            a.body
        );
    }
    // The outages page counts what was added; the person cannot add from paper.
    let page = h.get(&mut rm, "/outages").await;
    assert!(page.body.contains("<td>2</td>"), "{}", page.body);
    let (mut person, _) = h.sign_in("person-a").await;
    let page = h.get(&mut person, "/people/person-a/from-paper").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

/// The invitation secret in a page that shows a new link.
fn invitation_in(body: &str) -> String {
    let at = body.find("/invitation/").expect("an invitation link") + "/invitation/".len();
    body[at..at + body[at..].find('<').unwrap()].to_string()
}

#[tokio::test]
async fn a_manager_adds_a_person_staff_a_partner_and_the_people_around_a_person() {
    let h = Harness::new().await;
    let (mut rm, token) = h.sign_in("staff-rm01").await;
    let page = h.get(&mut rm, "/people").await;
    assert!(page.body.contains("href=\"/people/new\""));
    // Allergies are never left blank: entered, or "none known" ticked.
    let person = |allergies: &'static str, none: &'static str| {
        vec![
            ("_token", token.clone()),
            ("id", "person-new".to_string()),
            ("name", "Nora New".into()),
            ("date_of_birth", "1938-05-06".into()),
            ("nhs_number", "".into()),
            ("address", "3 Mill Lane".into()),
            ("gp_practice", "Mill Lane Surgery".into()),
            ("allergies", allergies.into()),
            ("no_allergies", none.into()),
            ("service", "home care, two visits a day".into()),
            ("account", "yes".into()),
        ]
    };
    let before = h.size();
    let fields = person("", "");
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = h.post(&mut rm, "/people/new", &f, "same-origin").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("href=\"#allergies\""), "{}", a.body);
    assert_eq!(h.size(), before);
    let fields = person("penicillin\n\n", "");
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = h.post(&mut rm, "/people/new", &f, "same-origin").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        kinds(&h.since(before)),
        ["person.registered", "care.started"],
        "registered and in care, together"
    );
    let p = h
        .app
        .ledger
        .read(|s| s.person("person-new").cloned())
        .unwrap()
        .unwrap();
    assert_eq!(p.details.allergies, ["penicillin"]);
    assert!(p.care_active());
    // Their sign-in link works: they set a password and the account is theirs.
    let secret = invitation_in(&a.body);
    let mut nora = Browser::default();
    let page = h.get(&mut nora, &format!("/invitation/{secret}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let files = AuthFiles::open(h.app.ledger.store().dir()).unwrap();
    assert_eq!(files.user("person-new").unwrap().role, Role::Person);
    drop(files);
    // The same ID again: refused by the field, nothing recorded.
    let before = h.size();
    let a = h.post(&mut rm, "/people/new", &f, "same-origin").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("already a user person-new"), "{}", a.body);
    assert_eq!(h.size(), before);

    // A care worker, then a partner, from the users page.
    let a = h
        .post(
            &mut rm,
            "/staff/new",
            &[
                ("_token", &token),
                ("staff_id", "staff-new"),
                ("staff_name", "Nat Newman"),
                ("staff_role", "RegisteredManager"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a manager is the operator's to add"
    );
    assert!(a.body.contains("href=\"#staff_role\""));
    let a = h
        .post(
            &mut rm,
            "/staff/new",
            &[
                ("_token", &token),
                ("staff_id", "staff-new"),
                ("staff_name", "Nat Newman"),
                ("staff_role", "CareWorker"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("/invitation/inv_"));
    let staff = h
        .app
        .ledger
        .read(|s| s.staff.get("staff-new").cloned())
        .unwrap()
        .unwrap();
    assert_eq!(
        (staff.name.as_str(), staff.role),
        ("Nat Newman", Role::CareWorker)
    );
    let a = h
        .post(
            &mut rm,
            "/staff/partners",
            &[
                ("_token", &token),
                ("partner_id", "partner-dc"),
                ("partner_name", "Riverside day centre"),
                ("partner_channel", "Telephone"),
                ("partner_contact", "01632 960000"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(h
        .app
        .ledger
        .read(|s| s.partners.contains("partner-dc"))
        .unwrap());

    // An attorney needs the evidence of authority, by its field; then a family member.
    let rep = |evidence: &'static str| {
        vec![
            ("_token", token.clone()),
            ("kind", "representative".to_string()),
            ("contact_id", "rep-nora-son".into()),
            ("contact_name", "Ned New".into()),
            ("relationship", "LpaHealthWelfare".into()),
            ("evidence", evidence.into()),
        ]
    };
    let fields = rep("");
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = h
        .post(&mut rm, "/people/person-new/contacts", &f, "same-origin")
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("href=\"#evidence\""), "{}", a.body);
    let fields = rep("OPG LPA 7000-1234-5678");
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = h
        .post(&mut rm, "/people/person-new/contacts", &f, "same-origin")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let before = h.size();
    let a = h
        .post(
            &mut rm,
            "/people/person-new/contacts",
            &[
                ("_token", &token),
                ("kind", "family"),
                ("contact_id", "family-nora"),
                ("contact_name", "Nell New"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        h.size(),
        before,
        "a family member is a user, not a ledger entry"
    );
    let files = AuthFiles::open(h.app.ledger.store().dir()).unwrap();
    assert_eq!(files.user("family-nora").unwrap().role, Role::Family);
    assert_eq!(
        files.user("rep-nora-son").unwrap().role,
        Role::Representative
    );
    drop(files);
    let about = h.get(&mut rm, "/people/person-new").await;
    assert!(
        about
            .body
            .contains("Ned New (lasting power of attorney for health and welfare)"),
        "{}",
        about.body
    );

    // A care worker adds no one.
    let (mut cw, ctoken) = h.sign_in("staff-cw01").await;
    assert_eq!(
        h.get(&mut cw, "/people/new").await.status,
        StatusCode::FORBIDDEN
    );
    let a = h
        .post(
            &mut cw,
            "/staff/new",
            &[
                ("_token", &ctoken),
                ("staff_id", "staff-x"),
                ("staff_name", "X"),
                ("staff_role", "CareWorker"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn findings_over_time_start_once_a_day_has_ended() {
    // Every event of this ledger is recorded today (the ledger's clock), so no day has
    // ended in it yet: the page says when the chart starts, and the API has no days.
    // `careledger_web::pages::charts` tests the chart itself, `careledger_care`'s
    // findings tests the tallies.
    let h = Harness::new().await;
    let (mut rm, _) = h.sign_in("staff-rm01").await;
    let page = h.get(&mut rm, "/findings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h2>Findings over time</h2><p>The chart of findings over time starts once a day has ended"), "{}", page.body);
    let rm_principal = careledger_api::auth::Principal {
        id: "staff-rm01".into(),
        role: Role::RegisteredManager,
    };
    let daily = careledger_api::handlers::findings_daily_as(&h.app, &rm_principal).unwrap();
    assert!(daily.days.is_empty());
    let (mut cw, _) = h.sign_in("staff-cw01").await;
    assert_eq!(
        h.get(&mut cw, "/findings").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_person_who_chooses_easy_read_gets_short_sentences_and_it_is_remembered() {
    let h = Harness::new().await;
    let (mut person, token) = h.sign_in("person-a").await;
    let page = h.get(&mut person, "/people/person-a").await;
    assert!(page
        .body
        .contains("You can see all of it, add your own notes"));
    let a = h
        .post(
            &mut person,
            "/display",
            &[
                ("_token", &token),
                ("display", "easy"),
                ("back", "/people/person-a"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = h.get(&mut person, "/people/person-a").await;
    assert!(
        page.body.contains("<body class=\"display-easy\">"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<li>You choose who else can see it.</li>"),
        "{}",
        page.body
    );
    let sharing = h.get(&mut person, "/people/person-a/sharing").await;
    assert!(sharing.body.contains("Let someone see your record"));
    assert!(sharing
        .body
        .contains("Other people can only see what you say here."));
    let looked = h.get(&mut person, "/people/person-a/who-looked").await;
    assert!(looked.body.contains("we write it here"));
    // Remembered for the user: a new sign-in starts in easy read.
    let (mut again, _) = h.sign_in("person-a").await;
    let page = h.get(&mut again, "/people/person-a/daily-notes").await;
    assert!(page.body.contains("Save my note"), "{}", page.body);
}

#[tokio::test]
async fn a_person_agrees_to_share_with_a_partner_and_stops() {
    let h = Harness::new().await;
    h.app
        .append(vec![Command::organisation(
            "staff-rm01",
            now_us(),
            CareEvent::PartnerRegistered(PartnerRegistered {
                partner_id: "partner-dn".into(),
                name: "District nurses".into(),
                agreed_channel: careledger_care::Channel::SecureEmail,
                contact: "dn@nhs.example".into(),
            }),
        )])
        .await
        .unwrap();
    let (mut person, token) = h.sign_in("person-a").await;
    let page = h.get(&mut person, "/people/person-a/sharing").await;
    assert!(
        page.body.contains("District nurses (by secure email)"),
        "{}",
        page.body
    );
    let a = h
        .post(
            &mut person,
            "/people/person-a/sharing/partners",
            &[("_token", &token), ("partner", "partner-dn")],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("href=\"#partner_categories\""));
    let before = h.size();
    let a = h
        .post(
            &mut person,
            "/people/person-a/sharing/partners",
            &[
                ("_token", &token),
                ("partner", "partner-dn"),
                ("partner_categories", "Medicines"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        h.since(before),
        [("sharing.consent".to_string(), "person-a".to_string())]
    );
    let (mut dn, _) = h.sign_in("partner-dn").await;
    let list = h.get(&mut dn, "/people").await;
    assert!(
        list.body
            .contains("<td>person-a</td><td>medicines and allergies</td>"),
        "{}",
        list.body
    );
    // Stopped: the partner no longer lists them, and cannot hand over about them.
    let a = h
        .post(
            &mut person,
            "/people/person-a/sharing/partners/partner-dn/stop",
            &[("_token", &token)],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let list = h.get(&mut dn, "/people").await;
    assert!(
        list.body.contains("Nobody has agreed to share"),
        "{}",
        list.body
    );
    assert_eq!(
        h.get(&mut dn, "/people/person-a/handover").await.status,
        StatusCode::FORBIDDEN
    );
    // Staff do not decide it for the person here.
    let (mut cw, ctoken) = h.sign_in("staff-cw01").await;
    let a = h
        .post(
            &mut cw,
            "/people/person-a/sharing/partners",
            &[
                ("_token", &ctoken),
                ("partner", "partner-dn"),
                ("partner_categories", "Medicines"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_attorney_and_a_deputy_decide_on_their_own_basis_and_a_family_representative_does_not() {
    let h = Harness::new().await;
    let t = now_us();
    let link = |id: &str, relationship, evidence: Option<&str>| {
        Command::about(
            "staff-rm01",
            "person-a",
            t,
            CareEvent::RepresentativeLinked(RepresentativeLinked {
                representative_id: id.into(),
                name: format!("Rep {id}"),
                relationship,
                evidence_of_authority: evidence.map(str::to_string),
                may_contribute: true,
            }),
        )
    };
    h.app
        .append(vec![
            link(
                "rep-lpa",
                careledger_care::Relationship::LpaHealthWelfare,
                Some("OPG 1"),
            ),
            link(
                "rep-deputy",
                careledger_care::Relationship::Deputy,
                Some("COP 12345"),
            ),
            link("rep-son", careledger_care::Relationship::Family, None),
        ])
        .await
        .unwrap();
    let mut files = AuthFiles::open(h.app.ledger.store().dir()).unwrap();
    for id in ["rep-lpa", "rep-deputy", "rep-son"] {
        files
            .add_user(id, Role::Representative, id, now_us())
            .unwrap();
    }
    drop(files);
    h.app.auth.reload();
    for (rep, basis) in [
        (
            "rep-lpa",
            careledger_care::CapacityBasis::LastingPowerOfAttorney,
        ),
        ("rep-deputy", careledger_care::CapacityBasis::CourtDeputy),
    ] {
        let (mut b, token) = h.sign_in(rep).await;
        let page = h.get(&mut b, "/people/person-a/sharing").await;
        assert!(
            page.body.contains("Give someone access"),
            "{rep}: {}",
            page.body
        );
        let before = h.size();
        let a = h
            .post(
                &mut b,
                "/people/person-a/sharing",
                &[
                    ("_token", &token),
                    ("grantee", "family-a"),
                    ("categories", "CarePlan"),
                ],
                "same-origin",
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{rep}: {}", a.body);
        let granted = h
            .app
            .ledger
            .read(|s| {
                s.person("person-a")
                    .unwrap()
                    .grants
                    .values()
                    .filter(|g| g.granted.seq >= before)
                    .map(|g| g.basis)
                    .collect::<Vec<_>>()
            })
            .unwrap();
        assert_eq!(granted, [basis], "{rep}");
    }
    // A family member linked as a representative, without legal authority, does not decide.
    let (mut son, token) = h.sign_in("rep-son").await;
    let page = h.get(&mut son, "/people/person-a/sharing").await;
    assert!(!page.body.contains("Give someone access"), "{}", page.body);
    let a = h
        .post(
            &mut son,
            "/people/person-a/sharing",
            &[
                ("_token", &token),
                ("grantee", "family-a"),
                ("categories", "CarePlan"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_manager_publishes_the_guide_and_sees_which_homes_have_an_older_copy() {
    let h = Harness::new().await;
    let (mut rm, token) = h.sign_in("staff-rm01").await;
    let page = h.get(&mut rm, "/guide").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page
        .body
        .contains("No Service User Guide has been published"));
    assert!(page.body.contains("Publish version 1"));
    // A section with text and no heading is named on its own field; nothing is recorded.
    let before = h.size();
    let a = h
        .post(
            &mut rm,
            "/guide",
            &[
                ("_token", &token),
                ("version", "1"),
                ("title", "Service User Guide"),
                ("heading-1", "About us"),
                ("body-1", "We care for people at home."),
                ("body-2", "Call the office."),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("href=\"#heading-2\""), "{}", a.body);
    assert!(
        a.body.contains("Call the office."),
        "what was typed is kept"
    );
    assert_eq!(h.size(), before);
    let v1 = [
        ("_token", token.as_str()),
        ("version", "1"),
        ("title", "Service User Guide"),
        ("heading-1", "About us"),
        (
            "body-1",
            "We care for people at home.\r\n\r\nOur office opens at 8am.",
        ),
        ("heading-3", "Complaints"),
        ("body-3", "Call the office."),
    ];
    let a = h.post(&mut rm, "/guide", &v1, "same-origin").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let guide = h
        .app
        .ledger
        .read(|s| s.current_guide().cloned())
        .unwrap()
        .unwrap();
    assert_eq!(guide.version, 1);
    let headings: Vec<&str> = guide.sections.iter().map(|s| s.heading.as_str()).collect();
    assert_eq!(
        headings,
        ["About us", "Complaints"],
        "the empty section is left out"
    );
    assert_eq!(
        guide.sections[0].body,
        "We care for people at home.\n\nOur office opens at 8am."
    );
    // The same form again is version 1 again: the care rules' conflict, said on the page.
    let a = h.post(&mut rm, "/guide", &v1, "same-origin").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("the next must be 2"), "{}", a.body);
    let page = h.get(&mut rm, "/guide").await;
    assert!(page.body.contains("version 1, published"), "{}", page.body);
    assert!(page.body.contains("Our office opens at 8am."));
    assert!(
        page.body.contains("1 with no copy recorded"),
        "{}",
        page.body
    );

    // A care worker places a copy in Alice's home: the current version is recorded.
    let (mut cw, ctoken) = h.sign_in("staff-cw01").await;
    let a = h
        .post(
            &mut cw,
            "/people/person-a/paper",
            &[
                ("_token", &ctoken),
                ("document", "ServiceUserGuide"),
                ("format", "StandardPrint"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let copy = h
        .app
        .ledger
        .read(|s| {
            s.person("person-a").and_then(|p| {
                p.paper
                    .get(&careledger_care::Document::ServiceUserGuide)
                    .cloned()
            })
        })
        .unwrap()
        .unwrap();
    assert_eq!(copy.version, Some(1));
    // The care worker reads the guide but cannot publish, on the page or by posting.
    let page = h.get(&mut cw, "/guide").await;
    assert!(page.body.contains("We care for people at home."));
    assert!(!page.body.contains("Publish version") && !page.body.contains("In people's homes"));
    let a = h
        .post(
            &mut cw,
            "/guide",
            &[
                ("_token", &ctoken),
                ("version", "2"),
                ("title", "Mine"),
                ("heading-1", "A"),
                ("body-1", "B"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // Version 2: Alice's copy is now out of date, on the guide page and on her record.
    let mut v2 = v1.to_vec();
    v2[1] = ("version", "2");
    v2[6] = ("body-3", "Call the office or the council.");
    let a = h.post(&mut rm, "/guide", &v2, "same-origin").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = h.get(&mut rm, "/guide").await;
    assert!(
        page.body.contains("1 with an older version"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Alice Able") && page.body.contains("Version 1"));
    let choices = h.get(&mut rm, "/people/person-a/choices").await;
    assert!(
        choices.body.contains("Service User Guide, version 1"),
        "{}",
        choices.body
    );
    assert!(choices.body.contains("Out of date"), "{}", choices.body);
}

/// Prints a short text naming the document and person.
struct EchoPrinter;

impl careledger_api::documents::Documents for EchoPrinter {
    fn person(
        &self,
        _: &Ledger,
        kind: &'static str,
        person: &str,
        format: Option<&'static str>,
        _: u32,
    ) -> Result<careledger_api::documents::Printed, careledger_api::documents::PrintRefused> {
        let format = format.unwrap_or("pdf");
        Ok(careledger_api::documents::Printed {
            bytes: format!("{kind} of {person}").into_bytes(),
            media_type: "application/pdf",
            format,
            file_name: format!("{kind}-{person}.pdf"),
            reference: format!("CL1:{kind}:1:10:abcdefabcdef:{person}"),
            version: Some(1),
            digest: "ab".repeat(32),
        })
    }
    fn report(
        &self,
        _: &Ledger,
        _: &'static str,
        _: Option<&'static str>,
    ) -> Result<careledger_api::documents::Printed, careledger_api::documents::PrintRefused> {
        Err(careledger_api::documents::PrintRefused::Nothing(
            "none".into(),
        ))
    }
    fn guide(
        &self,
        _: &Ledger,
        _: Option<&'static str>,
    ) -> Result<careledger_api::documents::Printed, careledger_api::documents::PrintRefused> {
        Err(careledger_api::documents::PrintRefused::Nothing(
            "none".into(),
        ))
    }
    fn check(
        &self,
        _: &Ledger,
        _: &str,
    ) -> Result<careledger_api::documents::DocumentCheck, careledger_api::documents::PrintRefused>
    {
        Err(careledger_api::documents::PrintRefused::Bad("none".into()))
    }
}

/// A relay that accepts everything.
struct AcceptingRelay;

impl careledger_api::email::Mailer for AcceptingRelay {
    fn domain(&self) -> String {
        "care.example.org".into()
    }
    fn send(&self, _: careledger_api::email::Outgoing) -> careledger_api::email::Sending {
        Box::pin(async {
            Ok(careledger_api::email::Sent {
                answer: "250 2.0.0 Ok: queued as 1".into(),
                attempts: 1,
            })
        })
    }
}

#[tokio::test]
async fn an_address_is_recorded_and_a_document_emailed_from_the_pages() {
    let h = Harness::new().await;
    assert!(h.app.set_documents(Arc::new(EchoPrinter)));
    assert!(h.app.set_mailer(Arc::new(AcceptingRelay)));
    let (mut rm, token) = h.sign_in("staff-rm01").await;
    // Before the person chose email, the daily notes page says so instead of a form.
    let page = h.get(&mut rm, "/people/person-a/daily-notes").await;
    assert!(
        page.body.contains("has not chosen secure email"),
        "{}",
        page.body
    );
    h.app
        .append(vec![Command::about(
            "staff-rm01",
            "person-a",
            now_us(),
            CareEvent::ChoicesDiscussed(ChoicesDiscussed {
                present: vec!["Alice Able".into()],
                options_explained: vec![careledger_care::InfoOption::SecureEmail],
                chosen: vec![careledger_care::InfoOption::SecureEmail],
                told_access_is_free: true,
                notes: String::new(),
            }),
        )])
        .await
        .unwrap();
    let page = h.get(&mut rm, "/people/person-a/daily-notes").await;
    assert!(
        page.body
            .contains("No email address is recorded for anyone who may read it"),
        "{}",
        page.body
    );
    // The address page reads personal details through the gate: one access event.
    let before = h.size();
    let page = h.get(&mut rm, "/people/person-a/email-address").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(kinds(&h.since(before)), ["access.read"]);
    let a = h
        .post(
            &mut rm,
            "/people/person-a/email-address",
            &[
                ("_token", &token),
                ("holder", "person-a"),
                ("address", "alice at home"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("href=\"#address\""), "{}", a.body);
    assert!(a.body.contains("is not an email address"));
    let a = h
        .post(
            &mut rm,
            "/people/person-a/email-address",
            &[
                ("_token", &token),
                ("holder", "person-a"),
                ("address", "alice@example.org"),
            ],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = h.get(&mut rm, "/people/person-a/email-address").await;
    assert!(page.body.contains("alice@example.org"), "{}", page.body);
    // The daily notes page now offers the Email button; pressing it sends.
    let page = h.get(&mut rm, "/people/person-a/daily-notes").await;
    assert!(page.body.contains("Email diary records"), "{}", page.body);
    let before = h.size();
    let a = h
        .post(
            &mut rm,
            "/people/person-a/documents/diary/email",
            &[("_token", &token), ("to-diary", "person-a")],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("alice@example.org"), "{}", a.body);
    for _ in 0..200 {
        if kinds(&h.since(before)).contains(&"email.delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(kinds(&h.since(before)), ["access.read", "email.delivered"]);
    // A care worker sees no Email button and cannot post one.
    let (mut cw, ctoken) = h.sign_in("staff-cw01").await;
    let a = h
        .post(
            &mut cw,
            "/people/person-a/documents/diary/email",
            &[("_token", &ctoken), ("to-diary", "person-a")],
            "same-origin",
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
}
