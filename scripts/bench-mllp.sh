#!/usr/bin/env bash
# MLLP load benchmark of the integration engine (docs/benchmarks-integration.md). For each
# backend: start a release `yiyang` on a fresh database (demo city and demo HL7 channel on
# MLLP_PORT), then run three loads with crates/yiyang/examples/mllp_load.rs:
#   1. throughput: CONNS connections × COUNT messages, WINDOW in flight per connection;
#      every message a new patient + admission; waits until all are processed and reports
#      the processing rate from the stored timestamps;
#   2. latency: RATE messages/s paced over 16 connections for RATE_SECONDS;
#   3. one connection, one message at a time (a plain HL7 sender).
#
#   scripts/bench-mllp.sh [sqlite|postgres|both]     (default: both)
#
# Environment: CONNS (64), COUNT (300), WINDOW (4), RATE (1000), RATE_SECONDS (10),
# PORT (8092), MLLP_PORT (2585), PGURL (postgres://postgres@127.0.0.1:5432),
# PGDB (yy_mllp_bench; dropped and re-created), CARGO_TARGET_DIR, JOBS (cargo -j, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH="${1:-both}"
CONNS="${CONNS:-64}"
COUNT="${COUNT:-300}"
WINDOW="${WINDOW:-4}"
RATE="${RATE:-1000}"
RATE_SECONDS="${RATE_SECONDS:-10}"
PORT="${PORT:-8092}"
MLLP_PORT="${MLLP_PORT:-2585}"
PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432}"
PGDB="${PGDB:-yy_mllp_bench}"
JOBS="${JOBS:-2}"
TARGET="${CARGO_TARGET_DIR:-target}"

cargo build --release -j "$JOBS" -p yiyang --bin yiyang --example mllp_load
BIN="$TARGET/release/yiyang"
GEN="$TARGET/release/examples/mllp_load"

. scripts/bench-common.sh

run_one() { # backend
  local backend="$1" dir url
  local -a env
  fresh_backend "$backend" mllp
  echo "== $backend: starting yiyang (HTTP 127.0.0.1:$PORT, MLLP 127.0.0.1:$MLLP_PORT, data dir $dir)"
  start_server "$dir/server.log" mllp_ready "${env[@]}"
  echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== $backend: throughput ($CONNS connections × $COUNT, window $WINDOW)"
  "$GEN" --addr "127.0.0.1:$MLLP_PORT" --conns "$CONNS" --count "$COUNT" --window "$WINDOW" --db "$url"
  echo "== $backend: latency at $RATE msg/s"
  "$GEN" --addr "127.0.0.1:$MLLP_PORT" --conns 16 --count $((RATE * RATE_SECONDS / 16)) --rate "$RATE" --db "$url"
  echo "== $backend: one connection, one message at a time"
  "$GEN" --addr "127.0.0.1:$MLLP_PORT" --conns 1 --count 1000 --db "$url"
  stop_server
  echo "== $backend: audit chain after the runs"
  env "${env[@]}" "$BIN" audit verify
  if [ "$backend" = postgres ]; then
    pg_drop
  fi
  rm -rf "$dir"
}

for_backends "$WHICH"
