#!/usr/bin/env bash
# ctest's dashboard_browser: the dashboard's browser tests (dashboard.test.mjs) in Debian's
# chromium, driven by playwright-core (installed by scripts/setup with `npm ci` here).
#   usage: run.sh HARNESS_BINARY SCREENSHOT_DIR
# Skips (exit 77) only when node or chromium is absent; a missing node_modules is a failure.
set -euo pipefail
harness=$(realpath "$1")
shots=$(realpath -m "$2")
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed (scripts/setup installs Debian's nodejs)"
  exit 77
fi
if [ ! -x "$chromium" ]; then
  echo "SKIP: $chromium is absent (scripts/setup installs Debian's chromium)"
  exit 77
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "FAIL: $here/node_modules is missing: run scripts/setup (npm ci in tests/browser)"
  exit 1
fi
rm -rf "$shots"
mkdir -p "$shots"
cd "$here"
status=0
DASHBOARD_HARNESS=$harness SCREENSHOT_DIR=$shots CHROMIUM=$chromium \
  node --test --test-reporter=spec dashboard.test.mjs || status=$?
echo "screenshots of each state: $shots"
exit $status
