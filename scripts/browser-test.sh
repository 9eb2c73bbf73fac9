#!/usr/bin/env bash
# Every page of every demo role in headless Chromium (tests/browser/crawl.js says what is checked).
#
#   scripts/browser-test.sh              build the debug binary, start it on demo data, run the test
#   BIN=path/to/yiyang scripts/browser-test.sh    use that binary instead of building
#   ROLES=elder,doctor scripts/browser-test.sh    only these logins or roles (while fixing a page)
#   SCREENSHOTS=/tmp/shots scripts/browser-test.sh  also save a full-page PNG of every page
#
# Needs Node 20+, npm and Chromium (/usr/bin/chromium, Debian package `chromium`; CHROMIUM=path
# to use another). Exits non-zero when any page fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || { echo "Chromium not found at $CHROMIUM (apt-get install chromium)" >&2; exit 2; }

if [ -z "${BIN:-}" ]; then
  cargo build -q -p yiyang --bin yiyang
  BIN="$CARGO_TARGET_DIR/debug/yiyang"
fi

if [ ! -d tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
DATA="$(mktemp -d "${TMPDIR:-/tmp}/yiyang-browser-XXXXXX")"
SERVER_PID=""
stop() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -INT "$SERVER_PID"
    wait "$SERVER_PID" || true
  fi
  rm -rf "$DATA"
}
trap stop EXIT

YIYANG_DATA_DIR="$DATA" YIYANG_LISTEN="127.0.0.1:$PORT" YIYANG_DEMO_MLLP_PORT=0 \
  YIYANG_SEED_DEMO=true RUST_LOG="${RUST_LOG:-warn}" "$BIN" >"$DATA/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 240); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DATA/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "yiyang did not become ready" >&2; tail -20 "$DATA/server.log" >&2; exit 1; }

status=0
YIYANG_URL="http://127.0.0.1:$PORT" YIYANG_ROOT="$ROOT" CHROMIUM="$CHROMIUM" \
  node tests/browser/crawl.js || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (last 30 lines) ---"
  tail -30 "$DATA/server.log"
fi
exit "$status"
