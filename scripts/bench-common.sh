# Shared by the scripts/bench-*.sh benchmarks; sourced after they set BIN, PGURL and PGDB.
# Starts and stops the release server, makes and drops the PostgreSQL database, and runs
# a script's `run_one BACKEND` for the backend(s) named on its command line.

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -INT "$SERVER_PID"
    wait "$SERVER_PID" || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT

# start_server LOG READY ENV…: runs $BIN with ENV, output to LOG, until the command READY
# succeeds (two minutes at most); stops the script if the server exits or never gets ready.
start_server() {
  local log="$1" ready="$2"
  shift 2
  env "$@" "$BIN" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 240); do
    if $ready; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.5
  done
  echo "yiyang did not become ready" >&2
  tail -20 "$log" >&2
  exit 1
}

# Readiness checks for start_server.
http_ready() { curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; }
mllp_ready() { (exec 3<>"/dev/tcp/127.0.0.1/$MLLP_PORT") 2>/dev/null; }

# fresh_backend sqlite|postgres NAME: a new data directory (dir), its database URL (url) and
# the server environment (env: data dir, HTTP on $PORT, the demo MLLP channel on $MLLP_PORT
# when set, RUST_LOG, and on PostgreSQL a re-created $PGDB).
fresh_backend() {
  dir="$(mktemp -d "${TMPDIR:-/tmp}/yiyang-$2-XXXXXX")"
  url="sqlite://$dir/yiyang.db"
  env=(YIYANG_DATA_DIR="$dir" YIYANG_LISTEN="127.0.0.1:$PORT" RUST_LOG="${RUST_LOG:-warn}")
  if [ -n "${MLLP_PORT:-}" ]; then env+=(YIYANG_DEMO_MLLP_PORT="$MLLP_PORT"); fi
  if [ "$1" = postgres ]; then
    pg_fresh
    url="$PGURL/$PGDB"
    env+=(YIYANG_DATABASE_URL="$url")
  fi
}

pg_fresh() { psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $PGDB" -c "CREATE DATABASE $PGDB" >/dev/null; }
pg_drop() { psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $PGDB" >/dev/null || true; }

# for_backends sqlite|postgres|both: runs `run_one` for each.
for_backends() {
  case "$1" in
    sqlite) run_one sqlite ;;
    postgres) run_one postgres ;;
    both) run_one sqlite; run_one postgres ;;
    *) echo "usage: $0 [sqlite|postgres|both]" >&2; exit 2 ;;
  esac
}
