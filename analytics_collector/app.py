"""The collector: one ASGI service, the front door of both architectures.

Endpoints: the Sensors Data protocol (`/sa`, `/sa.gif`, `/debug`), the seeds' behavior API
(`POST /api/v1/behaviors`), `/healthz` and `/metrics`.

Answers follow what SDKs do with them: 2xx only after the data is durable; 5xx when the
log cannot take it now (SDKs keep the data and retry); 4xx only for data that can never be
accepted as sent, and then the payload is first kept in the dead-letter stream, so
nothing is lost silently (some SDKs delete data on a 4xx).
"""

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from analytics_collector import (
    behavior_api,
    sensors_protocol,
    sensors_records,
)
from analytics_collector.behavior_mapping import BehaviorMapping
from analytics_collector.enrichment import (
    Enricher,
    GeoIp,
    RedisWhitelist,
    user_agent_fields,
)
from analytics_collector.event_log import (
    BothEventLogs,
    EventLog,
    KafkaEventLog,
    LogUnavailable,
    StagingEventLog,
)
from analytics_collector.metrics import CollectorMetrics
from analytics_collector.settings import CollectorSettings
from analytics_lib.environment import raw_log_settings, resolved
from analytics_lib.raw_log import behaviors, dead_letters, sa_events
from analytics_lib.raw_log.storage import RawLogStorage

log = logging.getLogger("collector")

# A transparent 1x1 GIF: what image beacons (`<img src=/sa.gif?...>`) expect back.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
MAX_DEAD_LETTER_PAYLOAD = 1024 * 1024
# How long a group stays open for more requests under concurrent traffic (`_commit_groups`).
GROUP_WINDOW_SECONDS = 0.002
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# A Sensors `token=` parameter at the start of the query text, of the form body, or after `&`.
_TOKEN_PARAMETER = re.compile(rb"(?<![^&?\n])token=[^&\s]*")


def without_token(payload: bytes) -> bytes:
    """A refused request as the dead letters keep it, minus its write token: dead letters
    are read by people and jobs that must not learn a project's token."""
    return _TOKEN_PARAMETER.sub(b"token=<redacted>", payload)


class RequestTooLarge(Exception):
    def __init__(self, prefix: bytes, size: int) -> None:
        self.prefix, self.size = prefix, size


@dataclass(frozen=True)
class Rejection:
    code: str
    reason: str
    payload: bytes
    project: str | None
    size: int | None = None  # the original size when `payload` is only a prefix


@dataclass
class Batches:
    """What one request adds to the log, per stream."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    invalid: int = 0
    # Identified Sensors records, not yet enriched; Arrow is built once per group.
    sa_records: sensors_records.RecordColumns | None = None

    def dead_letter_table(self, source: str, remote_addr: str | None, now: dt.datetime) -> None:
        if not self.rejected:
            return
        self.tables[dead_letters.STREAM] = pa.table(
            {
                "received_at": pa.array([now] * len(self.rejected), pa.timestamp("ms", tz="UTC")),
                "source": [source] * len(self.rejected),
                "project": [r.project for r in self.rejected],
                "reason": [r.reason for r in self.rejected],
                "payload": pa.array(
                    [r.payload[:MAX_DEAD_LETTER_PAYLOAD] for r in self.rejected], pa.binary()
                ),
                "payload_bytes": [r.size or len(r.payload) for r in self.rejected],
                "remote_addr": [remote_addr] * len(self.rejected),
            }
        )


class Collector:
    """Request handling, independent of the HTTP framework's routing."""

    def __init__(self, settings: CollectorSettings, event_log: EventLog, enricher: Enricher):
        self.settings = settings
        self.event_log = event_log
        self.enricher = enricher
        self.mapping = BehaviorMapping.load(settings.behavior_mapping or None)
        self.metrics = CollectorMetrics(
            buffer_depth=event_log.buffered_bytes, buffer_budget_bytes=settings.buffer_budget_bytes
        )
        if enricher.whitelist is not None:
            self.metrics.watch_whitelist(enricher.whitelist.stats)
        self._pending: list[tuple[Batches, asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None
        # One thread prepares groups (enrichment waits on Redis). A request's own decoding
        # runs on the event loop: handing each request to a thread pool and back cost more
        # CPU (GIL hand-offs, pool bookkeeping) than the decoding itself.
        self._preparer = concurrent.futures.ThreadPoolExecutor(1, "collector-prepare")

    def warm_up(self) -> None:
        """Pay the preparing thread's one-time costs before the first request needs them,
        without delaying readiness (queued on that thread, so a request that comes sooner
        waits for it as it would have anyway): pyarrow's first list conversion imports
        pandas (~3 s of CPU on a loaded machine, longer than a Node SDK's 5 s timeout
        with the rest of a cold first request) and ua-parser compiles its rules."""

        def run() -> None:
            try:
                sensors_records.columns_to_table(sensors_records.RecordColumns())
                user_agent_fields("Mozilla/5.0 (warm-up)")
            except Exception:
                log.exception("warm-up failed (the first request pays its costs instead)")

        self._preparer.submit(run)

    def close(self) -> None:
        self._preparer.shutdown()

    # -- helpers -----------------------------------------------------------------------
    def client_ip(self, request: Request) -> str | None:
        if self.settings.trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for", "")
            if forwarded:
                return forwarded.split(",")[0].strip()
        return request.client.host if request.client else None

    async def read_body(self, request: Request) -> bytes:
        cap = self.settings.limits.max_body_bytes
        declared = int(request.headers.get("content-length") or 0)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap or declared > cap:
                raise RequestTooLarge(
                    b"".join(chunks)[:MAX_DEAD_LETTER_PAYLOAD], max(size, declared)
                )
            chunks.append(chunk)
        self.metrics.request_bytes.inc(size)
        return b"".join(chunks)

    @staticmethod
    def token(request: Request, fallback: str | None = None) -> str | None:
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            return authorization[7:].strip()
        return request.headers.get("x-collector-token") or fallback

    async def commit(self, batches: Batches, endpoint: str, started: float) -> None:
        """Make a request's batches durable (raises LogUnavailable).

        Requests are group-committed: everything that arrives while a group is being
        enriched and written joins the next group, so per-batch costs (enrichment setup,
        Redis round trip, Arrow calls, fsync) are paid once per group, not per
        request."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((batches, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups())
        await future
        self.metrics.batch_latency.labels(endpoint).observe(time.perf_counter() - started)

    async def _commit_groups(self) -> None:
        """Prepare a group while the previous one is being written (its fsync is ~4-12 ms
        of waiting here), with at most one write in flight, so the CPU work does not wait
        for the disk. Under concurrent traffic (the previous group had more than one
        request) a group stays open `GROUP_WINDOW_SECONDS` for the requests being decoded
        meanwhile: a group costs ~2 ms of Arrow calls whatever its size, so at 16
        connections groups of ~7 requests paid ~6 µs per event for it; the window
        doubles them. A lone request (quiet traffic) is never held."""
        writing: asyncio.Task[None] | None = None
        previous_size = 1
        while self._pending or writing is not None:
            if not self._pending:
                assert writing is not None
                await writing  # requests that arrive meanwhile are picked up after it
                writing = None
                continue
            if previous_size > 1:
                await asyncio.sleep(GROUP_WINDOW_SECONDS)
            group, self._pending = self._pending, []
            previous_size = len(group)
            try:
                merged = await self.prepare_off_loop([b for b, _ in group])
            except Exception as exc:
                self._fail(group, exc)
                continue
            if writing is not None:
                await writing
            writing = asyncio.create_task(self._write(group, merged))

    async def _write(
        self, group: list[tuple[Batches, asyncio.Future[None]]], merged: Batches
    ) -> None:
        try:
            await self.event_log.append(merged.tables)
        except Exception as exc:
            self._fail(group, exc)
            return
        for stream, table in merged.tables.items():
            self.metrics.accepted.labels(stream).inc(table.num_rows)
        self.metrics.dead_lettered.inc(len(merged.rejected))
        self.metrics.invalid.inc(merged.invalid)
        for _, future in group:
            future.set_result(None)

    @staticmethod
    def _fail(group: list[tuple[Batches, asyncio.Future[None]]], exc: Exception) -> None:
        if not isinstance(exc, LogUnavailable):
            log.exception("could not write a group of %s request(s)", len(group))
            exc = LogUnavailable(f"internal error while writing: {exc}")
        for _, future in group:
            future.set_exception(exc)

    async def prepare_off_loop(self, group: list[Batches]) -> Batches:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._preparer, self.prepare, group)

    def prepare(self, group: list[Batches]) -> Batches:
        """Merge requests; enrich their Sensors records and map behaviors, once."""
        merged = Batches(rejected=[r for b in group for r in b.rejected])
        tables: dict[str, list[pa.Table]] = {}
        for batches in group:
            for stream, table in batches.tables.items():
                tables.setdefault(stream, []).append(table)
            merged.invalid += batches.invalid
        records = [b.sa_records for b in group if b.sa_records]
        if records:
            columns = records[0]
            for more in records[1:]:
                columns.extend(more)
            enriched = self.enricher.enrich(sensors_records.columns_to_table(columns))
            tables.setdefault(sa_events.STREAM, []).append(enriched)
            tables.setdefault(behaviors.STREAM, []).append(self.mapping.to_behaviors(enriched))
            merged.invalid += enriched.num_rows - int(pc.sum(enriched["is_valid"]).as_py() or 0)
        # One part is kept as it is: the mapping's behaviors are already conformed, and the
        # log's contract recognises them (a concatenation is a new table to check).
        merged.tables = {
            stream: parts[0]
            if len(parts) == 1
            else pa.concat_tables(parts, promote_options="permissive")
            for stream, parts in tables.items()
        }
        return merged

    async def refuse(
        self,
        source: str,
        code: str,
        reason: str,
        status: int,
        payload: bytes,
        project: str | None,
        remote_addr: str | None,
        started: float,
        size: int | None = None,
    ) -> Response:
        """Keep the refused payload as a dead letter, then answer 4xx with the reason."""
        self.metrics.rejected.labels(code).inc()
        kept = without_token(payload)
        batches = Batches(rejected=[Rejection(code, reason, kept, project, size or len(payload))])
        batches.dead_letter_table(source, remote_addr, dt.datetime.now(dt.UTC))
        try:
            await self.commit(batches, source, started)
        except LogUnavailable as exc:
            return PlainTextResponse(f"temporarily unavailable: {exc}", status_code=503)
        return PlainTextResponse(reason, status_code=status)

    async def refuse_too_large(
        self, source: str, exc: RequestTooLarge, remote_addr: str | None, started: float
    ) -> Response:
        reason = f"request body of {exc.size} bytes exceeds {self.settings.limits.max_body_bytes}"
        return await self.refuse(
            source, "too_large", reason, 413, exc.prefix, None, remote_addr, started, exc.size
        )

    # -- Sensors protocol --------------------------------------------------------------
    def process_sensors(
        self,
        request: sensors_protocol.SensorsRequest,
        user_agent: str | None,
        remote_addr: str | None,
        now: dt.datetime,
    ) -> tuple[Batches, set[str]]:
        records = sensors_protocol.decode_records(request, self.settings.limits)
        received_ms = (now - EPOCH) // dt.timedelta(milliseconds=1)
        project = request.project or self.settings.default_project
        columns, rejected = sensors_records.split_records(
            records, project, received_ms, self.mapping.pick, user_agent, remote_addr
        )
        batches = Batches(
            rejected=[
                Rejection("unidentifiable_record", r.reason, r.payload, r.project) for r in rejected
            ],
            sa_records=columns,
        )
        projects = set(columns.project) | {r.project for r in rejected if r.project}
        batches.dead_letter_table("sa", remote_addr, now)
        return batches, projects

    async def sensors(self, request: Request) -> Response:
        started = time.perf_counter()
        debug = request.url.path == "/debug"
        remote_addr = self.client_ip(request)
        source = "debug" if debug else "sa"
        query_text = request.url.query
        try:
            body = await self.read_body(request)
        except RequestTooLarge as exc:
            return await self.refuse_too_large(source, exc, remote_addr, started)
        raw = query_text.encode() + (b"\n" + body if body else b"")
        try:
            parsed = sensors_protocol.parse_request(query_text, body)
            batches, projects = self.process_sensors(
                parsed, request.headers.get("user-agent"), remote_addr, dt.datetime.now(dt.UTC)
            )
        except sensors_protocol.ProtocolError as exc:
            code = "too_large" if exc.status == 413 else "undecodable"
            return await self.refuse(
                source, code, exc.reason, exc.status, raw, None, remote_addr, started
            )
        allowed = self.settings.allowed_projects(self.token(request, parsed.token))
        if allowed is not None and not projects <= allowed:
            return await self.refuse(
                source,
                "unauthorized",
                f"the token does not allow writing project(s) {sorted(projects - allowed)}",
                403,
                raw,
                parsed.project,
                remote_addr,
                started,
            )
        if debug:  # the answer depends on enrichment (whitelist): prepare it here
            batches = await self.prepare_off_loop([batches])
            problems = [rejection.reason for rejection in batches.rejected]
            table = batches.tables.get(sa_events.STREAM)
            if table is not None:
                problems += [r for r in table["invalid_reason"].to_pylist() if r]
            if problems:
                self.metrics.rejected.labels("debug_invalid").inc()
                return PlainTextResponse("; ".join(problems), status_code=400)
            if request.headers.get("dry-run", "false").lower() == "true":
                return PlainTextResponse("ok (dry run: not stored)")
        try:
            await self.commit(batches, source, started)
        except LogUnavailable as exc:
            return PlainTextResponse(f"temporarily unavailable: {exc}", status_code=503)
        if request.url.path.endswith(".gif"):
            return Response(PIXEL_GIF, media_type="image/gif")
        return PlainTextResponse("ok")

    # -- behavior API ------------------------------------------------------------------
    async def behaviors(self, request: Request) -> Response:
        started = time.perf_counter()
        remote_addr = self.client_ip(request)
        try:
            body = await self.read_body(request)
        except RequestTooLarge as exc:
            return await self.refuse_too_large("behaviors_api", exc, remote_addr, started)
        allowed = self.settings.allowed_projects(self.token(request))
        if allowed is not None and not allowed:
            return await self.refuse(
                "behaviors_api",
                "unauthorized",
                "a valid token is required (Authorization: Bearer <token>)",
                401,
                body,
                None,
                remote_addr,
                started,
            )
        now = dt.datetime.now(dt.UTC)
        try:
            records = behavior_api.parse_body(body, self.settings.limits.max_records)
            table, rejected = behavior_api.to_behaviors(
                records, int(now.timestamp() * 1000), allowed
            )
        except behavior_api.BehaviorPayloadError as exc:
            code = "too_large" if exc.status == 413 else "undecodable"
            return await self.refuse(
                "behaviors_api", code, str(exc), exc.status, body, None, remote_addr, started
            )
        batches = Batches(
            tables={behaviors.STREAM: table},
            rejected=[
                Rejection("invalid_behavior", r.reason, r.payload, r.tenant_id) for r in rejected
            ],
        )
        for _ in rejected:
            self.metrics.rejected.labels("invalid_behavior").inc()
        batches.dead_letter_table("behaviors_api", remote_addr, now)
        try:
            await self.commit(batches, "behaviors_api", started)
        except LogUnavailable as exc:
            return PlainTextResponse(f"temporarily unavailable: {exc}", status_code=503)
        body_out = {
            "accepted": table.num_rows,
            "rejected": [{"index": r.index, "reason": r.reason} for r in rejected],
        }
        status = 400 if rejected and not table.num_rows else 200
        return JSONResponse(body_out, status_code=status)

    # -- operations --------------------------------------------------------------------
    async def healthz(self, _request: Request) -> Response:
        depth = self.event_log.buffered_bytes()
        healthy = depth <= self.settings.buffer_budget_bytes
        return JSONResponse(
            {"status": "ok" if healthy else "buffer full", "buffered": depth},
            status_code=200 if healthy else 503,
        )

    async def metrics_endpoint(self, _request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def cors_headers(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    if not origin:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def build_event_log(settings: CollectorSettings) -> EventLog:
    if settings.sink == "kafka":
        return KafkaEventLog(settings.kafka_bootstrap_servers)
    staging = StagingEventLog(
        RawLogStorage(**raw_log_settings(resolved)),
        settings.buffer_dir,
        max_segment_bytes=settings.max_segment_bytes,
        max_segment_seconds=settings.max_segment_seconds,
        budget_bytes=settings.buffer_budget_bytes,
    )
    if settings.sink == "staging+kafka":
        return BothEventLogs(staging, KafkaEventLog(settings.kafka_bootstrap_servers))
    return staging


def build_enricher(settings: CollectorSettings) -> Enricher:
    return Enricher(
        debug_event_pattern=settings.debug_event_pattern,
        geoip=GeoIp(settings.geoip_database) if settings.geoip_database else None,
        whitelist=RedisWhitelist(settings.redis_url, settings.whitelist_prefix)
        if settings.redis_url
        else None,
    )


def create_app(
    settings: CollectorSettings | None = None, event_log: EventLog | None = None
) -> Starlette:
    settings = settings or CollectorSettings.from_environment()
    collector = Collector(
        settings, event_log or build_event_log(settings), build_enricher(settings)
    )

    def with_cors(handler):  # type: ignore[no-untyped-def]
        async def endpoint(request: Request) -> Response:
            if request.method == "OPTIONS":
                response: Response = Response(status_code=204)
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                    "access-control-request-headers", "Content-Type, Dry-Run"
                )
                response.headers["Access-Control-Max-Age"] = "86400"
            else:
                response = await handler(request)
            response.headers.update(cors_headers(request))
            return response

        return endpoint

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await collector.event_log.start()
        collector.warm_up()
        log.info("collector ready (sink=%s)", settings.sink)
        try:
            yield
        finally:
            await collector.event_log.close()
            collector.enricher.close()
            collector.close()

    methods = ["GET", "POST", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/sa", with_cors(collector.sensors), methods=methods),
            Route("/sa.gif", with_cors(collector.sensors), methods=methods),
            Route("/debug", with_cors(collector.sensors), methods=methods),
            Route("/api/v1/behaviors", with_cors(collector.behaviors), methods=["POST", "OPTIONS"]),
            Route("/healthz", collector.healthz, methods=["GET"]),
            Route("/metrics", collector.metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.collector = collector
    return app
