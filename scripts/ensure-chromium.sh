#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (src/dermbridge/web/tests/browser/) when it is
# missing. Playwright drives it through executable_path: no browser is ever downloaded by
# Playwright itself. Without root (or without apt-get) it only says so: the browser tests then
# skip with a clear reason, and the rest of the suite runs as usual.
set -euo pipefail

CHROMIUM=${DERMBRIDGE_CHROMIUM:-/usr/bin/chromium}

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM is missing and this is not root with apt-get;" \
       "the browser tests will be skipped (install Debian's 'chromium' package to run them)." >&2
  exit 0
fi
echo "ensure-chromium: installing Debian's chromium package for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || echo "ensure-chromium: apt-get update failed; trying the package lists already here." >&2
if ! apt-get install -y -q --no-install-recommends chromium fonts-liberation >/dev/null; then
  echo "ensure-chromium: apt-get could not install chromium; the browser tests will be skipped." >&2
fi
exit 0
