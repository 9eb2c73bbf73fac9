#!/usr/bin/env bash
# How long the 服务监控 figures take on a large message store (docs/benchmarks-integration.md).
# For each backend: start a release `yiyang` on a fresh database, send a few ADT messages
# with crates/yiyang/examples/mllp_load.rs, stop it, copy the first stored message ROWS
# times in SQL (spread back in time, 1% failed), recount `hl7_channel_hours` from the
# messages, start it again and time GET /api/v1/integration/monitor (the page and the big
# screen use the same figures) ROUNDS times as the demo administrator.
#
#   scripts/bench-monitor.sh [sqlite|postgres|both]     (default: both)
#
# Environment: ROWS (2000000), ROUNDS (20), PORT (8094), MLLP_PORT (2587),
# PGURL (postgres://postgres@127.0.0.1:5432), PGDB (yy_monitor_bench; dropped and
# re-created), CARGO_TARGET_DIR, JOBS (cargo -j, default 2). Needs python3 for SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH="${1:-both}"
ROWS="${ROWS:-2000000}"
ROUNDS="${ROUNDS:-20}"
PORT="${PORT:-8094}"
MLLP_PORT="${MLLP_PORT:-2587}"
PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432}"
PGDB="${PGDB:-yy_monitor_bench}"
JOBS="${JOBS:-2}"
TARGET="${CARGO_TARGET_DIR:-target}"

cargo build --release -j "$JOBS" -p yiyang --bin yiyang --example mllp_load
BIN="$TARGET/release/yiyang"
GEN="$TARGET/release/examples/mllp_load"

. scripts/bench-common.sh

# The same copy in both dialects: ROWS messages 80 ms apart going back from the first one.
COPY_SELECT="SELECT channel_id, org_id, 'BENCH-' || g, msg_type, trigger_event, patient_key, raw,
  CASE WHEN g % 100 = 0 THEN 'error' ELSE 'processed' END, received_at - g * 80000,
  received_at - g * 80000 + 3000, 'BENCH-' || g, lane"
COPY_INTO="INSERT INTO hl7_messages (channel_id, org_id, control_id, msg_type, trigger_event,
  patient_key, raw, status, received_at, processed_at, ack_id, lane)"
RECOUNT="DELETE FROM hl7_channel_hours;
INSERT INTO hl7_channel_hours (channel_id, hour, received)
SELECT channel_id, received_at - received_at % 3600000000, COUNT(*) FROM hl7_messages
GROUP BY channel_id, received_at - received_at % 3600000000;"

run_one() { # backend
  local backend="$1" dir url
  local -a env
  fresh_backend "$backend" monitor
  echo "== $backend: a few messages on a fresh database ($dir)"
  start_server "$dir/server.log" mllp_ready "${env[@]}"
  "$GEN" --addr "127.0.0.1:$MLLP_PORT" --conns 1 --count 10 --db "$url" | tail -n 1
  stop_server
  echo "== $backend: copying the first message $ROWS times"
  local first="FROM hl7_messages, g WHERE hl7_messages.id = (SELECT MIN(id) FROM hl7_messages)"
  if [ "$backend" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -d "$PGDB" -v ON_ERROR_STOP=1 \
      -c "WITH g AS (SELECT generate_series(1, $ROWS)::bigint AS g) $COPY_INTO $COPY_SELECT $first" \
      -c "$RECOUNT" -c "VACUUM ANALYZE hl7_messages"
  else
    python3 - "$dir/yiyang.db" "$ROWS" "$COPY_INTO" "$COPY_SELECT" "$first" "$RECOUNT" <<'EOF'
import sqlite3, sys
path, rows, into, select, first, recount = sys.argv[1:]
c = sqlite3.connect(path)
c.execute(f"WITH RECURSIVE g(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM g WHERE g < {int(rows)}) "
          f"{into} {select} {first}")
c.executescript(recount)
c.execute("ANALYZE")
c.commit()
EOF
  fi
  echo "== $backend: timing the monitoring figures ($ROUNDS rounds)"
  start_server "$dir/server2.log" mllp_ready "${env[@]}"
  local jar="$dir/cookies"
  curl -s -c "$jar" -o /dev/null -d "login=admin&password=Meizhou%232026" "http://127.0.0.1:$PORT/login"
  curl -s -b "$jar" "http://127.0.0.1:$PORT/api/v1/integration/monitor" |
    python3 -c "import json,sys; r=json.load(sys.stdin)[0]; print('total', r['total'], 'today', r['today'], 'queue', r['queue'], 'last 5 min', round(r['per_minute'] * 5))"
  for _ in $(seq 1 "$ROUNDS"); do
    curl -s -b "$jar" -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/api/v1/integration/monitor"
  done | sort -n | awk '{t[NR] = $1 * 1000} END {printf "GET /api/v1/integration/monitor: median %.1f ms, max %.1f ms\n", t[int((NR + 1) / 2)], t[NR]}'
  stop_server
  if [ "$backend" = postgres ]; then
    pg_drop
  fi
  rm -rf "$dir"
}

for_backends "$WHICH"
