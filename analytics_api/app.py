"""The analytics API (FastAPI): the seed's dashboard endpoints, answered per request for
any time range from the ClickHouse rollups (and the DWS for the lakehouse overview), and
the stream jobs' Redis keys for the realtime view.

Every data endpoint takes `start` and `end` (ISO 8601 with a zone, half-open) and a
scenario; see `analytics_api.ranges` for defaults, alignment and the 422s, and
`analytics_api.service` for the queries. The tenant comes from the bearer token
only (`ANALYTICS_API_TOKENS`, JSON `{"token": "tenant"}`): no endpoint takes a tenant
parameter, so a token cannot name another tenant's data.

A range without data (a fresh install, an unknown scenario, a range before the first
event) is an empty state, not an error: `{"status": "empty", "data": null, …}` with 200.
ClickHouse (or Redis, for realtime) unreachable is a 503 that says which.
"""

import datetime as dt
import os
from collections.abc import Callable, Hashable
from typing import Annotated, Any, Literal, TypeVar

import orjson
import redis
from fastapi import Depends, FastAPI, HTTPException, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from analytics_api.answer_cache import DEFAULT_TTL_SECONDS, AnswerCache
from analytics_api.page import mount_dashboard_page
from analytics_api.ranges import EXAMPLE, RangeError, TimeRange, Unit, requested_range
from analytics_api.service import ALL_SCENARIOS, AnalyticsService
from analytics_lib.clickhouse import ClickHouseClient, ClickHouseError
from analytics_lib.config_store import ConfigStoreClient
from analytics_lib.environment import (
    ProfileNotConfigured,
    active_profile,
    config_store_settings,
    paimon_settings,
    require,
    resolved,
    starrocks_settings,
)
from analytics_lib.paimon.lake import PaimonLakeClient
from analytics_lib.warehouse import (
    EmbeddedWarehouseClient,
    StarRocksWarehouseClient,
    WarehouseClient,
)

SCENARIO = Annotated[
    str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="a scenario id, or `all`")
]
START = Annotated[
    str | None,
    Query(
        description=f"range start, inclusive: ISO 8601 with a zone, e.g. {EXAMPLE}",
        json_schema_extra={"format": "date-time"},
    ),
]
END = Annotated[
    str | None,
    Query(
        description="range end, exclusive: ISO 8601 with a zone (default: now)",
        json_schema_extra={"format": "date-time"},
    ),
]
T = TypeVar("T")


class Problem(BaseModel):
    """An error answer (FastAPI's shape)."""

    detail: str


# Documented on every data endpoint, so clients and the contract test know them.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid bearer token"},
    503: {"model": Problem, "description": "The analytics store is unavailable"},
}


class Range(BaseModel):
    """The range the answer covers: the request's, widened to whole hours or UTC days."""

    start: str
    end: str
    unit: Literal["hour", "day"]


class Envelope(BaseModel):
    """Every answer: the data (null when the range has none) and the range it covers."""

    status: Literal["ok", "empty"]
    tenant_id: str
    scenario_id: str | None = None
    as_of: str | None = None
    range: Range | None = None
    data: Any = None


def _tokens_from_environment() -> dict[str, str]:
    raw = os.environ.get("ANALYTICS_API_TOKENS", "")
    if not raw:
        return {}
    tokens = orjson.loads(raw)
    if not isinstance(tokens, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tokens.items()
    ):
        raise ValueError('ANALYTICS_API_TOKENS must be JSON {"token": "tenant", …}')
    return tokens


def _cache_seconds_from_environment() -> float:
    raw = os.environ.get("ANALYTICS_API_CACHE_SECONDS", "")
    try:
        seconds = float(raw) if raw else DEFAULT_TTL_SECONDS
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise SystemExit(
            f"ANALYTICS_API_CACHE_SECONDS must be seconds from 0 (off) to 3600, got {raw!r}"
        )
    return seconds


def _unavailable(error: ClickHouseError) -> bool:
    """Connection failures (server down, refused, timed out), not query bugs: those stay
    500s so tests and logs see them."""
    from clickhouse_connect.driver.exceptions import OperationalError

    cause = error.__cause__
    return isinstance(cause, OperationalError | OSError)


def create_app(
    service: AnalyticsService | None = None,
    redis_url: str | None = None,
    tokens: dict[str, str] | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    cache_seconds: float | None = None,
) -> FastAPI:
    """`service` defaults to one over `CLICKHOUSE_URL`, the configuration store and the
    warehouse of the environment; `redis_url` to `REDIS_URL`; `tokens` to
    `ANALYTICS_API_TOKENS`; `clock` (tests pin it) decides "now" for default ranges;
    `cache_seconds` (`ANALYTICS_API_CACHE_SECONDS`, default 10; 0 = off) how long an
    answer is shared by identical requests (`analytics_api.answer_cache`)."""
    analytics = service or service_from_environment()
    answers = AnswerCache(
        _cache_seconds_from_environment() if cache_seconds is None else cache_seconds
    )
    url = redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    token_tenants = dict(tokens if tokens is not None else _tokens_from_environment())
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    app = FastAPI(
        title="Recommendation analytics API",
        version="2.0.0",
        description=__doc__,
    )

    bearer = HTTPBearer(auto_error=False, description="A tenant's API token")

    def tenant(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        token = credentials.credentials if credentials else ""
        if token not in token_tenants:
            raise HTTPException(
                status_code=401,
                detail="a valid token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return token_tenants[token]

    Tenant = Annotated[str, Depends(tenant)]

    def span(start: str | None, end: str | None, default: dt.timedelta, unit: Unit) -> TimeRange:
        try:
            return requested_range(start, end, default=default, unit=unit, now=clock())
        except RangeError as error:
            # FastAPI's validation shape, so every 422 reads the same to a client.
            raise HTTPException(
                status_code=422,
                detail=[{"loc": ["query", error.field], "msg": str(error), "type": "value_error"}],
            ) from None

    def answer(
        endpoint: str,
        tenant_id: str,
        scope: str | None,
        covered: TimeRange,
        compute: Callable[[], T | None],
        variant: Hashable = None,
    ) -> Response:
        """The endpoint's answer for the tenant, scope and range (and `variant`, its other
        parameters), encoded once and shared by identical requests (`answers`)."""

        def encoded() -> bytes:
            try:
                data = compute()
            except ClickHouseError as error:
                if not _unavailable(error):
                    raise
                raise HTTPException(
                    status_code=503, detail="analytics store (ClickHouse) unavailable"
                ) from None
            envelope = Envelope(
                status="empty" if data is None else "ok",
                tenant_id=tenant_id,
                scenario_id=scope,
                as_of=clock().isoformat(),
                range=Range(**covered.as_json()),
                data=data,
            )
            return orjson.dumps(envelope.model_dump())

        key = (endpoint, tenant_id, scope, covered, variant)
        return Response(answers.get(key, encoded), media_type="application/json")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness for load balancers and the test fixtures (no store round trip)."""
        return {"status": "ok"}

    @app.get("/api/v1/dashboard", response_model=Envelope, summary="getDashboard", responses=ERRORS)
    def get_dashboard(
        tenant_id: Tenant,
        scenario_id: SCENARIO = ALL_SCENARIOS,
        start: START = None,
        end: END = None,
    ) -> Response:
        """Overview of the range (default: the last 7 days, as the seed's
        get_dashboard_data): recommendations, clicks, CTR, conversions, conversion rate,
        exact active users, and the tenant's item and scenario counts."""
        covered = span(start, end, dt.timedelta(days=7), "hour")
        return answer(
            "dashboard",
            tenant_id,
            scenario_id,
            covered,
            lambda: analytics.overview(tenant_id, scenario_id, covered),
        )

    @app.get(
        "/api/v1/metrics/trend",
        response_model=Envelope,
        summary="getMetricsTrend",
        responses=ERRORS,
    )
    def get_metrics_trend(
        tenant_id: Tenant,
        scenario_id: SCENARIO = ALL_SCENARIOS,
        granularity: Literal["hour", "day"] = "hour",
        start: START = None,
        end: END = None,
    ) -> Response:
        """Counts, CTR and exact active users per hour or UTC day of the range (default:
        the last 7 days by hour, the last 30 days by day); hours or days without events
        are absent."""
        default = dt.timedelta(days=7 if granularity == "hour" else 30)
        covered = span(start, end, default, granularity)
        return answer(
            "trend",
            tenant_id,
            scenario_id,
            covered,
            lambda: analytics.trend(tenant_id, scenario_id, covered),
        )

    @app.get(
        "/api/v1/items/distribution",
        response_model=Envelope,
        summary="getItemDistribution",
        responses=ERRORS,
    )
    def get_item_distribution(
        tenant_id: Tenant,
        scenario_id: SCENARIO = ALL_SCENARIOS,
        limit: Annotated[int, Query(ge=1, le=20)] = 10,
        start: START = None,
        end: END = None,
    ) -> Response:
        """Top items of the UTC days of the range by clicks (default: the last 7 days),
        with their categories and the clicks per category."""
        covered = span(start, end, dt.timedelta(days=7), "day")
        return answer(
            "items",
            tenant_id,
            scenario_id,
            covered,
            lambda: analytics.items(tenant_id, scenario_id, covered, limit),
            variant=limit,
        )

    @app.get(
        "/api/v1/users/behavior",
        response_model=Envelope,
        summary="getUserBehaviorAnalysis",
        responses=ERRORS,
    )
    def get_user_behavior(
        tenant_id: Tenant,
        scenario_id: SCENARIO = ALL_SCENARIOS,
        start: START = None,
        end: END = None,
    ) -> Response:
        """The user funnel of the range (default: the last 7 days): users whose funnel
        starting with an impression in the range reaches each step in order within one
        hour, in one scenario (from the `user_funnel_hourly` rollup)."""
        covered = span(start, end, dt.timedelta(days=7), "hour")
        return answer(
            "funnel",
            tenant_id,
            scenario_id,
            covered,
            lambda: analytics.funnel(tenant_id, scenario_id, covered),
        )

    @app.get(
        "/api/v1/experiments", response_model=Envelope, summary="getExperiments", responses=ERRORS
    )
    def get_experiments(tenant_id: Tenant, start: START = None, end: END = None) -> Response:
        """Each experiment's groups over the UTC days of the range (default: the last 14
        days) with a two-proportion z-test vs control."""
        covered = span(start, end, dt.timedelta(days=14), "day")
        return answer(
            "experiments",
            tenant_id,
            None,
            covered,
            lambda: analytics.experiments(tenant_id, covered),
        )

    @app.get(
        "/api/v1/lakehouse",
        response_model=Envelope,
        summary="getLakehouseOverview",
        responses=ERRORS,
    )
    def get_lakehouse(tenant_id: Tenant, start: START = None, end: END = None) -> Response:
        """The tracking lakehouse (DWS) of the tenant's project over the UTC days of the
        range (default: the last 7 days): users, events and order conversion per day, and
        the most frequent events."""
        covered = span(start, end, dt.timedelta(days=7), "day")
        return answer(
            "lakehouse", tenant_id, None, covered, lambda: analytics.lakehouse(tenant_id, covered)
        )

    @app.get("/api/v1/realtime", response_model=Envelope, summary="getRealtime", responses=ERRORS)
    def get_realtime(tenant_id: Tenant, scenario_id: SCENARIO = "home_feed") -> Envelope:
        """The stream jobs' keys: the newest one-minute window and the top 10 hot items."""
        try:
            window = client.hgetall(f"metrics:realtime:{tenant_id}:{scenario_id}")
            hot = client.zrevrange(f"hot:items:{tenant_id}:{scenario_id}", 0, 9, withscores=True)
        except redis.RedisError:
            raise HTTPException(status_code=503, detail="realtime store unavailable") from None
        if not window and not hot:
            return Envelope(status="empty", tenant_id=tenant_id, scenario_id=scenario_id)
        metrics = {k.decode(): float(v) for k, v in window.items()}
        as_of = metrics.get("window_end_ms")
        return Envelope(
            status="ok",
            tenant_id=tenant_id,
            scenario_id=scenario_id,
            as_of=dt.datetime.fromtimestamp(as_of / 1000, dt.UTC).isoformat() if as_of else None,
            data={
                "window": metrics,
                "hot_items": [{"item_id": i.decode(), "score": s} for i, s in hot],
            },
        )

    mount_dashboard_page(app)
    return app


def service_from_environment() -> AnalyticsService:
    """The API process's service: the ClickHouse server at `CLICKHOUSE_URL` (required),
    and the configuration store and warehouse from the variables the Dagster code location
    reads (`analytics_lib.environment`)."""
    url = os.environ.get("CLICKHOUSE_URL", "")
    if not url:
        raise SystemExit(
            "CLICKHOUSE_URL is not set: the analytics API queries a ClickHouse server "
            "(make demo starts one; e.g. CLICKHOUSE_URL=http://127.0.0.1:8123/default)"
        )
    try:  # production: the configuration store and the warehouse must be named too
        if (profile := active_profile()) == "production":
            require(profile, ("MONGODB_URI", "STARROCKS_HOST"), os.environ)
    except ProfileNotConfigured as refusal:
        raise SystemExit(str(refusal)) from None
    clickhouse = ClickHouseClient(url=url)
    starrocks = starrocks_settings(resolved)
    warehouse: WarehouseClient = (
        StarRocksWarehouseClient(**starrocks)
        if starrocks is not None
        else EmbeddedWarehouseClient(
            clickhouse=clickhouse, paimon=PaimonLakeClient(**paimon_settings(resolved))
        )
    )
    return AnalyticsService(
        clickhouse, ConfigStoreClient(**config_store_settings(resolved)), warehouse
    )
