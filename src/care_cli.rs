//! The care verbs: `simulate`, `findings`, `person`, `requests`, `rebuild`, and typed
//! `append`. Output is plain text for people (a monitoring officer, a manager).

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use careledger_care::findings::{duration, findings, person_findings_at, Finding};
use careledger_care::sla::{sla_state, SlaState};
use careledger_care::state::{format_time, PersonState};
use careledger_care::{CareEvent, State};
use careledger_ledger::{Command, Ledger, LedgerError};
use careledger_sim::SimConfig;
use careledger_store::{Store, StoreConfig};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::cli::{fail, out, outln, CliError};
use crate::progress::Progress;

pub fn open_ledger(dir: &Path) -> Result<Ledger, CliError> {
    open_ledger_with(dir, crate::cli::store_config_for(dir)?)
}

/// [`open_ledger`] with these settings.
pub fn open_ledger_with(dir: &Path, config: StoreConfig) -> Result<Ledger, CliError> {
    let mut progress = Progress::new("catching up projections");
    let ledger =
        Ledger::open_with_progress(dir, config, |done, total| progress.update(done, total))?;
    progress.finish();
    Ok(ledger)
}

/// Settings for writing a simulated history: recorded-at follows the simulation's clock.
pub fn simulated_clock(dir: &Path) -> Result<StoreConfig, CliError> {
    Ok(StoreConfig {
        clock: careledger_store::Clock::Simulated,
        ..crate::cli::store_config_for(dir)?
    })
}

fn now_us() -> i64 {
    careledger_store::now_us()
}

/// Today's date, UTC.
pub fn today() -> NaiveDate {
    DateTime::from_timestamp_micros(now_us())
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

fn parse_time(what: &str, text: &str) -> Result<i64, CliError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
        .map_err(|e| fail(format!("{what} {text:?} is not an RFC 3339 time ({e})")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputCommand {
    actor: String,
    subject: Option<String>,
    kind: String,
    occurred_at: String,
    payload: serde_json::Value,
}

/// Parses JSON lines into care commands; a bad line fails the whole input, naming its line.
pub fn parse_commands(input: impl BufRead, max: usize) -> Result<Vec<Command>, CliError> {
    let mut commands = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let number = i + 1;
        let line = line.map_err(|e| fail(format!("line {number}: {e}")))?;
        // A byte-order mark (a file saved by some Windows editors) is not part of the JSON.
        let line = match (number, line.strip_prefix('\u{feff}')) {
            (1, Some(rest)) => rest.to_string(),
            _ => line,
        };
        if line.trim().is_empty() {
            continue;
        }
        if commands.len() == max {
            return Err(fail(format!(
                "input holds more than {max} events; split it into smaller files"
            )));
        }
        careledger_care::input::unique_keys(&mut serde_json::Deserializer::from_str(&line))
            .map_err(|e| fail(format!("line {number}: {e}")))?;
        let input: InputCommand =
            serde_json::from_str(&line).map_err(|e| fail(format!("line {number}: {e}")))?;
        let occurred_at_us = parse_time("occurred_at", &input.occurred_at)
            .map_err(|e| fail(format!("line {number}: {}", e.message)))?;
        careledger_log::envelope::check_fields(&input.actor, input.subject.as_deref(), &input.kind)
            .map_err(|e| fail(format!("line {number}: {e}")))?;
        let event = CareEvent::deserialize_kind(&input.kind, input.payload).map_err(|e| {
            let known = if CareEvent::scope_of(&input.kind).is_none() {
                format!(" (known kinds: {})", CareEvent::KINDS.join(", "))
            } else {
                String::new()
            };
            fail(format!("line {number}: {}: {e}{known}", input.kind))
        })?;
        commands.push(Command {
            actor: input.actor,
            subject: input.subject,
            occurred_at_us,
            event,
        });
    }
    Ok(commands)
}

pub fn append(dir: &Path, file: Option<&Path>) -> Result<(), CliError> {
    let ledger = open_ledger(dir)?;
    let max = ledger.store().config().request_events_max;
    let commands = match file {
        Some(path) => {
            let f =
                std::fs::File::open(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
            parse_commands(std::io::BufReader::new(f), max)?
        }
        None => parse_commands(std::io::stdin().lock(), max)?,
    };
    if commands.is_empty() {
        return Err(fail("no events in the input"));
    }
    // Line numbers, for naming a refused event.
    let receipts = ledger.append(commands).map_err(|e| match e {
        LedgerError::Refused { index, error } => fail(format!(
            "event {} (counting non-empty lines) refused: {error}; nothing was appended",
            index + 1
        )),
        other => CliError::from(other),
    })?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for r in receipts {
        writeln!(out, "{}", r.seq)?;
    }
    out.flush()?;
    Ok(())
}

pub struct SimulateArgs {
    pub people: u32,
    pub days: u32,
    pub seed: u64,
    pub end: Option<NaiveDate>,
}

pub fn simulate(dir: &Path, args: SimulateArgs) -> Result<(), CliError> {
    if args.people == 0 || args.people > 100_000 {
        return Err(fail("--people must be between 1 and 100000"));
    }
    if args.days == 0 || args.days > 3_650 {
        return Err(fail("--days must be between 1 and 3650"));
    }
    if !dir.join(careledger_store::SLED_DIR).exists() {
        let (master, made) = crate::cli::init_master_key(dir)?;
        Store::init_sealed(dir, "simulated.careledger.local/home-care", &master)?;
        // Said on stderr: stdout is the simulation's report and checkpoint.
        eprintln!(
            "careledger: {} master key {} (keep it outside the ledger's folder and its backups)",
            if made { "new" } else { "existing" },
            crate::cli::master_key_path(dir).display()
        );
    }
    // A simulated history is recorded as it happens, on its own clock.
    let ledger = open_ledger_with(dir, simulated_clock(dir)?)?;
    if ledger.store().size() > 0 {
        return Err(fail(format!(
            "{} already holds {} events; simulate writes a history into a new ledger",
            dir.display(),
            ledger.store().size()
        )));
    }
    let end = args.end.unwrap_or_else(today);
    let config = SimConfig {
        people: args.people,
        days: args.days,
        seed: args.seed,
        end,
    };
    let started = std::time::Instant::now();
    let mut progress = Progress::new("simulating");
    let report = careledger_sim::run(&ledger, config, |_, _, events| {
        progress.update(events, events)
    })
    .map_err(|e| {
        fail(format!(
            "the simulator wrote an event the rules refuse: {e}"
        ))
    })?;
    progress.finish();
    let checkpoint = ledger.store().checkpoint_now()?;
    let secs = started.elapsed().as_secs_f64();
    outln!(
        "simulated {} people over {} days ending {end}: {} events in {secs:.1} s ({:.0} events/s)",
        args.people,
        report.days,
        report.events,
        report.events as f64 / secs
    )?;
    out!("{checkpoint}")?;
    Ok(())
}

pub fn rebuild(dir: &Path) -> Result<(), CliError> {
    // Only a ledger that verifies is rebuilt from: the derived state is removed after.
    let master = crate::cli::master_key_for(dir)?;
    Store::verify_dir_at(dir, master.as_deref(), &[], |_, _| {}).map_err(|e| match e {
        careledger_store::VerifyFailure::Store(e) => CliError::from(e),
        other => CliError {
            message: format!("verification failed, nothing was rebuilt: {other}"),
            code: crate::cli::EXIT_VERIFY_FAILED,
        },
    })?;
    let removed = Store::drop_derived(dir)?;
    let started = std::time::Instant::now();
    let ledger = open_ledger(dir)?;
    let secs = started.elapsed().as_secs_f64();
    let events = ledger.store().projection_replayed();
    drop(ledger);
    let now = careledger_store::bytes_text(careledger_store::dir_bytes(
        &dir.join(careledger_store::SLED_DIR),
    ));
    outln!(
        "removed the derived state ({}); rebuilt it from {events} events in {secs:.2} s ({:.0} events/s); it now takes {now}",
        careledger_store::bytes_text(removed),
        events as f64 / secs.max(1e-9)
    )?;
    Ok(())
}

fn print_findings(out: &mut impl Write, list: &[Finding]) -> std::io::Result<()> {
    for f in list {
        let evidence: Vec<String> = f.evidence.iter().map(u64::to_string).collect();
        writeln!(
            out,
            "{:<24} {:<12} since {}  {}  [events {}]",
            f.rule.id(),
            f.person.as_deref().unwrap_or("(provider)"),
            format_time(f.since_us),
            f.message,
            evidence.join(", ")
        )?;
    }
    Ok(())
}

pub fn findings_cmd(dir: &Path, person: Option<&str>, at: Option<&str>) -> Result<(), CliError> {
    let now = match at {
        Some(t) => parse_time("--at", t)?,
        None => now_us(),
    };
    let ledger = open_ledger(dir)?;
    let judge = |s: &careledger_care::State| match person {
        Some(p) => s
            .person(p)
            .map(|_| person_findings_at(s, p, now))
            .ok_or_else(|| fail(format!("{p} is not registered in this ledger as of then"))),
        None => Ok(findings(s, now)),
    };
    // As of an earlier time: the state from the events recorded by then, not today's
    // state judged by that time's clock.
    let size = ledger.store().size();
    let recorded_after = match size {
        0 => false,
        n => {
            ledger
                .store()
                .get(n - 1)
                .map_err(|e| fail(e.to_string()))?
                .envelope
                .recorded_at_us
                > now
        }
    };
    let (list, events) = if recorded_after {
        let as_of = ledger
            .state_as_of(now, u64::MAX)
            .map_err(|e| fail(e.to_string()))?;
        (judge(&as_of.state)?, as_of.events)
    } else {
        (ledger.read(judge)??, size)
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &list {
        *by_rule.entry(f.rule.id()).or_default() += 1;
    }
    writeln!(
        out,
        "{} findings at {} (as of the {events} events recorded by then; {size} in the ledger)",
        list.len(),
        format_time(now),
    )?;
    for (rule, n) in &by_rule {
        writeln!(out, "  {rule}: {n}")?;
    }
    writeln!(out)?;
    print_findings(&mut out, &list)?;
    out.flush()?;
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn person_text(
    s: &State,
    id: &str,
    p: &PersonState,
    now: i64,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let d = &p.details;
    if let Some(flag) = p.ais_flag() {
        writeln!(out, "!! ACCESSIBLE INFORMATION: {flag}")?;
    }
    writeln!(out, "{id}: {}, born {}", d.name, d.date_of_birth)?;
    writeln!(
        out,
        "  NHS number {}; GP {}; allergies: {}",
        d.nhs_number.as_deref().unwrap_or("not recorded"),
        d.gp_practice,
        if d.allergies.is_empty() {
            "none known".to_string()
        } else {
            d.allergies.join(", ")
        }
    )?;
    let care = match (p.care_started, p.care_ended) {
        (Some(s), None) => format!("receiving care since {}", format_time(s.occurred_at_us)),
        (Some(_), Some(e)) => format!("care ended {}", format_time(e.occurred_at_us)),
        _ => "registered, care not started".into(),
    };
    writeln!(out, "  {care}")?;
    for (rid, r) in &p.representatives {
        writeln!(
            out,
            "  representative {rid}: {:?}{}{}",
            r.relationship,
            r.evidence_of_authority
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
            if r.may_contribute {
                ", may add entries"
            } else {
                ""
            }
        )?;
    }
    writeln!(out, "\nCare plan")?;
    match &p.plan {
        Some(plan) => {
            writeln!(
                out,
                "  version {} published {} [event {}]; next review {}",
                plan.version,
                format_time(plan.published.occurred_at_us),
                plan.published.seq,
                plan.next_review_date
            )?;
            let versions: Vec<String> = p
                .plan_versions
                .iter()
                .map(|(v, st)| format!("v{v} [event {}]", st.seq))
                .collect();
            writeln!(out, "  history: {}", versions.join(", "))?;
        }
        None => writeln!(out, "  none")?,
    }
    writeln!(out, "\nMedicines (MAR revision {})", p.mar_revision)?;
    for (mid, m) in &p.medicines {
        let status = match m.stopped {
            Some(st) => format!("stopped {}", format_time(st.occurred_at_us)),
            None => "active".into(),
        };
        writeln!(
            out,
            "  {mid}: {} {} {}, {} {} ({status}); given {}, not given {}; last given {}",
            m.details.name,
            m.details.strength,
            m.details.formulation,
            m.details.dose,
            m.details.frequency,
            m.given,
            m.not_given,
            m.last_given
                .map(|l| format_time(l.occurred_at_us))
                .unwrap_or_else(|| "never".into())
        )?;
    }
    writeln!(out, "\nInformation choices")?;
    match &p.last_discussion {
        Some(disc) => writeln!(
            out,
            "  {} discussions; last {} [event {}]: present {}; explained {:?}; chose {:?}; told access is free: {}",
            p.counts.discussions,
            format_time(disc.stamp.occurred_at_us),
            disc.stamp.seq,
            disc.present.join(", "),
            disc.options_explained,
            disc.chosen,
            yes_no(disc.told_access_is_free)
        )?,
        None => writeln!(out, "  no choices discussion recorded")?,
    }
    if let Some((who, st)) = &p.paper_declined {
        writeln!(
            out,
            "  paper copies declined by {who} on {} [event {}]",
            format_time(st.occurred_at_us),
            st.seq
        )?;
    }
    for (doc, copy) in &p.paper {
        let current = match doc {
            careledger_care::Document::CarePlan => {
                Some(copy.version == p.plan.as_ref().map(|pl| pl.version))
            }
            careledger_care::Document::Mar => Some(copy.version == Some(p.mar_revision)),
            _ => None,
        };
        writeln!(
            out,
            "  paper {} in the home: version {}, {}, placed {} [event {}]{}",
            doc.name(),
            copy.version.map_or("-".into(), |v| v.to_string()),
            copy.format.name(),
            format_time(copy.stamp.occurred_at_us),
            copy.stamp.seq,
            match current {
                Some(true) => " (current)",
                Some(false) => " (OUT OF DATE)",
                None => "",
            }
        )?;
    }
    writeln!(out, "\nWho may see what")?;
    for (gid, g) in &p.grants {
        let state = match (g.revoked, g.expires_at_us) {
            (Some(r), _) => format!("revoked {}", format_time(r.occurred_at_us)),
            (None, Some(t)) if t <= now => format!("expired {}", format_time(t)),
            (None, Some(t)) => format!("until {}", format_time(t)),
            (None, None) => "no expiry".into(),
        };
        writeln!(
            out,
            "  grant {gid}: {:?} may see {} for {}, decided by {} ({state}) [event {}]",
            g.grantee,
            g.categories
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", "),
            g.purpose.name(),
            g.decided_by,
            g.granted.seq
        )?;
    }
    for (partner, c) in &p.sharing {
        writeln!(
            out,
            "  sharing with {partner}: {} ({}) [event {}]",
            if c.given { "consented" } else { "refused" },
            c.categories
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", "),
            c.stamp.seq
        )?;
    }
    for e in &p.emergencies {
        writeln!(
            out,
            "  EMERGENCY ACCESS by {} ({}) at {}: {} [event {}] (flagged for review)",
            e.principal,
            e.role.name(),
            format_time(e.stamp.occurred_at_us),
            e.reason,
            e.stamp.seq
        )?;
    }
    let c = &p.counts;
    writeln!(
        out,
        "\nActivity: {} visits, {} tasks ({} not done), {} staff notes, {} entries by the person or family, {} administrations, {} incidents, {} observations, {} back-entered from paper",
        c.visits, c.tasks, c.tasks_not_done, c.notes_by_staff, c.contributions, c.administrations, c.incidents, c.observations, c.back_entries
    )?;
    writeln!(
        out,
        "Record opened {} times, refused {} times",
        c.reads, c.refusals
    )?;
    let list = person_findings_at(s, id, now);
    writeln!(out, "\nFindings: {}", list.len())?;
    print_findings(out, &list)?;
    Ok(())
}

pub fn person(dir: &Path, id: &str, looked: usize) -> Result<(), CliError> {
    let ledger = open_ledger(dir)?;
    let now = now_us();
    let mut out = BufWriter::new(std::io::stdout().lock());
    ledger.read(|s| -> Result<(), CliError> {
        let p = s
            .person(id)
            .ok_or_else(|| fail(format!("{id} is not registered in this ledger")))?;
        person_text(s, id, p, now, &mut out)?;
        Ok(())
    })??;
    // Who looked: from the log itself, newest last.
    let kinds = ["access.read", "access.refused", "access.emergency"];
    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let page = ledger.history(id, from, careledger_ledger::HISTORY_PAGE_MAX, |k| {
            kinds.contains(&k)
        })?;
        let Some(last) = page.last() else { break };
        from = last.envelope.seq + 1;
        seen.extend(page);
        if seen.len() > looked {
            seen.drain(..seen.len() - looked);
        }
    }
    writeln!(out, "\nWho looked (latest {}):", seen.len())?;
    for r in &seen {
        let what = match &r.event {
            Some(CareEvent::RecordAccessed(a)) => format!(
                "read {} for {} as {}",
                a.categories
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                a.purpose.name(),
                a.role.name()
            ),
            Some(CareEvent::AccessRefused(a)) => format!("REFUSED: {}", a.reason),
            Some(CareEvent::EmergencyAccess(a)) => format!("EMERGENCY ACCESS: {}", a.reason),
            _ => r.envelope.kind.clone(),
        };
        writeln!(
            out,
            "  {}  {}  {what} [event {}]",
            format_time(r.envelope.occurred_at_us),
            r.envelope.actor,
            r.envelope.seq
        )?;
    }
    out.flush()?;
    Ok(())
}

pub fn requests(dir: &Path) -> Result<(), CliError> {
    let ledger = open_ledger(dir)?;
    let now = now_us();
    let mut out = BufWriter::new(std::io::stdout().lock());
    ledger.read(|s| -> std::io::Result<()> {
        let mut late = 0;
        let mut on_time = 0;
        writeln!(
            out,
            "{:<14} {:<14} {:<21} {:<21} {:<21} {:<28} events",
            "request", "from", "received", "due", "responded", "state"
        )?;
        for (id, r) in s.requests.iter() {
            let state = match sla_state(r, now) {
                SlaState::DueIn(left) => format!("open, due in {}", duration(left)),
                SlaState::Warned(left) => format!("open, WARNED, due in {}", duration(left)),
                SlaState::Breached => "BREACHED, unanswered".into(),
                SlaState::Responded { late: l, took_us } => {
                    if l {
                        late += 1;
                    } else {
                        on_time += 1;
                    }
                    format!(
                        "answered in {}{}",
                        duration(took_us),
                        if l { ", LATE" } else { "" }
                    )
                }
                SlaState::Withdrawn => "withdrawn".into(),
            };
            let mut events = vec![r.received.seq];
            events.extend(r.acknowledged.map(|x| x.seq));
            events.extend(r.warned.map(|x| x.seq));
            events.extend(r.breached.map(|x| x.seq));
            events.extend(r.responded.map(|x| x.seq));
            writeln!(
                out,
                "{:<14} {:<14} {:<21} {:<21} {:<21} {:<28} {}",
                id,
                r.requester,
                format_time(r.received_at_us),
                format_time(r.due_at_us),
                r.responded
                    .map(|x| format_time(x.occurred_at_us))
                    .unwrap_or_else(|| "-".into()),
                state,
                events
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            )?;
        }
        writeln!(
            out,
            "\n{} requests: {on_time} answered on time, {late} late. Prove any line with `careledger prove inclusion --seq N`.",
            s.requests.len()
        )?;
        Ok(())
    })??;
    out.flush()?;
    Ok(())
}
