#!/usr/bin/env bash
# HTTP load benchmark of `careledger serve` on loopback with wrk (Debian package `wrk`).
#
#   cargo build --release && scripts/bench-http.sh [SECONDS] [CONNECTIONS]
#
# Starts `careledger serve --demo --quiet` on a fresh ledger in a temporary directory and
# measures, one after another in the same run:
#   1. GET /healthz                                 (the HTTP floor: no token, no ledger)
#   2. GET /v1/people/person-0001/care-plan         (authenticated record read; each one
#                                                    appends its access event durably)
#   3. GET /people/person-0001/care-plan            (the same read as a page, signed in with
#                                                    a browser session; one access event each)
#   4. POST /v1/events, a diary note                (authenticated durable append)
# and prints wrk's report for each, then the ledger's own counters from /metrics.
set -euo pipefail
seconds=${1:-20}
connections=${2:-64}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release/careledger"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d)
port=${PORT:-18099}
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
"$bin" serve --demo --quiet --data "$work/ledger" --listen "127.0.0.1:$port" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.5
done
token=$(awk '$1 == "care" && $2 == "worker" && $NF ~ /^clt_/ {print $NF}' "$work/out")
link=$(awk '$1 == "care" && $2 == "worker" && $NF ~ /\/demo\// {print $NF}' "$work/out")
[ -n "$token" ] || { echo "no demo token in the server's output" >&2; cat "$work/out" "$work/err" >&2; exit 1; }
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"kind":"diary.note","subject":"person-0001","payload":{"author":"Staff","text":"Made a cup of tea and chatted about the garden."}}'
LUA
base="http://127.0.0.1:$port"
# A browser session for the care worker: the demo link's page sets the form cookie and
# shows its token; posting it back signs in.
form_token=$(curl -s -c "$work/jar" "$link" | grep -o 'name="_token" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
curl -s -b "$work/jar" -c "$work/jar" -H 'Sec-Fetch-Site: same-origin' --data-urlencode "_token=$form_token" "$link" >/dev/null
session=$(awk '$6 == "careledger" {print $7}' "$work/jar")
[ -n "$session" ] || { echo "could not sign in through the demo link" >&2; exit 1; }
page_bytes=$(curl -s -H "Cookie: careledger=$session" "$base/people/person-0001/care-plan" | wc -c)
echo "== $(nproc) cores, $connections connections, ${seconds}s each, $(git -C "$root" rev-parse --short HEAD)"
echo "== 1. GET /healthz"
wrk -t2 -c"$connections" -d"${seconds}s" --latency "$base/healthz"
echo "== 2. GET /v1/people/person-0001/care-plan (care worker; one access event each)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Authorization: Bearer $token" \
  "$base/v1/people/person-0001/care-plan"
echo "== 3. GET /people/person-0001/care-plan (the page; care worker's session; one access event each; $page_bytes bytes)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Cookie: careledger=$session" \
  "$base/people/person-0001/care-plan"
echo "== 4. POST /v1/events (diary note)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/post.lua" -H "Authorization: Bearer $token" \
  "$base/v1/events"
echo "== ledger counters"
curl -s "$base/metrics" | grep -E '^careledger_(appends_total|appended_events_total|busy_total|append_failures_total|access_allowed_total|access_refused_total|ledger_events)'
