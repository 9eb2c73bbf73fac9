#!/usr/bin/env bash
# Benchmark of the authenticated, scoped, audited JSON read GET /api/v1/staff/{id}
# (docs/benchmarks.md). For each backend: start a release `yiyang` on a fresh database
# (demo city seeded), run the load generator (crates/yiyang/examples/loadgen.rs), stop the
# server (which flushes the audit sink) and check the audit chain.
#
#   scripts/bench-read.sh [sqlite|postgres|both]     (default: both)
#
# Environment: DURATION (20s), WARMUP (3s), CONNECTIONS (64), LOGIN (doctor),
# GEN_THREADS (1), PORT (8091), PGURL (postgres://postgres@127.0.0.1:5432),
# PGDB (yy_bench; dropped and re-created), CARGO_TARGET_DIR, JOBS (cargo -j, default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH="${1:-both}"
DURATION="${DURATION:-20s}"
WARMUP="${WARMUP:-3s}"
CONNECTIONS="${CONNECTIONS:-64}"
LOGIN="${LOGIN:-doctor}"
GEN_THREADS="${GEN_THREADS:-1}"
PORT="${PORT:-8091}"
PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432}"
PGDB="${PGDB:-yy_bench}"
JOBS="${JOBS:-1}"
TARGET="${CARGO_TARGET_DIR:-target}"

cargo build --release -j "$JOBS" -p yiyang --bin yiyang --example loadgen
BIN="$TARGET/release/yiyang"
GEN="$TARGET/release/examples/loadgen"

. scripts/bench-common.sh

run_one() { # backend
  local backend="$1" dir url
  local -a env
  fresh_backend "$backend" bench
  echo "== $backend: starting yiyang on 127.0.0.1:$PORT (data dir $dir)"
  start_server "$dir/server.log" http_ready "${env[@]}"
  echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
  # The same login the generator does, with curl, as a smoke check of the cookie flow.
  curl -fsS -o /dev/null -c "$dir/cookies" -H 'content-type: application/json' \
    -d "{\"login\":\"$LOGIN\",\"password\":\"Meizhou#2026\"}" "http://127.0.0.1:$PORT/api/v1/auth/login"
  grep -q yy_session "$dir/cookies"
  echo "== $backend: load"
  "$GEN" --url "http://127.0.0.1:$PORT" --login "$LOGIN" --duration "$DURATION" \
    --warmup "$WARMUP" --connections "$CONNECTIONS" --threads "$GEN_THREADS"
  stop_server
  echo "== $backend: audit chain after the run"
  env "${env[@]}" "$BIN" audit verify
  if [ "$backend" = postgres ]; then
    pg_drop
  fi
  rm -rf "$dir"
}

for_backends "$WHICH"
