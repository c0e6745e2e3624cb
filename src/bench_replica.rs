//! `careledger bench replica`: how far a replica lags its primary under a steady offered
//! load. The primary is a care ledger served over HTTP on loopback; the replica follows
//! it through the same HTTP client and checks as `careledger replica` (both in this
//! process, so on this machine's two cores they compete for CPU, which a primary and a
//! replica on two machines would not). A producer offers care events at a fixed rate,
//! one event per request, as the service's writers do; each event's lag is the time from
//! its acknowledgement by the primary to the moment the replica has it durable.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use careledger_api::follower::{self, Follower, Primary};
use careledger_api::{App, Limits};
use careledger_care::Role;
use careledger_ledger::Ledger;
use careledger_store::{now_us, Store, StoreConfig};

use crate::bench::{care_event, care_setup, percentiles, Scratch};
use crate::cli::{fail, outln, CliError};

/// Events offered before measuring starts (connections, caches and the replica's first
/// round settle).
const WARM_UP: Duration = Duration::from_secs(2);
/// Longest the replica may take to catch up after the producer stops.
const CATCH_UP_MAX: Duration = Duration::from_secs(60);

pub fn run(rate: u64, seconds: u64, dir: Option<&Path>) -> Result<(), CliError> {
    let rate = rate.max(1);
    let pscratch = Scratch::new(dir, "replica-primary")?;
    let rscratch = Scratch::new(dir, "replica-replica")?;
    let (pdir, rdir) = (pscratch.0.clone(), rscratch.0.join("replica"));
    Store::init(&pdir, "bench.careledger/replica")?;
    let primary = Ledger::open(&pdir, StoreConfig::default())?;
    primary.append(care_setup())?;
    let token = {
        let mut files = careledger_api::auth::AuthFiles::open(&pdir)?;
        files.add_user("bench-replica", Role::ProviderAdmin, "bench", now_us())?;
        files.issue("bench-replica", now_us(), None)?.1
    };
    let quiet = Limits {
        log_requests: false,
        ..Limits::default()
    };
    let app = App::new(
        primary.clone(),
        &pdir,
        Limits {
            replicas_allowed: vec!["bench-replica".into()],
            ..quiet.clone()
        },
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}", listener.local_addr()?);
    // The replica, made as `careledger replica` makes it.
    let header = {
        let slice = primary.store().log_slice(0, 0, 1)?;
        let frames = careledger_store::events_log::parse_frames(&slice.bytes, 0).map_err(fail)?;
        slice.bytes[..frames[0].len as usize].to_vec()
    };
    Store::init_replica(&rdir, &url, &header, None, None)?;
    careledger_api::auth::install_copy(&rdir, &careledger_api::auth::copy_files(&pdir)?, true)?;
    let replica = Ledger::open(&rdir, StoreConfig::default())?;
    let state = Arc::new(Follower::new(Primary::new(&url, &token).map_err(fail)?));
    let replica_app = App::with_follower(replica.clone(), &rdir, quiet, Some(state.clone()))?;
    outln!(
        "bench replica: {rate} care events/s offered for {seconds} s (after {} s of warm-up), one event per request; primary and replica in one process",
        WARM_UP.as_secs()
    )?;
    let outcome = runtime.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(careledger_api::serve(app, listener, async {
            let _ = stop_rx.await;
        }));
        let following = tokio::spawn(follower::follow(
            replica_app,
            Primary::new(&url, &token).map_err(fail)?,
            state.clone(),
        ));
        // When the replica's size grew, as it learns of it.
        let seen: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
        let watcher = {
            let (seen, store) = (seen.clone(), replica.store().clone());
            let mut durable = store.durable_watch();
            tokio::spawn(async move {
                while durable.changed().await.is_ok() {
                    seen.lock().unwrap().push((Instant::now(), store.size()));
                }
            })
        };
        // The producer: `rate` events a second, in ticks of a millisecond.
        let acks: Arc<Mutex<Vec<(u64, Instant, Instant)>>> = Arc::default();
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let started = Instant::now();
        let until = started + WARM_UP + Duration::from_secs(seconds);
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut offered = 0u64;
        let mut waiting = Vec::new();
        while Instant::now() < until {
            tick.tick().await;
            let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
            while offered < due {
                let at = Instant::now();
                match primary.submit(vec![care_event(offered, 200)]) {
                    Ok(receiver) => {
                        let (acks, refused) = (acks.clone(), refused.clone());
                        waiting.push(tokio::spawn(async move {
                            match receiver.await {
                                Ok(Ok(receipts)) => {
                                    acks.lock()
                                        .unwrap()
                                        .push((receipts[0].seq, at, Instant::now()))
                                }
                                _ => {
                                    refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                            }
                        }));
                    }
                    Err(_) => {
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                offered += 1;
            }
        }
        let offered_s = started.elapsed().as_secs_f64();
        for w in waiting {
            let _ = w.await;
        }
        let last = primary.store().size();
        let deadline = Instant::now() + CATCH_UP_MAX;
        while replica.store().size() < last && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        following.abort();
        watcher.abort();
        let _ = stop_tx.send(());
        let _ = server.await;
        let acks = std::mem::take(&mut *acks.lock().unwrap());
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        Ok::<_, CliError>((
            acks,
            seen,
            offered,
            offered_s,
            refused.load(std::sync::atomic::Ordering::Relaxed),
            last,
        ))
    })?;
    let (acks, seen, offered, offered_s, refused, last) = outcome;
    let follow_state = state.state();
    if replica.store().size() < last {
        return Err(fail(format!(
            "the replica did not catch up within {CATCH_UP_MAX:?}: {} of {last} events ({follow_state:?})",
            replica.store().size()
        )));
    }
    let measured_from = WARM_UP;
    let t0 = acks.first().map(|a| a.1).unwrap_or_else(Instant::now);
    let mut lag = Vec::new();
    let mut end_to_end = Vec::new();
    let mut ack_latency = Vec::new();
    for &(seq, offered_at, acked_at) in &acks {
        if offered_at.duration_since(t0) < measured_from {
            continue;
        }
        // The first moment the replica held it.
        let i = seen.partition_point(|&(_, size)| size <= seq);
        let Some(&(held_at, _)) = seen.get(i) else {
            return Err(fail(format!("event {seq} never reached the replica")));
        };
        lag.push(held_at.saturating_duration_since(acked_at));
        end_to_end.push(held_at.saturating_duration_since(offered_at));
        ack_latency.push(acked_at.saturating_duration_since(offered_at));
    }
    if lag.is_empty() {
        return Err(fail("no events were measured; run for longer"));
    }
    let measured = lag.len();
    let (lag, end_to_end, ack) = (
        percentiles(lag),
        percentiles(end_to_end),
        percentiles(ack_latency),
    );
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    outln!(
        "offered {offered} events in {offered_s:.1} s ({:.0}/s); acknowledged {}, refused {refused}; the replica holds all {last}",
        offered as f64 / offered_s,
        acks.len()
    )?;
    outln!(
        "primary acknowledgement after offer: p50 {} p90 {} p99 {} max {}",
        ms(ack.p50),
        ms(ack.p90),
        ms(ack.p99),
        ms(ack.max)
    )?;
    outln!(
        "replica lag after the primary's acknowledgement ({measured} events): p50 {} p90 {} p99 {} max {}",
        ms(lag.p50),
        ms(lag.p90),
        ms(lag.p99),
        ms(lag.max)
    )?;
    outln!(
        "offer to durable on the replica: p50 {} p99 {} max {}",
        ms(end_to_end.p50),
        ms(end_to_end.p99),
        ms(end_to_end.max)
    )?;
    outln!(
        "replica rounds that grew it: {}; follower: {}",
        seen.len(),
        match (
            &follow_state.fork,
            &follow_state.stopped,
            &follow_state.error
        ) {
            (Some(f), _, _) => format!("FORK {f}"),
            (_, Some(s), _) => format!("stopped: {s}"),
            (_, _, Some(e)) => format!("last error: {e}"),
            _ => "following, no errors".into(),
        }
    )?;
    Ok(())
}
