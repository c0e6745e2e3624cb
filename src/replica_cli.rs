//! `careledger replica` and `careledger promote`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use careledger_api::follower::{self, Follower, Primary};
use careledger_api::{App, Limits};
use careledger_log::NoteVerifier;
use careledger_store::replica::REPLICA_FILE;
use careledger_store::{Store, EVENTS_FILE, KEY_FILE};
use clap::Args;

use crate::cli::{fail, outln, CliError};

#[derive(Args)]
pub struct ReplicaArgs {
    /// The replica's ledger folder: new (it is created from the primary), or one this
    /// command made before.
    #[arg(long, env = "CARELEDGER_DATA")]
    data: PathBuf,
    /// The primary's address, as its `serve` prints it (http://HOST:PORT).
    #[arg(long)]
    primary: String,
    /// A provider admin's token on the primary (a replica holds every record). Better
    /// given in the environment than on the command line.
    #[arg(long, env = "CARELEDGER_PRIMARY_TOKEN", hide_env_values = true)]
    token: String,
    /// The ledger's verifier key, from a source other than the primary (a checkpoint
    /// kept by the council, a backup): a new replica refuses a primary that signs with
    /// another. Without it, a new replica takes the key the primary names.
    #[arg(long, value_name = "VKEY")]
    verifier: Option<String>,
    /// Address to serve reads on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    #[command(flatten)]
    tls: crate::serve_cli::TlsArgs,
    /// No per-request log lines on stderr.
    #[arg(long)]
    quiet: bool,
}

pub fn replica(args: ReplicaArgs) -> Result<(), CliError> {
    let dir = args.data.clone();
    let expected = args
        .verifier
        .as_deref()
        .map(NoteVerifier::parse)
        .transpose()
        .map_err(|e| fail(format!("--verifier: {e}")))?;
    let mut primary = Primary::new(&args.primary, &args.token).map_err(fail)?;
    // Bind first: a busy address is reported before anything is made.
    let listener = std::net::TcpListener::bind(args.listen)
        .map_err(|e| fail(format!("cannot listen on {}: {e}", args.listen)))?;
    listener.set_nonblocking(true)?;
    if dir.join(KEY_FILE).exists() {
        return Err(fail(format!(
            "{} holds a primary's ledger (it has a signing key): a replica follows into a new \
             folder, or one `careledger replica` made",
            dir.display()
        )));
    }
    let tls = args.tls.acceptor()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        if !dir.join(EVENTS_FILE).exists() {
            let header = follower::header_frame(&mut primary)
                .await
                .map_err(|e| fail(format!("cannot start a replica of {}: {e}", args.primary)))?;
            // A sealed primary's replica shares its master key (--master-key, or the file
            // beside the replica's folder).
            let master = crate::cli::master_key_for(&dir)?;
            let verifier = Store::init_replica(
                &dir,
                primary.url(),
                &header,
                expected.as_ref(),
                master.as_deref(),
            )?;
            eprintln!(
                "careledger: {} is a new replica of {} (ledger {verifier})",
                dir.display(),
                primary.url()
            );
        } else if let Some(expected) = &expected {
            let named = careledger_store::events_log::EventsLog::open_read(&dir)
                .ok()
                .and_then(|log| log.read_at(0, None).ok())
                .and_then(|frame| careledger_store::events_log::header_verifier(&frame).ok())
                .map(|(named, _)| named);
            if named.as_deref() != Some(expected.to_string().as_str()) {
                return Err(fail(format!(
                    "the ledger in {} is not signed by --verifier {expected}",
                    dir.display()
                )));
            }
        }
        // The users first, so the same tokens work from the first request; a primary
        // that cannot be reached now is reached later (the replica serves what it has).
        if let Err(e) = follower::copy_auth(&mut primary, &dir, None, true).await {
            let reason = match e {
                follower::Stop::Retry(m) | follower::Stop::Fatal(m) | follower::Stop::Fork(m) => m,
            };
            if !dir.join(careledger_api::auth::AUTH_FILE).exists() {
                return Err(fail(format!(
                    "cannot copy the primary's users: {reason}"
                )));
            }
            eprintln!("careledger: the primary's users could not be copied now ({reason}); using the last copy");
        }
        Ok::<(), CliError>(())
    })?;
    careledger_store::replica::set_primary(&dir, primary.url())?;
    let ledger = crate::care_cli::open_ledger(&dir)?;
    let limits = Limits {
        log_requests: !args.quiet,
        ..Limits::default()
    };
    let forward = Primary::new(&args.primary, &args.token).map_err(fail)?;
    let state = Arc::new(Follower::new(forward));
    let app = App::with_follower(ledger, &dir, limits, Some(state.clone()))?;
    app.set_documents(std::sync::Arc::new(crate::documents::Printer));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let _ = crate::cli::out!(
            "careledger: serving {} read-only, a replica of {}, on {scheme}://{addr}\n",
            dir.display(),
            primary.url()
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let following = tokio::spawn(follower::follow(app.clone(), primary, state));
        // Pages are served by the primary: a browser session is recorded in the ledger,
        // which a replica cannot write.
        let router = careledger_api::router(app.clone());
        crate::serve_cli::serve_until_signal(app, router, listener, tls).await?;
        following.abort();
        let _ = following.await;
        eprintln!("careledger: stopped; every frame taken from the primary is durable");
        Ok::<(), CliError>(())
    })
}

/// `careledger promote --data DIR --signing-key FILE`.
pub fn promote(dir: &std::path::Path, key_file: &std::path::Path) -> Result<(), CliError> {
    if !dir.join(REPLICA_FILE).exists() && dir.join(KEY_FILE).exists() {
        return Err(fail(format!(
            "the ledger at {} is a primary already",
            dir.display()
        )));
    }
    let key = std::fs::read_to_string(key_file)
        .map_err(|e| fail(format!("{}: {e}", key_file.display())))?;
    let verifier = Store::promote(dir, &key)?;
    // Open it once as a primary: every check a primary's open makes, before anyone
    // writes to it.
    let ledger = crate::care_cli::open_ledger(dir)?;
    let size = ledger.store().size();
    drop(ledger);
    outln!(
        "promoted {} to a primary: {size} events, signed by {verifier}",
        dir.display()
    )?;
    outln!(
        "serve it with `careledger serve --data {}`, and point clients and replicas at it",
        dir.display()
    )?;
    Ok(())
}
