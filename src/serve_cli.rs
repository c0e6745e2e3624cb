//! `careledger serve`, `careledger user` and `careledger token`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use careledger_api::auth::AuthFiles;
use careledger_api::{App, Limits};
use careledger_care::{Relationship, Role};
use careledger_store::now_us;
use clap::{Args, Subcommand};

use crate::cli::{fail, outln, CliError, DataDir};

#[derive(Args)]
pub struct ServeArgs {
    /// Ledger directory (with --demo: created and filled if it holds no ledger yet).
    #[arg(long, env = "CARELEDGER_DATA", default_value = "careledger-data")]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Fill a new ledger with a simulated month of home care for 12 people, add one demo
    /// user per role and print a ready token for each.
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    tls: TlsArgs,
    /// No per-request log lines on stderr.
    #[arg(long)]
    quiet: bool,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    body_bytes_max: usize,
    /// Seconds before a request is answered 503.
    #[arg(long, default_value_t = 10)]
    timeout_seconds: u64,
    /// Queries that scan the ledger (auditor queries, findings, the response-time report)
    /// that may run at once; one more is answered 503 with Retry-After. Default: half the
    /// cores, at least one.
    #[arg(long)]
    scans_max: Option<usize>,
    /// Take a backup into this folder every --backup-every, at a checkpoint signed for it,
    /// checked after writing (docs/OPERATIONS.md).
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// How often to back up with --backup-dir: 90s, 30m, 1h, 2d.
    #[arg(long, default_value = "1h", value_parser = crate::backup_schedule::parse_duration)]
    backup_every: std::time::Duration,
    /// How many scheduled backups to keep in --backup-dir; older ones are removed.
    #[arg(long, default_value_t = 24)]
    backup_keep: usize,
    /// A user who may follow this ledger as a replica (`careledger replica`), with their
    /// token; repeatable. A replica holds every record and token hash, so nobody may
    /// unless named here (docs/OPERATIONS.md).
    #[arg(long = "replica", value_name = "USER")]
    replicas: Vec<String>,
    /// Minutes without a request after which a browser session ends (its user signs in
    /// again).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=1440))]
    session_idle_minutes: u64,
    /// Send documents by secure email through the relay this JSON file names (TLS only;
    /// docs/DOCUMENTS.md, "Secure email"). Without it the email route answers 501.
    #[arg(long, value_name = "FILE")]
    email_config: Option<PathBuf>,
}

/// HTTPS for a verb that serves (`serve`, `replica`).
#[derive(Args)]
pub struct TlsArgs {
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The acceptor of the certificate and key given, if they were.
    pub fn acceptor(&self) -> Result<Option<careledger_api::tls::TlsAcceptor>, CliError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(careledger_api::tls::acceptor(cert, key)?)),
            _ => Ok(None),
        }
    }
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user: their id is the principal the ledger records (a staff id, a person's id,
    /// a representative's id...).
    Add {
        #[command(flatten)]
        data: DataDir,
        /// The user's id: the principal the ledger records for what they do.
        id: String,
        /// CareWorker, Coordinator, RegisteredManager, ProviderAdmin, Person, Representative,
        /// Partner, MonitoringOfficer, SocialCareProfessional, Auditor, EmergencyClinician,
        /// Family.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Their name, as `user list` shows it.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Print a one-time link (valid 72 hours) with which the user sets their password
    /// for the pages; a new one replaces none of the old, each works once.
    Invite {
        #[command(flatten)]
        data: DataDir,
        /// The user's id (added with `user add`).
        id: String,
        /// The address the service is reached at, for the link.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base: String,
    },
    /// Revoke a user: their tokens, password and browser sessions stop working within
    /// seconds, and their id cannot be used again.
    Revoke {
        #[command(flatten)]
        data: DataDir,
        /// The user's id.
        id: String,
    },
    /// List users and their roles.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue a bearer token for USER; it is printed once and stored only as a keyed hash.
    Issue {
        #[command(flatten)]
        data: DataDir,
        /// The user's id (added with `user add`).
        user: String,
        /// Days until it expires (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// Revoke a token by its id (the part after `clt_`, before the next `_`) or the token.
    Revoke {
        #[command(flatten)]
        data: DataDir,
        /// The token's id, or the whole token.
        token: String,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
        format!(
            "unknown role {text:?}; one of {}",
            Role::ALL
                .iter()
                .map(|r| serde_json::to_value(r)
                    .map(|v| v.to_string())
                    .unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn require_ledger(dir: &Path) -> Result<(), CliError> {
    if !dir.join(careledger_store::SLED_DIR).exists() {
        return Err(fail(format!(
            "no ledger at {} (run `careledger init` first)",
            dir.display()
        )));
    }
    if dir.join(careledger_store::replica::REPLICA_FILE).exists() {
        return Err(fail(format!(
            "the ledger at {} is a replica: its users and tokens are copied from its primary, \
             so manage them there",
            dir.display()
        )));
    }
    Ok(())
}

pub fn user(what: UserCommand) -> Result<(), CliError> {
    match what {
        UserCommand::Add {
            data,
            id,
            role,
            name,
        } => {
            require_ledger(&data.data)?;
            AuthFiles::open(&data.data)?.add_user(&id, role, &name, now_us())?;
            outln!("added {id} ({})", role.name())?;
        }
        UserCommand::Invite { data, id, base } => {
            require_ledger(&data.data)?;
            let secret = AuthFiles::open(&data.data)?.invite(
                &id,
                careledger_api::auth::InvitationKind::SetPassword,
                "cli",
                now_us(),
                careledger_api::auth::INVITATION_VALID_US,
            )?;
            outln!("{}/invitation/{secret}", base.trim_end_matches('/'))?;
            eprintln!("careledger: send this link to {id} only; it sets their password once, within 72 hours");
        }
        UserCommand::Revoke { data, id } => {
            require_ledger(&data.data)?;
            let tokens = AuthFiles::open(&data.data)?.revoke_user(&id, now_us())?;
            outln!("revoked {id}: {tokens} tokens, their password and their sessions")?;
        }
        UserCommand::List { data } => {
            require_ledger(&data.data)?;
            for (id, u) in AuthFiles::open(&data.data)?.users() {
                outln!("{id}\t{}\t{}", role_name(u.role), u.name)?;
            }
        }
    }
    Ok(())
}

fn role_name(role: Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn token(what: TokenCommand) -> Result<(), CliError> {
    match what {
        TokenCommand::Issue {
            data,
            user,
            expires_days,
        } => {
            require_ledger(&data.data)?;
            let now = now_us();
            let expires = expires_days.map(|d| now + i64::from(d) * careledger_care::DAY_US);
            let (_, token) = AuthFiles::open(&data.data)?.issue(&user, now, expires)?;
            outln!("{token}")?;
        }
        TokenCommand::Revoke { data, token } => {
            require_ledger(&data.data)?;
            let id = AuthFiles::open(&data.data)?.revoke(&token, now_us())?;
            outln!("revoked token {id}")?;
        }
    }
    Ok(())
}

/// Fills a new demo ledger (if `dir` holds none) and returns (role, user id) for one demo
/// user per role.
fn demo(dir: &Path) -> Result<Vec<(Role, String)>, CliError> {
    if !dir.join(careledger_store::SLED_DIR).exists() {
        eprintln!("careledger: simulating a month of home care for the demo...");
        let (_, report) = crate::demo::fill(dir)?;
        eprintln!(
            "careledger: {} events written to {}, encrypted at rest; the demo keeps its \
             master key beside it, at {} (a real ledger keeps it away from the ledger's disk \
             and backups)",
            report.events,
            dir.display(),
            crate::cli::master_key_path(dir).display()
        );
    }
    let ledger = crate::care_cli::open_ledger(dir)?;
    let (representative, partner) = ledger.read(|s| {
        let rep = s.people.iter().find_map(|(_, p)| {
            p.representatives
                .iter()
                .find(|(_, r)| {
                    r.relationship == Relationship::LpaHealthWelfare
                        && r.evidence_of_authority.is_some()
                })
                .map(|(id, _)| id.clone())
        });
        let partner = s.partners.iter().next().map(|(id, _)| id.clone());
        (rep, partner)
    })?;
    drop(ledger);
    let mut users = vec![
        (Role::CareWorker, "staff-cw01".to_string()),
        (Role::Coordinator, "staff-co01".into()),
        (Role::RegisteredManager, "staff-rm01".into()),
        (Role::ProviderAdmin, "staff-pa01".into()),
        (Role::Person, "person-0001".into()),
    ];
    users.extend(representative.map(|r| (Role::Representative, r)));
    users.extend(partner.map(|p| (Role::Partner, p)));
    users.extend([
        (Role::MonitoringOfficer, "council-mo01".into()),
        (Role::SocialCareProfessional, "council-scp01".into()),
        (Role::Auditor, "auditor-01".into()),
        (Role::EmergencyClinician, "clinician-01".into()),
        // Not a legal representative: sees only what person-0001 lets them see.
        (Role::Family, "family-0001".into()),
    ]);
    Ok(users)
}

/// The shell variable `serve --demo` puts a role's token in (the names docs/API.md uses).
fn token_variable(role: Role) -> &'static str {
    match role {
        Role::CareWorker => "CW",
        Role::Coordinator => "CO",
        Role::RegisteredManager => "RM",
        Role::ProviderAdmin => "PA",
        Role::Person => "PERSON",
        Role::Representative => "REP",
        Role::Partner => "PARTNER",
        Role::MonitoringOfficer => "MO",
        Role::SocialCareProfessional => "SCP",
        Role::Auditor => "AUD",
        Role::EmergencyClinician => "CLIN",
        Role::Family => "FAMILY",
    }
}

/// What `serve` prints once it listens on `base` (`http://127.0.0.1:8080`): where, and for
/// `serve --demo` the demo tokens (role, user id, token), the same as shell lines to paste
/// (`export CW=clt_...`) and requests to try that use them.
fn banner(dir: &Path, base: &str, tokens: &[(Role, String, String, String)]) -> String {
    use std::fmt::Write;
    let mut b = String::new();
    let _ = writeln!(b, "careledger: serving {} on {base}", dir.display());
    if tokens.is_empty() {
        return b;
    }
    let _ = writeln!(
        b,
        "\nopen careledger in a browser: one sign-in link per role (valid 24 hours, demo only):"
    );
    for (role, id, _, link) in tokens {
        let _ = writeln!(b, "  {:<26} {:<28} {base}/demo/{link}", role.name(), id);
    }
    let _ = writeln!(
        b,
        "\ndemo tokens for the API (valid 24 hours; one per role):"
    );
    for (role, id, token, _) in tokens {
        let _ = writeln!(b, "  {:<26} {:<28} {token}", role.name(), id);
    }
    let names: Vec<&str> = tokens
        .iter()
        .map(|(r, _, _, _)| token_variable(*r))
        .collect();
    let (last, rest) = names.split_last().expect("tokens is not empty");
    let explained = format!(
        "to use them from a shell, paste these lines: B is the address, and {} and {last} \
         hold the tokens of the roles above, in that order:",
        rest.join(", ")
    );
    let _ = writeln!(b);
    for line in wrap(&explained, 90) {
        let _ = writeln!(b, "{line}");
    }
    let _ = writeln!(b, "  export B={base}");
    for ((_, _, token, _), name) in tokens.iter().zip(&names) {
        let _ = writeln!(b, "  export {name}={token}");
    }
    let _ = writeln!(b, "\ntry:");
    let _ = writeln!(b, "  curl -H \"Authorization: Bearer $CW\" $B/v1/me");
    if let Some((_, id, _, _)) = tokens.iter().find(|(r, _, _, _)| *r == Role::Person) {
        for section in ["care-plan", "access-log"] {
            let _ = writeln!(
                b,
                "  curl -H \"Authorization: Bearer $PERSON\" $B/v1/people/{id}/{section}"
            );
        }
    }
    let _ = writeln!(b, "  curl $B/v1/ledger/checkpoint");
    let _ = writeln!(b, "  curl $B/openapi.json\n");
    b
}

/// `text`'s words in lines of at most `width` characters (a longer word has a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// Serves `app` on `listener`, over TLS with `tls`, until SIGTERM or Ctrl-C.
pub async fn serve_until_signal(
    app: App,
    router: careledger_api::Router,
    listener: tokio::net::TcpListener,
    tls: Option<careledger_api::tls::TlsAcceptor>,
) -> std::io::Result<()> {
    match tls {
        Some(acceptor) => {
            careledger_api::serve_router(
                app,
                router,
                careledger_api::tls::TlsListener::new(listener, acceptor),
                careledger_api::shutdown_signal(),
            )
            .await
        }
        None => {
            careledger_api::serve_router(app, router, listener, careledger_api::shutdown_signal())
                .await
        }
    }
}

pub fn serve(args: ServeArgs) -> Result<(), CliError> {
    let dir = args.data.clone();
    // Bind first: a busy address is reported before any demo ledger or token is made.
    let listener = std::net::TcpListener::bind(args.listen)
        .map_err(|e| fail(format!("cannot listen on {}: {e}", args.listen)))?;
    listener.set_nonblocking(true)?;
    let demo_users = if args.demo { Some(demo(&dir)?) } else { None };
    if dir.join(careledger_store::replica::REPLICA_FILE).exists() {
        return Err(fail(format!(
            "the ledger at {} is a replica: follow its primary with `careledger replica`, or \
             make it the primary with `careledger promote` (docs/OPERATIONS.md)",
            dir.display()
        )));
    }
    require_ledger(&dir)?;
    let tokens = match &demo_users {
        Some(users) => {
            let mut files = AuthFiles::open(&dir)?;
            let known: Vec<String> = files.users().map(|(id, _)| id.clone()).collect();
            let mut tokens = Vec::new();
            for (role, id) in users {
                if !known.contains(id) {
                    let name = if *role == Role::Family {
                        "Jo Carter"
                    } else {
                        "demo user"
                    };
                    files.add_user(id, *role, name, now_us())?;
                }
                // Each demo start replaces the demo users' tokens rather than piling them up.
                files.revoke_all(id, now_us())?;
                let (_, token) =
                    files.issue(id, now_us(), Some(now_us() + careledger_care::DAY_US))?;
                let link = files.invite(
                    id,
                    careledger_api::auth::InvitationKind::DemoSignIn,
                    "serve --demo",
                    now_us(),
                    careledger_care::DAY_US,
                )?;
                tokens.push((*role, id.clone(), token, link));
            }
            tokens
        }
        None => Vec::new(),
    };
    let tls = args.tls.acceptor()?;
    // Checked before the ledger opens: a configuration that cannot be used is said at once.
    let relay = args
        .email_config
        .as_deref()
        .map(crate::email::Relay::open)
        .transpose()?;
    let ledger = crate::care_cli::open_ledger(&dir)?;
    let defaults = Limits::default();
    let limits = Limits {
        body_bytes_max: args.body_bytes_max,
        request_timeout: std::time::Duration::from_secs(args.timeout_seconds.max(1)),
        log_requests: !args.quiet,
        scans_max: args.scans_max.unwrap_or(defaults.scans_max).max(1),
        replicas_allowed: args.replicas.clone(),
        ..defaults
    };
    let app = App::new(ledger, &dir, limits)?;
    app.set_documents(std::sync::Arc::new(crate::documents::Printer));
    if let Some(relay) = relay {
        tracing::info!(relay = %relay.describe(), "secure email through the configured relay");
        app.set_mailer(std::sync::Arc::new(relay));
    }
    let web = std::sync::Arc::new(careledger_web::Web::open(
        &dir,
        std::time::Duration::from_secs(args.session_idle_minutes * 60),
        tls.is_some(),
    )?);
    // Scheduled backups, on their own thread, stopped when the service stops.
    let (stop_backups, backups_stop) = std::sync::mpsc::channel::<()>();
    let backups = match &args.backup_dir {
        Some(backup_dir) => {
            std::fs::create_dir_all(backup_dir)
                .map_err(|e| fail(format!("{}: {e}", backup_dir.display())))?;
            let store = app.ledger.store().clone();
            let (backup_dir, every, keep) =
                (backup_dir.clone(), args.backup_every, args.backup_keep);
            Some(
                std::thread::Builder::new()
                    .name("careledger-backups".into())
                    .spawn(move || {
                        crate::backup_schedule::run(store, backup_dir, every, keep, backups_stop)
                    })?,
            )
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{addr}");
        // Best effort: a reader that closed our output (`serve | head -1`) does not stop
        // the service, whose request log goes to stderr.
        let _ = crate::cli::out!("{}", banner(&dir, &base, &tokens));
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let router =
            careledger_api::routes::router_with(app.clone(), careledger_web::router(web.clone()));
        let sweeper = tokio::spawn(careledger_web::sweep(app.clone(), web));
        serve_until_signal(app, router, listener, tls).await?;
        sweeper.abort();
        drop(stop_backups);
        if let Some(backups) = backups {
            // A backup in progress finishes first; the ledger closes after it.
            let _ = backups.join();
        }
        eprintln!("careledger: stopped; every acknowledged append is durable");
        Ok::<(), CliError>(())
    })
}
