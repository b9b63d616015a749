#!/usr/bin/env bash
# The embedded demo: history + live traffic into the raw log, a 48-hour backfill, Dagster UI.
set -euo pipefail
cd "$(dirname "$0")/.."
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/dagster_home}"
PY=.venv/bin/python
EVENTS_PER_SECOND="${DEMO_EVENTS_PER_SECOND:-20}"

echo "==> writing 48 hours of demo history into the raw event log (.data/staging)"
$PY -m analytics_assets.ingest.demo_traffic --history-hours 48 --events-per-second "$EVENTS_PER_SECOND"

COLLECTOR_PORT="${COLLECTOR_PORT:-8106}"
echo "==> starting the collector on http://127.0.0.1:${COLLECTOR_PORT} (Sensors /sa, /api/v1/behaviors, /metrics)"
COLLECTOR_PORT="$COLLECTOR_PORT" $PY -m analytics_assets.ingest.collector &
COLLECTOR_PID=$!
trap 'kill $TRAFFIC_PID $COLLECTOR_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:${COLLECTOR_PORT}/healthz" >/dev/null && break
  sleep 0.2
done

echo "==> starting live demo traffic through the collector (${EVENTS_PER_SECOND} events/s)"
$PY -m analytics_assets.ingest.demo_traffic --history-hours 0 --events-per-second "$EVENTS_PER_SECOND" \
  --follow --collector-url "http://127.0.0.1:${COLLECTOR_PORT}" &
TRAFFIC_PID=$!

first=$(date -u -d '48 hours ago' +%Y-%m-%d-%H:00)
last=$(date -u +%Y-%m-%d-%H:00)
echo "==> backfilling user_behaviors and rollups for ${first}...${last} (one run, visible in the UI)"
.venv/bin/dagster asset materialize -f definitions.py \
  --select 'user_behaviors,metrics_hourly,item_stats_daily,experiment_metrics' \
  --partition-range "${first}...${last}"

days_first=$(date -u -d '48 hours ago' +%Y-%m-%d)
days_last=$(date -u +%Y-%m-%d)
echo "==> loading the same hours into the Paimon ODS (lake under .data/lake), then dimensions and DWD/DWS"
.venv/bin/dagster asset materialize -f definitions.py \
  --select 'ods_events_core,ods_events_debug' --partition-range "${first}...${last}"
.venv/bin/dagster asset materialize -f definitions.py --select dim_user_mapping
for day in $(seq 0 2); do
  d=$(date -u -d "${days_first} + ${day} days" +%Y-%m-%d)
  [[ "$d" > "$days_last" ]] && break
  .venv/bin/dagster asset materialize -f definitions.py \
    --select 'dim_orders,dwd_user_full_track,dws_event_daily,dws_user_conversion_daily' --partition "$d"
done

echo "==> Dagster UI: http://127.0.0.1:${DAGSTER_PORT:-3000} (the behavior_hourly schedule reloads the open hour every 10 minutes)"
exec .venv/bin/dagster dev -w workspace.yaml -p "${DAGSTER_PORT:-3000}"
