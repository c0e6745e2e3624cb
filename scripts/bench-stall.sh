#!/usr/bin/env bash
# Does slow work stall the rest of the service? Latency of cheap requests while auditor
# queries that scan the log run, against the same requests on an idle service.
#
#   cargo build --release && scripts/bench-stall.sh [SECONDS] [SCANNERS] [CONNECTIONS]
#
# BIN=path/to/careledger picks another build (to compare before and after a change in one
# session); PORT, and SERVE_ARGS (extra `serve` options) are passed on.
#
# Simulates a ledger (`simulate --people 300 --days 60 --seed 1 --end 2026-11-01`) in a
# temporary directory, adds an auditor and a care worker with a token each, starts
# `careledger serve --quiet` on it and measures with wrk, CONNECTIONS connections (default
# 4) for SECONDS each (default 15):
#   idle:   GET /healthz, then GET /v1/people/person-0001/care-plan (care worker: a record
#           read, which appends its access event durably)
#   loaded: the same two while SCANNERS (default 8) loops each send
#           GET /v1/audit/access?actor=nobody-at-all as the auditor, one after another: no
#           access event matches, so each query scans as far as its scan bound allows
#           (200,000 events) or the end of the log. A loop told 503 waits what Retry-After
#           says before its next query, as a client should.
# and prints p50 and p99 of each, and what the scanning queries were answered.
set -euo pipefail
seconds=${1:-15}
scanners=${2:-8}
connections=${3:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-"$root/target/release/careledger"}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d)
port=${PORT:-18098}
pid=
cleanup() {
  touch "$work/stop"
  wait_scanners
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
  rm -rf "$work"
}
scanner_pids=()
wait_scanners() {
  for p in "${scanner_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  scanner_pids=()
}
trap cleanup EXIT
data="$work/ledger"
"$bin" simulate --data "$data" --people 300 --days 60 --seed 1 --end 2026-11-01 >/dev/null 2>&1
"$bin" user add --data "$data" --role Auditor bench-auditor >/dev/null
"$bin" user add --data "$data" --role CareWorker staff-cw01 >/dev/null
auditor=$("$bin" token issue --data "$data" bench-auditor | grep -o 'clt_[A-Za-z0-9_-]*' | head -1)
worker=$("$bin" token issue --data "$data" staff-cw01 | grep -o 'clt_[A-Za-z0-9_-]*' | head -1)
[ -n "$auditor" ] && [ -n "$worker" ] || { echo "no tokens issued" >&2; exit 1; }
# shellcheck disable=SC2086
"$bin" serve --quiet --data "$data" --listen "127.0.0.1:$port" ${SERVE_ARGS:-} >"$work/out" 2>"$work/err" &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 120); do
  curl -sf "$base/readyz" >/dev/null && break
  sleep 0.5
done
events=$(curl -sf "$base/readyz" | grep -o '[0-9]*' | head -1)

# wrk's latency distribution, as "p50 p99" in milliseconds.
percentiles() {
  awk '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
      if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
      return v
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Requests\/sec/ { rps = $2 }
    END { printf "%.2f %.2f %s", p50, p99, rps }'
}

measure() { # name url [header]
  local out
  if [ -n "${3:-}" ]; then
    out=$(wrk -t1 -c"$connections" -d"${seconds}s" --timeout 60s --latency -H "$3" "$2")
  else
    out=$(wrk -t1 -c"$connections" -d"${seconds}s" --timeout 60s --latency "$2")
  fi
  echo "$out" >"$work/wrk-$1"
  [ -n "${VERBOSE:-}" ] && echo "$out" >&2
  echo "$1 $(echo "$out" | percentiles)" >>"$work/results"
}

scan_loop() { # n
  local n=$1 code wait
  while [ ! -e "$work/stop" ]; do
    code=$(curl -s -o /dev/null -D "$work/headers-$n" -w '%{http_code}' --max-time 60 \
      -H "Authorization: Bearer $auditor" "$base/v1/audit/access?actor=nobody-at-all" || echo 000)
    echo "$code" >>"$work/scans"
    if [ "$code" = 503 ]; then
      wait=$(awk 'tolower($1) == "retry-after:" { print $2 + 0 }' "$work/headers-$n")
      sleep "${wait:-1}"
    fi
  done
}

record="$base/v1/people/person-0001/care-plan"
auth="Authorization: Bearer $worker"
# One scan alone, to say what a scan costs.
scan_seconds=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $auditor" \
  "$base/v1/audit/access?actor=nobody-at-all")

measure idle-healthz "$base/healthz"
measure idle-record "$record" "$auth"

for n in $(seq 1 "$scanners"); do
  scan_loop "$n" &
  scanner_pids+=($!)
done
sleep 1
: >"$work/scans"
measure loaded-healthz "$base/healthz"
measure loaded-record "$record" "$auth"
touch "$work/stop"
wait_scanners

echo "== $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $bin ($("$bin" --version))"
echo "== ledger of $events events; one scan alone: ${scan_seconds}s; wrk -t1 -c$connections -d${seconds}s; $scanners scanning loops; serve ${SERVE_ARGS:-(defaults)}"
printf '%-16s %10s %10s %10s\n' phase p50_ms p99_ms req/s
while read -r name p50 p99 rps; do
  printf '%-16s %10s %10s %10s\n' "$name" "$p50" "$p99" "$rps"
done <"$work/results"
awk '{ n[$1]++ } END { printf "scanning queries answered while loaded:"; for (c in n) printf " %s x%d", c, n[c]; print "" }' "$work/scans"
awk '
  $1 == "idle-healthz" { ih = $3 } $1 == "loaded-healthz" { lh = $3 }
  $1 == "idle-record" { ir = $3 } $1 == "loaded-record" { lr = $3 }
  END { printf "p99 loaded / idle: healthz %.1fx, record read %.1fx\n", lh / ih, lr / ir }' "$work/results"
