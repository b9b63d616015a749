"""The analytics API (FastAPI): the seed's dashboard endpoints, served from the dashboard
snapshots and the stream jobs' Redis keys.

Every request is one or two Redis reads: `dashboard_snapshots` precomputes the fixed
windows from the ClickHouse rollups (see analytics_assets/dashboard/snapshot.py), so no
request runs SQL and no parameter can reach a query. The tenant comes from the bearer
token only (`ANALYTICS_API_TOKENS`, JSON `{"token": "tenant"}`): no endpoint takes a tenant
parameter, so a token cannot name another tenant's data.

No snapshot yet (a fresh install, an unknown scenario, a stopped schedule past the TTL)
is an empty state, not an error: `{"status": "empty", "data": null, …}` with 200.
"""

import datetime as dt
import os
from typing import Annotated, Any, Literal

import orjson
import redis
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from analytics_assets.api.page import mount_dashboard_page
from analytics_assets.dashboard.snapshot import (
    ALL_SCENARIOS,
    EXPERIMENTS,
    LAKEHOUSE,
    snapshot_key,
    view_key,
)

SCENARIO = Annotated[
    str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="a scenario id, or `all`")
]


class Problem(BaseModel):
    """An error answer (FastAPI's shape)."""

    detail: str


# Documented on every data endpoint, so clients and the contract test know them.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid bearer token"},
    503: {"model": Problem, "description": "The snapshot store (Redis) is unavailable"},
}


class Envelope(BaseModel):
    """Every answer: the data (null when there is none yet) and how fresh it is."""

    status: Literal["ok", "empty"]
    tenant_id: str
    scenario_id: str | None = None
    as_of: str | None = None
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


def _utc(value: dt.datetime | str) -> dt.datetime:
    """A bound or a snapshot time (ISO text; days have no zone) as an aware UTC datetime."""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def create_app(redis_url: str | None = None, tokens: dict[str, str] | None = None) -> FastAPI:
    """`redis_url` defaults to `REDIS_URL`; `tokens` to `ANALYTICS_API_TOKENS`."""
    url = redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    token_tenants = dict(tokens if tokens is not None else _tokens_from_environment())
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    app = FastAPI(
        title="Recommendation analytics API",
        version="1.0.0",
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

    def snapshot(key: str) -> dict[str, Any] | None:
        try:
            payload = client.get(key)
        except redis.RedisError:
            raise HTTPException(status_code=503, detail="snapshot store unavailable") from None
        return orjson.loads(payload) if payload else None

    def answer(tenant_id: str, scope: str | None, document: dict | None, data: Any) -> Envelope:
        if document is None:
            return Envelope(status="empty", tenant_id=tenant_id, scenario_id=scope)
        return Envelope(
            status="ok", tenant_id=tenant_id, scenario_id=scope, as_of=document["as_of"], data=data
        )

    def section(tenant_id: str, scope: str | None, key: str, name: str) -> Envelope:
        """One section of a snapshot, served as stored."""
        document = snapshot(key)
        return answer(tenant_id, scope, document, document and document[name])

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness for load balancers and the test fixtures (no Redis round trip)."""
        return {"status": "ok"}

    @app.get("/api/v1/dashboard", response_model=Envelope, summary="getDashboard", responses=ERRORS)
    def get_dashboard(tenant_id: Tenant, scenario_id: SCENARIO = ALL_SCENARIOS) -> Envelope:
        """Overview of the last 24 hours: recommendations, clicks, CTR, conversions,
        conversion rate, active users, items and active scenarios."""
        return section(tenant_id, scenario_id, snapshot_key(tenant_id, scenario_id), "overview")

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
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> Envelope:
        """Hourly (last 7 days) or daily (last 30 days) counts, CTR and active users,
        optionally cut to [start, end)."""
        document = snapshot(snapshot_key(tenant_id, scenario_id))
        if document is None:
            return answer(tenant_id, scenario_id, None, None)
        rows = document["trend_hourly" if granularity == "hour" else "trend_daily"]
        column = "hour_start" if granularity == "hour" else "day"

        if start is not None:
            rows = [r for r in rows if _utc(r[column]) >= _utc(start)]
        if end is not None:
            rows = [r for r in rows if _utc(r[column]) < _utc(end)]
        return answer(
            tenant_id, scenario_id, document, {"granularity": granularity, "points": rows}
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
    ) -> Envelope:
        """Top items of the last 7 days by clicks, and their clicks per category."""
        document = snapshot(snapshot_key(tenant_id, scenario_id))
        if document is None:
            return answer(tenant_id, scenario_id, None, None)
        items = document["top_items"]["items"][:limit]
        categories: dict[str, int] = {}
        for item in items:
            categories[item["category"]] = categories.get(item["category"], 0) + item["clicks"]
        return answer(
            tenant_id,
            scenario_id,
            document,
            {
                "days": document["top_items"]["days"],
                "items": items,
                "clicks_by_category": categories,
            },
        )

    @app.get(
        "/api/v1/users/behavior",
        response_model=Envelope,
        summary="getUserBehaviorAnalysis",
        responses=ERRORS,
    )
    def get_user_behavior(tenant_id: Tenant, scenario_id: SCENARIO = ALL_SCENARIOS) -> Envelope:
        """The user funnel of the last 24 hours: users reaching each step in order within
        one hour of an impression."""
        return section(tenant_id, scenario_id, snapshot_key(tenant_id, scenario_id), "funnel")

    @app.get(
        "/api/v1/experiments", response_model=Envelope, summary="getExperiments", responses=ERRORS
    )
    def get_experiments(tenant_id: Tenant) -> Envelope:
        """Each experiment's groups over 14 days with a two-proportion z-test vs control."""
        return section(tenant_id, None, view_key(tenant_id, EXPERIMENTS), "experiments")

    @app.get(
        "/api/v1/lakehouse",
        response_model=Envelope,
        summary="getLakehouseOverview",
        responses=ERRORS,
    )
    def get_lakehouse(tenant_id: Tenant) -> Envelope:
        """The tracking lakehouse (DWS) of the tenant's project: users, events and order
        conversion per day of the last 7 days, and the most frequent events."""
        return section(tenant_id, None, view_key(tenant_id, LAKEHOUSE), "lakehouse")

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
