//! The service's document printer: crates/print over the ledger, given to the API
//! (`careledger_api::documents::Documents`) so that careledger-api need not build typst.

use careledger_api::documents::{DocumentCheck, Documents, PrintRefused, Printed};
use careledger_ledger::Ledger;
use careledger_print::{Format, Kind, Period, PrintError, Request};

use crate::print_cli::{check, checkpoint, print_person};

/// Prints from the ledger as it stands, from a checkpoint signed for it.
pub struct Printer;

/// A format the API checked (`careledger_api::documents::FORMATS`), as the print crate
/// names it.
fn format_of(name: Option<&str>) -> Result<Option<Format>, PrintRefused> {
    name.map(|f| {
        Format::from_name(f).ok_or_else(|| PrintRefused::Failed(format!("{f:?} is not a format")))
    })
    .transpose()
}

/// The print crate's answer as the API sends it, under the file name `stem`.EXTENSION.
fn sent(printed: careledger_print::Printed, stem: &str) -> Printed {
    Printed {
        media_type: printed.format.media_type(),
        format: printed.format.name(),
        file_name: format!("{stem}.{}", printed.format.extension()),
        reference: printed.reference.to_string(),
        version: printed.reference.version,
        digest: printed.digest,
        bytes: printed.bytes,
    }
}

impl Documents for Printer {
    fn person(
        &self,
        ledger: &Ledger,
        kind: &'static str,
        person: &str,
        format: Option<&'static str>,
        days: u32,
    ) -> Result<Printed, PrintRefused> {
        let failed = |e: crate::cli::CliError| PrintRefused::Failed(e.message);
        let kind = Kind::from_name(kind)
            .ok_or_else(|| PrintRefused::Failed(format!("{kind:?} is not a document")))?;
        let asked = format_of(format)?;
        let checkpoint = checkpoint(ledger).map_err(failed)?;
        let period = Period::ending_at(&checkpoint, days);
        let printed = print_person(ledger, kind, person, asked, period, &checkpoint)
            .map_err(failed)?
            .map_err(|e| match e {
                // Said without the person's name: no access event is written when
                // nothing is printed, so nothing of the record may leave.
                PrintError::NoPlan(_) => {
                    PrintRefused::Nothing("there is no published care plan to print yet".into())
                }
                e => PrintRefused::Failed(e.to_string()),
            })?;
        Ok(sent(printed, &format!("{}-{person}", kind.name())))
    }

    fn report(
        &self,
        ledger: &Ledger,
        kind: &'static str,
        format: Option<&'static str>,
    ) -> Result<Printed, PrintRefused> {
        let kind = Kind::from_name(kind)
            .filter(|k| k.is_report())
            .ok_or_else(|| PrintRefused::Failed(format!("{kind:?} is not a report")))?;
        let format = format_of(format)?.unwrap_or(Format::Pdf);
        let checkpoint = checkpoint(ledger).map_err(|e| PrintRefused::Failed(e.message))?;
        let printed = ledger
            .read(|s| careledger_print::print(s, &Request::Report { kind }, format, &checkpoint))
            .map_err(|e| PrintRefused::Failed(e.to_string()))?
            .map_err(|e| PrintRefused::Failed(e.to_string()))?;
        Ok(sent(printed, kind.name()))
    }

    fn guide(
        &self,
        ledger: &Ledger,
        format: Option<&'static str>,
    ) -> Result<Printed, PrintRefused> {
        let format = format_of(format)?.unwrap_or(Format::Pdf);
        let checkpoint = checkpoint(ledger).map_err(|e| PrintRefused::Failed(e.message))?;
        let printed = ledger
            .read(|s| careledger_print::print(s, &Request::Guide, format, &checkpoint))
            .map_err(|e| PrintRefused::Failed(e.to_string()))?
            .map_err(|e| match e {
                PrintError::NoGuide => PrintRefused::Nothing(e.to_string()),
                e => PrintRefused::Failed(e.to_string()),
            })?;
        Ok(sent(printed, Kind::Guide.name()))
    }

    fn check(&self, ledger: &Ledger, reference: &str) -> Result<DocumentCheck, PrintRefused> {
        let read = reference
            .parse::<careledger_print::Reference>()
            .map_err(|e| PrintRefused::Bad(e.to_string()))?;
        let checked = check(ledger, &read, true).map_err(|e| PrintRefused::Failed(e.message))?;
        Ok(DocumentCheck {
            reference: read.to_string(),
            checkpoint_verified: checked.ours,
            checkpoint: checked.checkpoint,
            current: checked.status.as_ref().map(|s| s.current),
            said: match (checked.ours, checked.status) {
                (_, Some(s)) => Some(s.said),
                (true, None) => Some(
                    "Whether this is still the current version is for the provider to check \
                     (careledger check-document): ask them."
                        .into(),
                ),
                (false, None) => None,
            },
        })
    }
}
