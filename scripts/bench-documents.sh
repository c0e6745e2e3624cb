#!/usr/bin/env bash
# A care plan printed through the API under load (issue 13's bar: p99 at most 100 ms at 8
# connections), with wrk (Debian package `wrk`) on loopback.
#
#   cargo build --release && scripts/bench-documents.sh [SECONDS] [CONNECTIONS]
#
# Starts `careledger serve --demo --quiet` on a fresh ledger and loads
#   GET /v1/people/person-0001/documents/care-plan?format=pdf   (the registered manager;
#   each request: a checkpoint signed for the ledger as it stands, the person's events
#   read, the PDF laid out by typst, one access event appended and durable, then sent)
# then the same as plain text, and prints wrk's reports and the resident memory of the
# service before and after.
set -euo pipefail
seconds=${1:-20}
connections=${2:-8}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release/careledger"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d)
port=${PORT:-18098}
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
"$bin" serve --demo --quiet --data "$work/ledger" --listen "127.0.0.1:$port" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.5
done
token=$(awk '$1 == "registered" && $2 == "manager" && $NF ~ /^clt_/ {print $NF}' "$work/out")
[ -n "$token" ] || { echo "no demo token in the server's output" >&2; cat "$work/out" "$work/err" >&2; exit 1; }
base="http://127.0.0.1:$port"
url="$base/v1/people/person-0001/documents/care-plan"
rss() { awk '/^VmRSS/ {print $2 " kB"}' "/proc/$pid/status"; }
bytes=$(curl -sf -H "Authorization: Bearer $token" "$url?format=pdf" | wc -c)
echo "== $(nproc) cores, $connections connections, ${seconds}s each, $(git -C "$root" rev-parse --short HEAD)"
echo "== resident before: $(rss)"
echo "== 1. GET care-plan?format=pdf ($bytes bytes)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Authorization: Bearer $token" "$url?format=pdf"
echo "== resident after: $(rss)"
echo "== 2. GET care-plan?format=text"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Authorization: Bearer $token" "$url?format=text"
echo "== resident after: $(rss)"
curl -s "$base/metrics" | grep -E '^careledger_(access_allowed_total|ledger_events|busy_total)'
