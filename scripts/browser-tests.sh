#!/usr/bin/env bash
# The pages in a real browser: every role's main job, axe-core on every page, reflow at
# 320 px, one access event per page view (tests/browser/run.mjs).
#
# Needs Debian's Chromium (`apt-get install chromium`) and Node.js with npm; installs the
# test's npm packages (playwright-core, axe-core, @axe-core/playwright) from its lockfile.
#
#   scripts/browser-tests.sh                       # the tests
#   SCREENSHOTS=docs/screenshots scripts/browser-tests.sh   # and regenerate the screenshots
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "browser-tests: no Chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)" >&2
  exit 2
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi
cargo build --quiet --bin careledger
CARELEDGER_BIN="$PWD/target/debug/careledger" node tests/browser/run.mjs
