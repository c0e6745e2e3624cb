#!/usr/bin/env bash
# Renders the first page of every document in every format to docs/documents/*.png
# (pdftoppm, from poppler-utils), and the plain text of each to docs/documents/*.txt,
# from a fresh demo ledger. Run it after changing a document or the template:
#   scripts/render-documents.sh            # uses target/release/careledger, building it
#   CARELEDGER=target/debug/careledger scripts/render-documents.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v pdftoppm >/dev/null || { echo "pdftoppm is missing: apt-get install poppler-utils" >&2; exit 1; }
bin="${CARELEDGER:-target/release/careledger}"
[ -n "${CARELEDGER:-}" ] || cargo build --release --quiet
out=docs/documents
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" demo --data "$work/ledger" >/dev/null
mkdir -p "$out"
rm -f "$out"/*.png "$out"/*.txt
# person-0003 has a care plan, regular and as-needed medicines and a month of notes.
person=person-0003
for kind in care-plan mar diary; do
  for format in pdf large-print easy-read; do
    "$bin" print "$kind" --data "$work/ledger" --person "$person" --format "$format" \
      --out "$work/$kind-$format.pdf" >/dev/null
    pdftoppm -png -r 60 -f 1 -l 1 -singlefile "$work/$kind-$format.pdf" "$out/$kind-$format"
  done
  "$bin" print "$kind" --data "$work/ledger" --person "$person" --format text \
    --out "$out/$kind-text.txt" >/dev/null
done
# The Service User Guide is the provider's, the same for every home.
for format in pdf large-print easy-read; do
  "$bin" print guide --data "$work/ledger" --format "$format" --out "$work/guide-$format.pdf" >/dev/null
  pdftoppm -png -r 60 -f 1 -l 1 -singlefile "$work/guide-$format.pdf" "$out/guide-$format"
done
"$bin" print guide --data "$work/ledger" --format text --out "$out/guide-text.txt" >/dev/null
"$bin" print contingency --data "$work/ledger" --out "$work/pack.pdf" >/dev/null
pdftoppm -png -r 60 -f 1 -l 1 -singlefile "$work/pack.pdf" "$out/contingency-pdf"
# The council's reports.
for kind in monitoring response-times; do
  "$bin" print "$kind" --data "$work/ledger" --out "$work/$kind.pdf" >/dev/null
  pdftoppm -png -r 60 -f 1 -l 1 -singlefile "$work/$kind.pdf" "$out/$kind-pdf"
done
# The MAR chart's grid is on its second page.
"$bin" print mar --data "$work/ledger" --person "$person" --format pdf --out "$work/mar.pdf" >/dev/null
pdftoppm -png -r 60 -f 2 -l 2 -singlefile "$work/mar.pdf" "$out/mar-pdf-grid"
ls "$out"
