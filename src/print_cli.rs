//! `careledger print` and `careledger check-document`: the documents of crates/print,
//! gathered from a ledger and written to a file, and the check of a printed copy's
//! reference against the ledger.

use std::path::Path;

use careledger_ledger::{Ledger, HISTORY_PAGE_MAX};
use careledger_print::{Checkpoint, Entry, Format, Kind, Period, Reference, Request};

use crate::care_cli::open_ledger;
use crate::cli::{fail, outln, CliError, EXIT_ERROR, EXIT_VERIFY_FAILED};

/// Kinds of event a person's documents read.
const DOCUMENT_KINDS: &[&str] = &[
    "careplan.published",
    "mar.administration",
    "diary.note",
    "incident.recorded",
    "observation.recorded",
    "outage.back_entered",
];

/// The signed checkpoint covering the whole ledger (signing one if the log grew), as the
/// print crate reads it: its time is when its last event was recorded.
pub fn checkpoint(ledger: &Ledger) -> Result<Checkpoint, CliError> {
    let store = ledger.store();
    let note = match store.checkpoint_now() {
        Ok(note) => note,
        // A replica signs nothing: it prints from the newest checkpoint it holds.
        Err(careledger_store::AppendError::Replica { .. }) => store
            .latest_checkpoint()?
            .ok_or_else(|| fail("this replica holds no signed checkpoint yet"))?,
        Err(e) => return Err(e.into()),
    };
    let c = careledger_log::checkpoint::Checkpoint::open(&note, store.verifier())
        .map_err(|e| fail(format!("the ledger's checkpoint does not verify: {e}")))?;
    if c.size == 0 {
        return Err(fail("the ledger is empty: there is nothing to print"));
    }
    let at_us = store.get(c.size - 1)?.envelope.recorded_at_us;
    Ok(Checkpoint {
        origin: c.origin,
        size: c.size,
        root: c.root,
        at_us,
    })
}

/// Events a document reads from before its period starts: an event may say it occurred a
/// little after it was recorded, never a day.
const PERIOD_MARGIN_US: i64 = 24 * 3600 * 1_000_000;

fn entry(r: careledger_ledger::CareRecord) -> Entry {
    Entry {
        seq: r.envelope.seq,
        occurred_at_us: r.envelope.occurred_at_us,
        recorded_at_us: r.envelope.recorded_at_us,
        actor: r.envelope.actor,
        event: r.event,
    }
}

/// The events about `person` a document reads, below the checkpoint's `size`: the
/// publication of their current care plan (who published it), and, for a document with a
/// period (`period`), every event recorded from the day before it starts. Only that much
/// of the log is read, so a person whose record has been opened thousands of times (each
/// an access event) prints as fast as one opened once.
pub fn entries(
    ledger: &Ledger,
    person: &str,
    size: u64,
    period: Option<Period>,
) -> Result<Vec<Entry>, CliError> {
    let mut out = Vec::new();
    let published = ledger.read(|s| {
        s.person(person)
            .and_then(|p| p.plan.as_ref().map(|c| c.published.seq))
    })?;
    let mut from = match period {
        Some(p) => ledger.first_recorded_at_or_after(
            careledger_care::uk_time::start_of_day(p.first()) - PERIOD_MARGIN_US,
        )?,
        None => size,
    };
    if let Some(seq) = published.filter(|s| *s < size && *s < from) {
        out.push(entry(ledger.event(seq)?));
    }
    while from < size {
        let page = ledger.history(person, from, HISTORY_PAGE_MAX, |k| {
            DOCUMENT_KINDS.contains(&k)
        })?;
        let Some(last) = page.last() else { break };
        from = last.envelope.seq + 1;
        for r in page {
            if r.envelope.seq >= size {
                return Ok(out);
            }
            out.push(entry(r));
        }
    }
    Ok(out)
}

/// Each person of a pack, in order, with the events the pack prints of them.
pub type PackPeople = Vec<(String, Vec<Entry>)>;

/// The events a contingency pack reads ([`entries`] over `period`) of each of `ids`, in
/// order, read on every core: for 485 people this was 1.5 s of the pack's 11 on one.
pub fn pack_entries(
    ledger: &Ledger,
    ids: &[String],
    size: u64,
    period: Period,
) -> Result<PackPeople, CliError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = ids.len().div_ceil(threads).max(1);
    let parts: Vec<Result<PackPeople, CliError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|id| Ok((id.clone(), entries(ledger, id, size, Some(period))?)))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(fail("a thread reading the pack's events failed")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(ids.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// Prints `kind` about `id` from the ledger as it stands at `checkpoint`: the events it
/// reads, then the document, in `asked` or else the format the person's recorded
/// information needs choose. The CLI and the service print through here.
pub fn print_person(
    ledger: &Ledger,
    kind: Kind,
    id: &str,
    asked: Option<Format>,
    period: Period,
    checkpoint: &Checkpoint,
) -> Result<Result<careledger_print::Printed, careledger_print::PrintError>, CliError> {
    let events = entries(ledger, id, checkpoint.size, period_of(kind, period))?;
    Ok(ledger.read(|s| {
        let format = match (asked, s.person(id)) {
            (Some(f), _) => f,
            (None, Some(p)) => Format::for_person(p),
            (None, None) => Format::Pdf,
        };
        careledger_print::print(
            s,
            &Request::Person {
                kind,
                id,
                entries: &events,
                period,
            },
            format,
            checkpoint,
        )
    })?)
}

/// The period a person's document reads events for: none for the care plan (it reads its
/// publication only).
pub fn period_of(kind: Kind, period: Period) -> Option<Period> {
    (kind != Kind::CarePlan).then_some(period)
}

/// What `careledger print` was asked for.
pub struct PrintArgs<'a> {
    pub kind: &'a str,
    pub person: Option<&'a str>,
    pub people: &'a [String],
    pub format: Option<&'a str>,
    pub days: u32,
    pub out: &'a Path,
    /// Record the copy as placed in the person's home, by this member of staff.
    pub placed_by: Option<&'a str>,
}

pub fn print(dir: &Path, args: PrintArgs<'_>) -> Result<(), CliError> {
    let kind = Kind::from_name(args.kind).ok_or_else(|| {
        fail(format!(
            "{:?} is not a document careledger prints; choose one of {}",
            args.kind,
            Kind::ALL.map(Kind::name).join(", ")
        ))
    })?;
    let asked_format = args
        .format
        .map(|f| {
            Format::from_name(f).ok_or_else(|| {
                fail(format!(
                    "{f:?} is not a format; choose one of {}",
                    Format::ALL.map(Format::name).join(", ")
                ))
            })
        })
        .transpose()?;
    if args.days == 0 || args.days > careledger_print::PERIOD_DAYS_MAX {
        return Err(fail(format!(
            "--days must be between 1 and {}, not {}",
            careledger_print::PERIOD_DAYS_MAX,
            args.days
        )));
    }
    if args.placed_by.is_some() && kind.is_report() {
        return Err(fail(format!(
            "a {} is a report for the council, not a copy placed in a person's home: leave out --placed-by",
            kind.name()
        )));
    }
    if args.placed_by.is_some() && kind == Kind::Contingency {
        return Err(fail(
            "a contingency pack is not a copy of one person's document: print each person's care plan and MAR chart with --placed-by to record the copies placed in their home",
        ));
    }
    let ledger = open_ledger(dir)?;
    let checkpoint = checkpoint(&ledger)?;
    let period = Period::ending_at(&checkpoint, args.days);
    let printed = match kind {
        Kind::Monitoring | Kind::ResponseTimes => {
            if args.person.is_some() || !args.people.is_empty() {
                return Err(fail(format!(
                    "a {} covers the whole provider: leave out --person and --people",
                    kind.name()
                )));
            }
            let format = asked_format.unwrap_or(Format::Pdf);
            ledger.read(|s| {
                careledger_print::print(s, &Request::Report { kind }, format, &checkpoint)
            })?
        }
        Kind::Contingency => {
            if args.person.is_some() {
                return Err(fail(
                    "a contingency pack is for many people: name them with --people, or leave it out for everyone in care",
                ));
            }
            let ids: Vec<String> = if args.people.is_empty() {
                ledger.read(|s| {
                    s.people
                        .iter()
                        .filter(|(_, p)| p.care_active())
                        .map(|(id, _)| id.clone())
                        .collect()
                })?
            } else {
                args.people.to_vec()
            };
            // Every person named is known before any volume is written, so a pack is not
            // left half written for a typo.
            let unknown: Vec<&String> = ledger.read(|s| {
                ids.iter().filter(|id| s.person(id).is_none()).collect()
            })?;
            if !unknown.is_empty() {
                return Err(fail(format!(
                    "no such person: {}; nothing was written",
                    unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
            if args.out.is_dir() || args.out.as_os_str().to_string_lossy().ends_with('/') {
                return Err(fail(format!(
                    "--out {} is a folder: name the file the pack is written to (pack.pdf; a pack of more than {} people is written beside it as pack-01-of-NN.pdf and so on)",
                    args.out.display(),
                    careledger_print::pack::VOLUME_PEOPLE
                )));
            }
            if ids.len() > careledger_print::PACK_PEOPLE_MAX {
                return Err(fail(format!(
                    "the pack names {} people; at most {}",
                    ids.len(),
                    careledger_print::PACK_PEOPLE_MAX
                )));
            }
            let people = pack_entries(&ledger, &ids, checkpoint.size, period)?;
            let format = asked_format.unwrap_or(Format::Pdf);
            return print_pack(&ledger, &people, period, format, &checkpoint, args.out);
        }
        Kind::Guide => {
            if !args.people.is_empty() {
                return Err(fail(
                    "the Service User Guide is the same for everyone: name one person with --person (for their format and to record the copy placed in their home), or nobody",
                ));
            }
            if args.placed_by.is_some() && args.person.is_none() {
                return Err(fail(
                    "--placed-by records the copy placed in one person's home: name them with --person",
                ));
            }
            let format = match (asked_format, args.person) {
                (Some(f), _) => f,
                (None, Some(id)) => ledger
                    .read(|s| s.person(id).map(Format::for_person))?
                    .ok_or_else(|| fail(format!("there is no person {id:?}")))?,
                (None, None) => Format::Pdf,
            };
            ledger.read(|s| careledger_print::print(s, &Request::Guide, format, &checkpoint))?
        }
        _ => {
            let id = args.person.ok_or_else(|| {
                fail(format!("a {} is about one person: name them with --person", args.kind))
            })?;
            print_person(&ledger, kind, id, asked_format, period, &checkpoint)?
        }
    }
    .map_err(|e| fail(e.to_string()))?;
    write_new(args.out, &printed.bytes)?;
    let placed = match (args.placed_by, args.person, kind.document()) {
        (Some(by), Some(person), Some(document)) => {
            let event = careledger_care::CareEvent::PaperCopyPlaced(
                careledger_care::event::PaperCopyPlaced {
                    document,
                    version: printed.reference.version,
                    format: printed.format.recorded(),
                    digest: Some(printed.digest.clone()),
                },
            );
            let command =
                careledger_ledger::Command::about(by, person, careledger_store::now_us(), event);
            let receipts = ledger.append(vec![command]).map_err(|e| {
                fail(format!(
                    "{} was written, but the copy could not be recorded as placed: {e}",
                    args.out.display()
                ))
            })?;
            Some(receipts[0].seq)
        }
        _ => None,
    };
    let chosen = if asked_format.is_none()
        && kind != Kind::Contingency
        && !kind.is_report()
        && (kind != Kind::Guide || args.person.is_some())
    {
        " (from the person's recorded information needs)"
    } else {
        ""
    };
    outln!(
        "{}: {} bytes, {}{chosen}, written to {}",
        printed.title,
        printed.bytes.len(),
        printed.format.name(),
        args.out.display()
    )?;
    outln!("reference {}", printed.reference)?;
    outln!("digest {}", printed.digest)?;
    if let Some(seq) = placed {
        outln!("recorded as placed in the home: event {seq} (paper.copy_placed)")?;
    }
    Ok(())
}

/// The file volume `number` of `of` is written to: `pack.pdf` itself for a pack of one
/// volume, else `pack-02-of-10.pdf`.
pub fn volume_path(out: &Path, number: usize, of: usize) -> std::path::PathBuf {
    if of <= 1 {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .map_or("pack".into(), |s| s.to_string_lossy().into_owned());
    let name = match out.extension() {
        Some(e) => format!("{stem}-{number:02}-of-{of:02}.{}", e.to_string_lossy()),
        None => format!("{stem}-{number:02}-of-{of:02}"),
    };
    out.with_file_name(name)
}

/// Prints the contingency pack for `people`, in volumes of
/// [`careledger_print::pack::VOLUME_PEOPLE`] (each its own file with its own index), and
/// says what it wrote.
fn print_pack(
    ledger: &Ledger,
    people: &[(String, Vec<Entry>)],
    period: Period,
    format: Format,
    checkpoint: &Checkpoint,
    out: &Path,
) -> Result<(), CliError> {
    let volumes = careledger_print::pack::Volume::split(people.len());
    let mut reference = None;
    for (range, volume) in volumes {
        let printed = ledger
            .read(|s| {
                careledger_print::print(
                    s,
                    &Request::Pack {
                        people: &people[range.clone()],
                        period,
                        volume: Some(volume),
                    },
                    format,
                    checkpoint,
                )
            })?
            .map_err(|e| fail(e.to_string()))?;
        let path = volume_path(out, volume.number, volume.of);
        write_new(&path, &printed.bytes)?;
        outln!(
            "{}: {} bytes, {}, people {} to {}, written to {} (digest {})",
            printed.title,
            printed.bytes.len(),
            printed.format.name(),
            range.start + 1,
            range.end,
            path.display(),
            printed.digest
        )?;
        reference = Some(printed.reference);
    }
    if let Some(r) = reference {
        outln!("reference {r}")?;
    }
    Ok(())
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it, synced, then
/// renamed over it.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| fail(format!("{} is not a file name", path.display())))?;
    let tmp = dir.join(format!(".{}.partial", name.to_string_lossy()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(format!("cannot write {}: {e}", path.display()))
    })
}

/// What a check of a printed copy's reference found.
pub struct Checked {
    /// The root the ledger has at the reference's size starts as printed.
    pub ours: bool,
    /// What was found of the checkpoint, in words.
    pub checkpoint: String,
    /// Whether the copy is the current version, and what is current, in words (`None`
    /// where the checkpoint is not the ledger's, and to anyone of a person's document or a
    /// pack: nothing more is said).
    pub status: Option<careledger_print::check::Status>,
}

/// Checks the reference `r` against `ledger`: is its checkpoint the ledger's (the root at
/// its size starts as printed), and is the copy current? `for_anyone`: say it as the open
/// check page says it ([`careledger_print::check::status_for_anyone`]): whether the copy
/// came from this ledger, and nothing of the person or the ledger beyond that.
pub fn check(ledger: &Ledger, r: &Reference, for_anyone: bool) -> Result<Checked, CliError> {
    let store = ledger.store();
    let not_ours = |checkpoint: String| Checked {
        ours: false,
        checkpoint,
        status: None,
    };
    // To anyone, a foreign reference gets no more than that: not the ledger's size, and
    // never its root (which would let them write a reference that checks).
    let foreign = "the ledger holds no checkpoint with this size and root";
    if r.size == 0 || r.size > store.size() {
        return Ok(not_ours(if for_anyone {
            foreign.into()
        } else {
            format!(
                "the reference names a checkpoint of {} events; the ledger holds {}",
                r.size,
                store.size()
            )
        }));
    }
    let ours = careledger_print::stamp::root_start(&store.root_at(r.size)?);
    if ours != r.root_start {
        return Ok(not_ours(if for_anyone {
            foreign.into()
        } else {
            format!(
                "at {} events the ledger's root starts {ours}, not {}",
                r.size, r.root_start
            )
        }));
    }
    let status = if for_anyone {
        ledger.read(|s| careledger_print::check::status_for_anyone(s, r))?
    } else {
        Some(ledger.read(|s| careledger_print::check::status_of(s, r))?)
    };
    Ok(Checked {
        ours: true,
        checkpoint: format!(
            "checkpoint: {} events, root {}: the ledger's own",
            r.size, r.root_start
        ),
        status,
    })
}

/// `careledger check-document REF`: is the printed copy with this reference still the
/// current version, and is the checkpoint it names one this ledger holds? Exit 0 when the
/// copy is current and its checkpoint matches, 1 when it is out of date, 3 when the
/// checkpoint is not this ledger's (the copy was not printed from it, or was altered).
pub fn check_document(dir: &Path, reference: &str) -> Result<(), CliError> {
    let r: Reference = reference
        .parse()
        .map_err(|e: careledger_print::stamp::BadReference| fail(e.to_string()))?;
    let ledger = open_ledger(dir)?;
    let checked = check(&ledger, &r, false)?;
    let Some(status) = checked.status else {
        return Err(CliError {
            message: format!("not printed from this ledger: {}", checked.checkpoint),
            code: EXIT_VERIFY_FAILED,
        });
    };
    outln!("{}", checked.checkpoint)?;
    outln!("{}", status.said)?;
    if status.current {
        Ok(())
    } else {
        Err(CliError {
            message: "this copy is not the current version".into(),
            code: EXIT_ERROR,
        })
    }
}
