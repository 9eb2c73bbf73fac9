#!/usr/bin/env bash
# IoT ingestion benchmark (docs/benchmarks-iot.md). For each backend: a release `yiyang` on a
# fresh database subscribed to a Mosquitto started here with production-like limits
# (scripts/mosquitto-bench.conf: in-flight and queue limits raised, as a deployment would),
# devices registered with `yiyang iot provision`, then `yiyang iot simulate` as the gateways:
#   1. flood: GATEWAYS × TAGS bands, unthrottled, after a reconnect storm (STORM minutes of
#      buffered readings per gateway); throughput from the stored receive times;
#   2. city: 50,000 bands (500 gateways × 100), one reading per band every 10 s (5,000/s)
#      for CITY_SECONDS; the server's CPU time over that window (cores used);
# and in both, SOS presses whose alarm latency (publish → alarm committed and pushed to the
# screens) is read back from the alarm rows: p50, p99.
#
#   scripts/bench-iot.sh [sqlite|postgres|both]     (default: both)
#
# Environment: GATEWAYS (200), TAGS (50), SECONDS (30), STORM (2), CITY_SECONDS (60),
# PORT (8093), MQTT_PORT (18830), PGURL, PGDB (yy_iot_bench), CARGO_TARGET_DIR, JOBS (2).
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH="${1:-both}"
GATEWAYS="${GATEWAYS:-200}"
TAGS="${TAGS:-50}"
SECONDS_FLOOD="${SECONDS:-30}"
STORM="${STORM:-2}"
CITY_SECONDS="${CITY_SECONDS:-60}"
PORT="${PORT:-8093}"
MQTT_PORT="${MQTT_PORT:-18830}"
PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432}"
PGDB="${PGDB:-yy_iot_bench}"
JOBS="${JOBS:-2}"
TARGET="${CARGO_TARGET_DIR:-target}"

cargo build --release -j "$JOBS" -p yiyang --bin yiyang
BIN="$TARGET/release/yiyang"
. scripts/bench-common.sh

conf="$(mktemp)"
sed "s/^listener .*/listener $MQTT_PORT 127.0.0.1/" scripts/mosquitto-bench.conf >"$conf"
mosquitto -c "$conf" >/tmp/yiyang-bench-mosquitto.log 2>&1 &
MOSQ=$!
trap 'stop_server; kill $MOSQ 2>/dev/null || true' EXIT
sleep 1
MQTT="mqtt://127.0.0.1:$MQTT_PORT"

# sql BACKEND URL QUERY: one value.
sql() {
  if [ "$1" = postgres ]; then psql -tA "$2" -c "$3"; else python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "${2#sqlite://}" "$3"; fi
}
# latencies BACKEND URL SINCE: p50 and p99 (ms) of SOS alarms raised since SINCE (µs).
latencies() {
  local q="SELECT (e.at - a.raised_at) / 1000 FROM iot_alarms a JOIN iot_alarm_events e ON e.alarm_id = a.id AND e.kind = 'raised' WHERE a.kind = 'sos' AND a.raised_at >= $3 ORDER BY 1"
  if [ "$1" = postgres ]; then psql -tA "$2" -c "$q"; else python3 -c "import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]" "${2#sqlite://}" "$q"; fi |
    python3 -c "import sys; v=sorted(float(x) for x in sys.stdin if x.strip()); print('n=%d p50=%.0fms p99=%.0fms max=%.0fms' % (len(v), v[len(v)//2], v[min(len(v)-1,int(len(v)*0.99))], v[-1]) if v else 'no SOS alarms')"
}
cpu_ticks() { awk '{print $14+$15}' "/proc/$SERVER_PID/stat"; }

run_one() { # backend
  local backend="$1" dir url
  local -a env
  fresh_backend "$backend" iot
  env+=(YIYANG_MQTT_URL="$MQTT" YIYANG_MQTT_CLIENT_ID="bench-$$" YIYANG_IOT_SIMULATE=off YIYANG_DEMO_MLLP_PORT=0)
  start_server "$dir/server.log" http_ready "${env[@]}"
  env "${env[@]}" "$BIN" iot provision --gateways "$GATEWAYS" --tags "$TAGS" >/dev/null
  env "${env[@]}" "$BIN" iot provision --gateways 500 --tags 100 >/dev/null
  local since before after t0 t1
  echo "== $backend: flood, $GATEWAYS gateways × $TAGS bands, storm $STORM min, load $(cut -d' ' -f1-3 /proc/loadavg)"
  since=$(( $(date +%s%N) / 1000 ))
  before=$(sql "$backend" "$url" "SELECT COUNT(*) FROM iot_readings")
  "$BIN" iot simulate --url "$MQTT" --gateways "$GATEWAYS" --tags "$TAGS" --rate 0 --seconds "$SECONDS_FLOOD" --storm-minutes "$STORM" --sos-per-second 5
  # Wait until the store stops growing.
  after=0
  for _ in $(seq 1 120); do
    local n; n=$(sql "$backend" "$url" "SELECT COUNT(*) FROM iot_readings")
    [ "$n" = "$after" ] && break
    after=$n; sleep 1
  done
  t0=$(sql "$backend" "$url" "SELECT MIN(received_at) FROM iot_readings WHERE received_at >= $since")
  t1=$(sql "$backend" "$url" "SELECT MAX(received_at) FROM iot_readings WHERE received_at >= $since")
  python3 -c "import sys; n=int(sys.argv[1])-int(sys.argv[2]); s=(int(sys.argv[4])-int(sys.argv[3]))/1e6; print('stored %d readings in %.1f s = %.0f readings/s (every one evaluated against the rules)' % (n, s, n/s))" "$after" "$before" "$t0" "$t1"
  echo "alarm latency: $(latencies "$backend" "$url" "$since")"
  echo "== $backend: city steady load, 500 gateways × 100 bands, one reading per band per 10 s, ${CITY_SECONDS}s"
  since=$(( $(date +%s%N) / 1000 ))
  local c0 c1 hz; c0=$(cpu_ticks); hz=$(getconf CLK_TCK)
  "$BIN" iot simulate --url "$MQTT" --org MZ-HOSP-01 --gateways 500 --tags 100 --rate 5000 --seconds "$CITY_SECONDS" --sos-per-second 2
  c1=$(cpu_ticks)
  python3 -c "import sys; print('server CPU: %.2f cores on average (%.1f s of CPU in %s s)' % ((int(sys.argv[2])-int(sys.argv[1]))/int(sys.argv[3])/int(sys.argv[4]), (int(sys.argv[2])-int(sys.argv[1]))/int(sys.argv[3]), sys.argv[4]))" "$c0" "$c1" "$hz" "$CITY_SECONDS"
  echo "alarm latency: $(latencies "$backend" "$url" "$since")"
  stop_server
  [ "$backend" = postgres ] && pg_drop
  rm -rf "$dir"
}

for_backends "$WHICH"
