#!/usr/bin/env bash
# The test command (README, CI): prepares the machine and the build (scripts/setup.sh --test),
# runs the whole tap suite, prints tap's summary and then one plain line
#   N passed, N failed, N skipped
# computed from the TAP files tap writes under .tap/test-results/ (scripts/tap-summary.mjs).
# Exits non-zero when anything failed. Extra arguments go to tap (e.g. a single test file).

set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! scripts/setup.sh --test; then
  # CI reads the last line: a broken setup is a failure, not a missing line
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
# stale results of removed or renamed test files must not be counted
rm -rf .tap/test-results

npx tap "$@"
tap_status=$?

node scripts/tap-summary.mjs .tap/test-results "$tap_status"
summary_status=$?

if [ "$tap_status" != 0 ] || [ "$summary_status" != 0 ]; then
  exit 1
fi
