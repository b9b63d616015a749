"""The security rules (README "Security rules"), one test per rule, against the real code
paths: the collector app and process, the analytics API server, the source tree and SQL
files, and Dagster runs with real resources.

1. Ingestion tokens per project   → test_collector_tokens_write_only_their_own_projects
2. API tenant isolation           → test_api_tenant_comes_only_from_the_bearer_token
3. SQL parameters bound           → test_sql_text_is_never_formatted_with_values,
                                    test_sql_files_use_only_bound_parameters
4. Payload size limits            → test_oversized_and_inflating_payloads_get_413_and_are_not_stored
5. No secrets in logs             → test_dagster_runs_never_show_resource_secrets,
                                    test_services_never_log_tokens,
                                    test_flink_job_settings_carry_no_passwords
"""

import ast
import base64
import datetime as dt
import json
import re
import runpy
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from dagster import (
    AssetKey,
    EnvVar,
    build_sensor_context,
    instance_for_test,
    serialize_value,
)
from fastapi.testclient import TestClient as ApiTestClient
from starlette.testclient import TestClient
from stream_jobs import redis_io
from stream_jobs.settings import JobSettings

from analytics_api.app import create_app as create_api
from analytics_assets.alerts.notifier import AlertNotifier
from analytics_assets.alerts.sensor import alert_sensor
from analytics_assets.resources.clickhouse_sink import ClickHouseSinkTarget
from analytics_assets.resources.flink import FlinkResource
from analytics_assets.resources.raw_event_log import RawEventLog
from analytics_assets.resources.realtime_redis import RealtimeRedis
from analytics_assets.stream.jobs import STREAM_JOBS, job_settings
from analytics_collector.app import MAX_DEAD_LETTER_PAYLOAD
from analytics_collector.app import create_app as create_collector
from analytics_collector.sensors_protocol import DecodeLimits, encode_records
from analytics_collector.settings import CollectorSettings
from analytics_demo.traffic import generate_behaviors
from analytics_lib.project import PROJECT_ROOT, SQL_DIR
from analytics_lib.raw_log import behaviors, dead_letters, sa_events
from stack.seaweedfs import seaweedfs_s3
from tests.conftest import partition_key
from tests.support.analytics import Served, served_analytics
from tests.support.servers import api_server, collector_process, redis_server
from tests.support.staging import read_stream

API_TOKENS = {"tok-acme-6c2f1e": "acme", "tok-globex-93ab07": "globex"}
ACME, GLOBEX = (f"Bearer {token}" for token in API_TOKENS)


def now_ms() -> int:
    return int(time.time() * 1000)


def sensors_record(distinct_id: str, **extra: object) -> dict[str, object]:
    return {"type": "track", "event": "E", "distinct_id": distinct_id, "time": now_ms(), **extra}


def behavior(tenant: str, user: str) -> dict[str, str]:
    return {
        "tenant_id": tenant,
        "scenario_id": "s",
        "user_id": user,
        "item_id": "i",
        "action_type": "click",
    }


# -- 1. ingestion tokens per project ---------------------------------------------------------


def test_collector_tokens_write_only_their_own_projects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond tests/test_collector_app.py::test_tokens_keep_projects_and_tenants_apart
    (missing token, a project in the query or the record, one behavior of another
    tenant): settings read from COLLECTOR_TOKENS as deployed, unknown tokens, the token in
    each place a client can put it, a batch that is only partly the token's, and that a
    refused request leaves nothing but its dead letter."""
    tokens = {"acme-write-1": ["acme"], "globex-write-2": ["globex"]}
    monkeypatch.setenv("COLLECTOR_TOKENS", json.dumps(tokens))
    monkeypatch.setenv("COLLECTOR_BUFFER_DIR", str(tmp_path / "buffer"))
    monkeypatch.setenv("COLLECTOR_SEGMENT_MAX_SECONDS", "60")
    monkeypatch.setenv("RAW_LOG_ROOT", str(tmp_path / "staging"))
    acme = {"Authorization": "Bearer acme-write-1"}

    def data(*records: dict[str, object]) -> dict[str, str]:
        return {"data_list": encode_records(list(records)), "gzip": "1"}

    with TestClient(create_collector(CollectorSettings.from_environment())) as http:
        own = http.post("/sa?project=acme", data=data(sensors_record("own")), headers=acme)
        refused_sensors = [
            # the token in the query, the header and the form body; another project each time
            http.post("/sa?project=globex&token=acme-write-1", data=data(sensors_record("q"))),
            http.post("/sa?project=globex", data=data(sensors_record("h")), headers=acme),
            http.post(
                "/sa",
                data={**data(sensors_record("b")), "project": "globex", "token": "acme-write-1"},
            ),
            # a token nobody issued, for a project that exists
            http.post("/sa?project=acme&token=guessed", data=data(sensors_record("u"))),
            # half the batch is the token's, half another project's: all of it is refused
            http.post(
                "/sa?project=acme",
                data=data(sensors_record("mixed-own"), sensors_record("mixed", project="globex")),
                headers=acme,
            ),
        ]
        api_unknown = http.post(
            "/api/v1/behaviors", json=behavior("acme", "x"), headers={"Authorization": "Bearer no"}
        )
        # the behavior API takes the token from a header only, never from the URL
        api_query_token = http.post(
            "/api/v1/behaviors?token=acme-write-1", json=behavior("acme", "x")
        )
        api_mixed = http.post(
            "/api/v1/behaviors",
            json=[behavior("acme", "api-own"), behavior("globex", "api-other")],
            headers=acme,
        )
        api_cross = http.post(
            "/api/v1/behaviors",
            json=behavior("acme", "api-cross"),
            headers={"Authorization": "Bearer globex-write-2"},
        )

    staging = tmp_path / "staging"
    assert own.status_code == 200, own.text
    assert [r.status_code for r in refused_sensors] == [403] * 5, [r.text for r in refused_sensors]
    assert api_unknown.status_code == 401 and api_query_token.status_code == 401
    assert api_mixed.status_code == 200
    assert api_mixed.json()["accepted"] == 1
    assert [r["index"] for r in api_mixed.json()["rejected"]] == [1]
    assert api_cross.status_code == 400 and "does not allow" in api_cross.text

    # Only what the tokens allowed reached the log; the acme half of the mixed batch too
    # was refused, since a request is accepted or refused whole.
    events = read_stream(staging, sa_events.CONTRACT)
    assert events["distinct_id"].to_pylist() == ["own"]
    assert events["project"].to_pylist() == ["acme"]
    stored = read_stream(staging, behaviors.CONTRACT)
    assert stored["user_id"].to_pylist() == ["api-own"]
    assert stored["tenant_id"].to_pylist() == ["acme"]
    # Every refusal is kept as a dead letter with its reason (5 + 2 + 1 + 1).
    letters = read_stream(staging, dead_letters.CONTRACT)
    assert letters.num_rows == 9
    assert all("token" in reason for reason in letters["reason"].to_pylist())


# -- 2. API tenant isolation ------------------------------------------------------------------


# The lakehouse overview's DWS tables as the embedded warehouse names them, with one row
# per tenant's project: the lake pipeline itself is tests/test_lake_warehouse.py's subject.
DWS_TABLES = (
    "CREATE TABLE IF NOT EXISTS lakehouse.dws_user_conversion_daily (dt String, project String, "
    "distinct_id String, events UInt64, converted UInt8, orders UInt64, "
    "order_amount Decimal(18, 2)) ENGINE = MergeTree ORDER BY tuple()",
    "CREATE TABLE IF NOT EXISTS lakehouse.dws_event_daily (dt String, project String, "
    "event_group String, event String, events UInt64) ENGINE = MergeTree ORDER BY tuple()",
)


def publish_tenant_rows(served: Served, client: redis.Redis, tenant: str) -> None:
    """What the API reads besides the rollups, with values naming the tenant, so any byte of
    another tenant in an answer is visible: DWS rows and the stream jobs' Redis keys."""
    today = f"{dt.datetime.now(dt.UTC):%Y-%m-%d}"
    served.clickhouse.execute_sql(
        "INSERT INTO lakehouse.dws_user_conversion_daily VALUES "
        "({dt:String}, {project:String}, {user:String}, 3, 1, 1, 9.5)",
        {"dt": today, "project": tenant, "user": f"{tenant}-user"},
    )
    served.clickhouse.execute_sql(
        "INSERT INTO lakehouse.dws_event_daily VALUES "
        "({dt:String}, {project:String}, 'core', {event:String}, 3)",
        {"dt": today, "project": tenant, "event": f"{tenant}-event"},
    )
    client.hset(f"metrics:realtime:{tenant}:home_feed", mapping={"window_end_ms": now_ms()})
    client.zadd(f"hot:items:{tenant}:home_feed", {f"{tenant}-hot-item": 1.0})


def without_as_of(answer: dict) -> dict:
    return {name: value for name, value in answer.items() if name != "as_of"}


@dataclass(frozen=True)
class Api:
    url: str
    redis_url: str
    log_path: Path
    served: Served


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API as production runs it (uvicorn, `ANALYTICS_API_TOKENS`) on a real ClickHouse
    server holding a day of generated traffic through the rollups, DWS rows and a real Redis.
    Unbuffered, so its log file is complete at any time."""
    root = tmp_path_factory.mktemp("api")
    first_hour = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(
        minute=0, second=0, microsecond=0
    )
    with (
        served_analytics(root, first_hour, 24, 6_000) as served,
        redis_server(root) as redis_url,
        pytest.MonkeyPatch.context() as patch,
    ):
        client = redis.Redis.from_url(redis_url)
        for statement in DWS_TABLES:
            served.clickhouse.execute_sql(statement)
        for tenant in ("acme", "globex"):
            publish_tenant_rows(served, client, tenant)
        patch.setenv("PYTHONUNBUFFERED", "1")
        with api_server(root, redis_url, API_TOKENS, served.environment()) as url:
            (log_path,) = root.glob("api-*.log")
            yield Api(url, redis_url, log_path, served)


def test_api_tenant_comes_only_from_the_bearer_token(api: Api) -> None:
    """tests/test_dashboard.py checks one endpoint against real numbers (and a `tenant_id`
    query parameter there); this checks every operation of the OpenAPI document against
    every way a client could try to name a tenant, and every way to fake a token."""
    with httpx.Client(base_url=api.url, timeout=10) as http:
        document = http.get("/openapi.json").json()
        paths = sorted(p for p, ops in document["paths"].items() if "get" in ops)
        assert len(paths) >= 7, paths
        declared = {
            parameter["name"].lower()
            for operations in document["paths"].values()
            for operation in operations.values()
            for parameter in operation.get("parameters", [])
        }
        assert not {name for name in declared if "tenant" in name or "project" in name}

        tenant_overrides = [
            {"params": {"tenant_id": "globex"}},
            {"params": {"tenant": "globex", "tenantId": "globex", "project": "globex"}},
            {"headers": {"X-Tenant-Id": "globex", "X-Tenant": "globex"}},
            {"headers": {"Cookie": "tenant_id=globex; tenant=globex"}},
        ]
        fake_credentials = [
            {},
            {"Authorization": "Bearer tok-unknown"},
            {"Authorization": "Bearer globex"},  # a tenant's name is not its token
            {"Authorization": "tok-acme-6c2f1e"},  # no scheme
            {"Authorization": "Basic " + base64.b64encode(b"acme:tok-acme-6c2f1e").decode()},
            {"X-Api-Token": "tok-acme-6c2f1e"},
        ]
        for path in paths:
            own = http.get(path, headers={"Authorization": ACME})
            assert own.status_code == 200 and own.json()["status"] == "ok", (path, own.text)
            assert own.json()["tenant_id"] == "acme" and "globex" not in own.text, path
            other = http.get(path, headers={"Authorization": GLOBEX})
            assert "globex" in other.text and "acme" not in other.text, path  # visible to its owner
            for override in tenant_overrides:
                headers = {"Authorization": ACME, **override.get("headers", {})}
                sneaky = http.get(path, params=override.get("params"), headers=headers)
                # as_of is the answer's own time; everything else is the same answer
                assert without_as_of(sneaky.json()) == without_as_of(own.json()), (path, override)
            for credentials in fake_credentials:
                refused = http.get(path, headers=credentials)
                assert refused.status_code == 401, (path, credentials, refused.text)
                assert refused.headers["www-authenticate"] == "Bearer"
                assert "acme" not in refused.text and "globex" not in refused.text

    # A token in the URL is refused too. In process on purpose: a server would write it to
    # its access log, which is why tokens travel only in the Authorization header.
    with ApiTestClient(
        create_api(api.served.service(), api.redis_url, tokens=API_TOKENS)
    ) as client:
        for name in ("token", "access_token", "api_key"):
            answer = client.get("/api/v1/dashboard", params={name: "tok-acme-6c2f1e"})
            assert answer.status_code == 401, name


# -- 3. SQL parameters bound everywhere -------------------------------------------------------

SCANNED_TREES = (
    "analytics_assets",
    "analytics_lib",
    "analytics_collector",
    "analytics_api",
    "analytics_demo",
    "flink",
)
# Methods whose first argument is SQL text (ClickHouse resource and clients, DB-API
# cursors/connections, chDB). `query`/`run_script`/`serving_query` take a SQL *file name*.
SQL_TEXT_CALLS = frozenset(
    {
        "execute",
        "executemany",
        "executescript",
        "command",
        "query_sql",
        "execute_sql",
        "send_insert",
        "query_arrow",
        "query_df",
    }
)
# Text that is a statement, or a clause with a value spliced in after its keyword.
SQL_SHAPE = re.compile(
    r"^\s*(SELECT|INSERT|DELETE|ALTER|CREATE|DROP|OPTIMIZE|REFRESH|UPDATE|TRUNCATE|RENAME|WITH)\b"
    r"|\b(FROM|JOIN|INTO|WHERE|VALUES|SETTINGS|LIMIT)\b.*\{\}",
    re.S,
)
# The only places that format SQL text, each (file, function) with why it is safe. A new
# entry needs the same: identifiers from a fixed list in code (never config, never a
# request), values still bound. Entries that no longer format anything fail the test.
SQL_FORMATTING_ALLOWED = {
    (
        "analytics_lib/warehouse.py",
        "EmbeddedWarehouseClient.refresh_day",
    ): "`lakehouse.<model>` for a key of MODELS; the SELECT is derived from sql/starrocks "
    "with {name:String} placeholders, and the day and locations are bound",
    (
        "analytics_lib/warehouse.py",
        "StarRocksWarehouseClient.refresh_day",
    ): "the view is MODELS[...].qualified_name (checked first); the days are bound %(...)s",
    (
        "flink/stream_jobs/clickhouse_sink.py",
        "insert_url",
    ): "constant table and the behaviors contract's column names; no values",
}


def _template(node: ast.AST) -> tuple[str, bool] | None:
    """For a string-building expression: its literal text with `{}` where values go, and
    whether any value is not a constant. None for anything else."""
    if isinstance(node, ast.JoinedStr):
        parts = [str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values]
        return "".join(parts), any(not isinstance(v, ast.Constant) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_text(node.left):
        return node.left.value, not isinstance(node.right, ast.Constant)  # type: ignore[attr-defined]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left), _template(node.right)
        if left or right or _is_text(node.left) or _is_text(node.right):
            left, right = left or _leaf(node.left), right or _leaf(node.right)
            return left[0] + right[0], left[1] or right[1]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        receiver = node.func.value
        if node.func.attr == "format" and _is_text(receiver):
            return receiver.value, bool(node.args or node.keywords)  # type: ignore[attr-defined]
        if node.func.attr == "replace" and len(node.args) == 2:
            return "{}", not isinstance(node.args[1], ast.Constant)
    return None


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _leaf(node: ast.AST) -> tuple[str, bool]:
    return (node.value, False) if _is_text(node) else ("{}", True)  # type: ignore[attr-defined]


class SqlFormatting(ast.NodeVisitor):
    """Finds SQL text built by formatting values in: f-strings, `%`, `.format()`,
    concatenation or `.replace()` that look like SQL, or that are handed to a method
    executing SQL text."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.scope: list[str] = []
        self.found: dict[tuple[int, int], tuple[str, str, int, str]] = {}

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def _report(self, node: ast.AST) -> None:
        where = ".".join(self.scope) or "<module>"
        key = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
        self.found.setdefault(key, (self.path, where, key[0], ast.unparse(node)[:120]))

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and node.func.attr in SQL_TEXT_CALLS:
            texts = [*node.args[:1]]
            texts += [k.value for k in node.keywords if k.arg in ("sql", "query", "statement")]
            for text in texts:
                template = _template(text)
                if template and template[1]:
                    self._report(text)
        self.generic_visit(node)

    def generic_visit(self, node: ast.AST) -> None:
        template = _template(node)
        if template and template[1] and SQL_SHAPE.search(template[0]):
            self._report(node)
        super().generic_visit(node)


def sql_formatting_in(source: str, path: str = "") -> list[tuple[str, str, int, str]]:
    finder = SqlFormatting(path)
    finder.visit(ast.parse(source))
    return sorted(finder.found.values(), key=lambda found: found[2])


def test_sql_text_is_never_formatted_with_values() -> None:
    """The grep-able rule: no SQL text in the Python packages or flink/ is built by
    formatting; values are bound by the driver ({name:Type}, %(name)s, ?). The scanner
    first proves it catches each way of formatting."""
    caught = sql_formatting_in(
        "def leaky(cursor, clickhouse, user, table, value):\n"
        "    clickhouse.query_sql(f\"SELECT * FROM t WHERE user_id = '{user}'\")\n"
        "    cursor.execute('DELETE FROM t WHERE id = %s' % value)\n"
        "    cursor.execute('SELECT {}'.format(value))\n"
        "    sql = 'SELECT * FROM t WHERE a = ' + value\n"
        "    cursor.execute(TEMPLATE.replace('{table}', table))\n"
        "    message = f'run OPTIMIZE TABLE {table} by hand'\n"
        "    clickhouse.query(f'dashboard/{table}', {'user': user})\n"
        "    cursor.execute('SELECT * FROM t WHERE a = %(a)s', {'a': value})\n"
    )
    assert [line for _, _, line, _ in caught] == [2, 3, 4, 5, 6]

    found = [
        finding
        for tree in SCANNED_TREES
        for path in sorted((PROJECT_ROOT / tree).rglob("*.py"))
        for finding in sql_formatting_in(path.read_text(), str(path.relative_to(PROJECT_ROOT)))
    ]
    unexplained = [f for f in found if (f[0], f[1]) not in SQL_FORMATTING_ALLOWED]
    assert not unexplained, "SQL built by formatting; bind the values instead:\n" + "\n".join(
        f"{path}:{line} in {where}: {code}" for path, where, line, code in unexplained
    )
    stale = set(SQL_FORMATTING_ALLOWED) - {(f[0], f[1]) for f in found}
    assert not stale, f"allow-list entries that format nothing any more: {sorted(stale)}"


# Per engine, the one placeholder syntax its driver binds.
BOUND_PLACEHOLDER = {
    "clickhouse": re.compile(r"\{[a-z_][a-z0-9_]*:[A-Za-z][A-Za-z0-9(), ']*\}"),  # {name:Type}
    "starrocks": re.compile(r"%\([a-z_][a-z0-9_]*\)s"),  # pymysql pyformat
    "paimon_locks": re.compile(r"\?"),  # DB-API qmark (pypaimon's JDBC catalog drivers)
}
# The one identifier slot in a SQL file: StarRocks cannot bind a view name; the caller
# substitutes MODELS[...].qualified_name (see SQL_FORMATTING_ALLOWED).
SQL_FILE_IDENTIFIER_SLOTS = {"starrocks/refresh_partition.sql": ["{view}"]}


def test_sql_files_use_only_bound_parameters() -> None:
    """Every file under sql/ uses only its engine's bound placeholders: no untyped
    `{name}` a Python `.format` would fill, no other driver's syntax."""
    engines = sorted(p.name for p in SQL_DIR.iterdir() if p.is_dir())
    assert engines == sorted(BOUND_PLACEHOLDER), "a new engine needs its placeholder rule"
    checked = 0
    for engine, placeholder in BOUND_PLACEHOLDER.items():
        for path in sorted((SQL_DIR / engine).rglob("*.sql")):
            name = str(path.relative_to(SQL_DIR))
            code = "\n".join(line.split("--")[0] for line in path.read_text().splitlines())
            slots = SQL_FILE_IDENTIFIER_SLOTS.get(name, [])
            untyped = [
                brace
                for brace in re.findall(r"\{[^}]*\}", code)
                if not BOUND_PLACEHOLDER["clickhouse"].fullmatch(brace)
            ]
            assert untyped == slots, f"{name}: untyped placeholders {untyped}"
            # Outside string literals ('%Y-%m-%d', strftime('%s', …)) only the bound syntax.
            rest = re.sub(r"'(?:[^']|'')*'", "''", code)
            for slot in slots:
                rest = rest.replace(slot, "")
            rest = placeholder.sub("", rest)
            foreign = [syntax for syntax in ("{", "%(", "%s", "?") if syntax in rest]
            assert not foreign, f"{name}: placeholders of another driver {foreign}"
            checked += 1
    assert checked >= 30


# -- 4. payload size limits -------------------------------------------------------------------


def gzip_bomb(size: int) -> str:
    """A Sensors `data_list` that is a few KB on the wire and `size` bytes of JSON."""
    records = [sensors_record("bomb", properties={"padding": " " * size})]
    return encode_records(records)


def test_oversized_and_inflating_payloads_get_413_and_are_not_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/test_collector_app.py::test_oversized_requests_get_413_and_are_kept_as_dead_letters
    covers an oversized /sa body and an announced gzip bomb; here the behavior API (declared
    and streamed bodies, too many behaviors), an unannounced gzip bomb, a bomb in an image
    beacon's URL and too many Sensors records — none stores an event, each a dead letter.
    (The analytics API takes no request bodies: it is GET only.)"""
    monkeypatch.setenv("RAW_LOG_ROOT", str(tmp_path / "staging"))
    limits = DecodeLimits(max_body_bytes=10_000, max_decoded_bytes=50_000, max_records=100)
    settings = CollectorSettings(buffer_dir=tmp_path / "buffer", limits=limits)
    bomb = gzip_bomb(1_000_000)
    assert len(bomb) < 5_000  # small on the wire: only the decode limit can stop it
    unannounced = base64.b64encode(
        zlib.compress(orjson.dumps([sensors_record("b", padding=" " * 100_000)]), wbits=31)
    ).decode()
    too_many = [sensors_record(f"d{i}") for i in range(101)]
    declared_body = orjson.dumps([behavior("acme", "u" * 200)] * 60)
    assert len(declared_body) > limits.max_body_bytes

    def streamed() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        yield b"["
        for _ in range(30):
            yield orjson.dumps(behavior("acme", "u" * 300)) + b","
        yield orjson.dumps(behavior("acme", "last")) + b"]"

    with TestClient(create_collector(settings)) as http:
        answers = {
            "behaviors, declared": http.post("/api/v1/behaviors", content=declared_body),
            "behaviors, streamed": http.post("/api/v1/behaviors", content=streamed()),
            "behaviors, too many": http.post(
                "/api/v1/behaviors", json=[behavior("acme", f"u{i}") for i in range(101)]
            ),
            "sa, unannounced gzip": http.post("/sa", data={"data_list": unannounced, "gzip": "0"}),
            "sa.gif, bomb in URL": http.get("/sa.gif", params={"data": bomb, "gzip": "1"}),
            "sa, too many records": http.post(
                "/sa", data={"data_list": encode_records(too_many), "gzip": "1"}
            ),
        }
    staging = tmp_path / "staging"
    assert {what: a.status_code for what, a in answers.items()} == dict.fromkeys(answers, 413)
    assert read_stream(staging, sa_events.CONTRACT).num_rows == 0
    assert read_stream(staging, behaviors.CONTRACT).num_rows == 0
    letters = read_stream(staging, dead_letters.CONTRACT).to_pylist()
    assert len(letters) == len(answers)
    assert sorted(letter["source"] for letter in letters) == sorted(
        ["behaviors_api"] * 3 + ["sa"] * 3
    )
    assert all(len(letter["payload"]) <= MAX_DEAD_LETTER_PAYLOAD for letter in letters)
    assert len(declared_body) in [letter["payload_bytes"] for letter in letters]
    reasons = " | ".join(letter["reason"] for letter in letters)
    assert "inflates beyond 50000 bytes" in reasons and "exceed the limit of 100" in reasons


# -- 5. no secrets in logs --------------------------------------------------------------------


class Receiver:
    """A loopback HTTP server playing Slack's Web API and a webhook that fails: the
    notifier's error path is where a secret URL leaks into messages."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (path, Authorization header)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append((self.path, self.headers.get("authorization", "")))
                if self.path.startswith("/slack/"):
                    answer = json.dumps({"ok": True}).encode()
                    self.send_response(200)
                else:
                    answer = b"down"
                    self.send_response(500)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    thread.join(5)


def test_dagster_runs_never_show_resource_secrets(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    receiver: Receiver,
    clickhouse_url: str,
) -> None:
    """The code location built from an environment full of secrets (definitions.py as
    deployed): a run that uses the S3 keys (a real S3 endpoint), a run that fails on the
    MongoDB URI, and the alert sensor sending with the Slack token and failing on the
    webhook URL. No secret in the event log, the compute logs, the run config, the job
    snapshot the UI shows resources from, the sensor's messages or the process output."""
    secrets = {
        "REDIS_URL": "redis://:SECRET-redis-4f1c@127.0.0.1:1/0",
        "MONGODB_URI": "mongodb://analytics:SECRET-mongo-9b2e@127.0.0.1:1/",
        "ALERT_SLACK_TOKEN": "xoxb-SECRET-slack-77aa",
        "ALERT_WEBHOOK_URL": f"{receiver.url}/hook/SECRET-webhook-31d0",
        "STARROCKS_PASSWORD": "SECRET-starrocks-5e6f",
        "PAIMON_JDBC_PASSWORD": "SECRET-jdbc-0c3d",
    }
    plain = {
        "ANALYTICS_DATA_DIR": str(tmp_path / "data"),
        "CLICKHOUSE_URL": clickhouse_url,  # the test server has no password to leak
        "RAW_LOG_ROOT": "s3://staging/raw",
        "ALERT_SLACK_CHANNEL": "#alerts",
        "STARROCKS_HOST": "127.0.0.1",
    }
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hour -= dt.timedelta(hours=2)
    with seaweedfs_s3(tmp_path / "s3", buckets=("staging",)) as s3:
        s3_env = {
            "RAW_LOG_S3_ENDPOINT_URL": s3.url,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        }
        for name, value in {**secrets, **plain, **s3_env}.items():
            monkeypatch.setenv(name, value)
        RawEventLog(
            root=plain["RAW_LOG_ROOT"],
            s3_endpoint_url=s3.url,
            s3_access_key_id=s3.access_key,
            s3_secret_access_key=s3.secret_key,
        ).write(behaviors.CONTRACT, generate_behaviors(hour, hour + dt.timedelta(minutes=30), 300))
        defs = runpy.run_path(str(PROJECT_ROOT / "definitions.py"))["defs"]
        job = defs.resolve_implicit_global_asset_job_def()
        (tmp_path / "home").mkdir()
        with instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
            loaded = job.execute_in_process(
                instance=instance,
                asset_selection=[AssetKey("user_behaviors")],
                partition_key=partition_key(hour),
                raise_on_error=False,
            )
            configuration = job.execute_in_process(
                instance=instance,
                asset_selection=[
                    AssetKey(["mongodb", name])
                    for name in ("scenarios", "items", "models", "experiments", "user_profiles")
                ],
                raise_on_error=False,
            )
            notifier = AlertNotifier(
                slack_token=EnvVar("ALERT_SLACK_TOKEN"),
                slack_channel="#alerts",
                slack_api_url=f"{receiver.url}/slack/",
                webhook_url=EnvVar("ALERT_WEBHOOK_URL"),
            )
            context = build_sensor_context(
                instance=instance, definitions=defs, resources={"alert_notifier": notifier}
            )
            tick = alert_sensor(context)
            runs = [loaded, configuration]
            shown = (
                [serialize_value(instance.all_logs(r.run_id)) for r in runs]
                + [serialize_value(instance.get_run_by_id(r.run_id).run_config) for r in runs]
                + [
                    serialize_value(
                        instance.get_job_snapshot(instance.get_run_by_id(r.run_id).job_snapshot_id)
                    )
                    for r in runs
                ]
            )
    compute_logs = sorted((tmp_path / "home" / "storage").rglob("compute_logs/*.err"))
    output = capfd.readouterr()

    # The secrets were really used: S3 staging was read, MongoDB was tried and failed,
    # and the sensor sent the token to "Slack" and posted to the webhook.
    assert loaded.success
    assert loaded.asset_materializations_for_node("user_behaviors")
    assert not configuration.success
    slack = f"Bearer {secrets['ALERT_SLACK_TOKEN']}"
    assert ("/slack/chat.postMessage", slack) in receiver.requests
    assert ("/hook/SECRET-webhook-31d0", "") in receiver.requests
    assert "alert not delivered" in output.err and "retry" in str(tick)
    assert len(compute_logs) == 2 and all(path.stat().st_size > 0 for path in compute_logs)
    assert (
        "ServerSelectionTimeoutError" in compute_logs[0].read_text() + compute_logs[1].read_text()
    )

    places = {
        "event log, run config, job snapshot": "\n".join(shown),
        "compute logs": "\n".join(path.read_text() for path in compute_logs),
        "sensor result": str(tick) + (context.cursor or ""),
        "process output": output.out + output.err,
    }
    passwords = [
        "SECRET-redis-4f1c",
        "SECRET-mongo-9b2e",
        secrets["ALERT_SLACK_TOKEN"],
        "SECRET-webhook-31d0",
        "SECRET-starrocks-5e6f",
        "SECRET-jdbc-0c3d",
        s3.secret_key,
    ]
    leaks = [
        (secret, place) for place, text in places.items() for secret in passwords if secret in text
    ]
    assert not leaks


def test_services_never_log_tokens(api: Api, tmp_path: Path) -> None:
    """The collector and API processes as deployed: their logs never carry a token (nor
    the Redis password of the collector's whitelist URL), and the collector's dead
    letters keep a refused request without its token."""
    tokens = {"collector-tok-5a1b": ["acme"]}
    whitelist_password = "SECRET-whitelist-8d1e"
    environment = {
        "COLLECTOR_TOKENS": json.dumps(tokens),
        # unreachable: every group logs a whitelist warning, so the log is not empty
        "COLLECTOR_REDIS_URL": f"redis://:{whitelist_password}@127.0.0.1:1/0",
        "PYTHONUNBUFFERED": "1",
    }
    payload = {"data": encode_records([sensors_record("d")]), "gzip": "1"}
    with (
        collector_process(tmp_path, environment) as collector,
        httpx.Client(base_url=collector.url, timeout=10) as http,
    ):
        accepted = http.post(
            "/sa?project=acme",
            data=payload,
            headers={"Authorization": "Bearer collector-tok-5a1b"},
        )
        in_query = http.post("/sa?project=globex&token=collector-tok-5a1b", data=payload)
        in_body = http.post("/sa?project=globex", data={**payload, "token": "collector-tok-5a1b"})
        wrong = http.post(
            "/api/v1/behaviors",
            json=behavior("acme", "u"),
            headers={"Authorization": "Bearer tok-typo"},
        )
    with httpx.Client(base_url=api.url, timeout=10) as http:
        for token in API_TOKENS:
            assert http.get(
                "/api/v1/dashboard", headers={"Authorization": f"Bearer {token}"}
            ).is_success
        assert (
            http.get("/api/v1/dashboard", headers={"Authorization": "Bearer tok-wrong"}).status_code
            == 401
        )
    assert accepted.status_code == 200 and in_query.status_code == 403
    assert in_body.status_code == 403 and wrong.status_code == 401

    collector_log = collector.log_path.read_text()
    api_log = api.log_path.read_text()
    assert "whitelist lookup" in collector_log  # the log has content to leak into
    assert '"GET /api/v1/dashboard HTTP/1.1" 200' in api_log
    for secret in ("collector-tok-5a1b", whitelist_password):
        assert secret not in collector_log, secret
    for token in [*API_TOKENS, "tok-wrong"]:
        assert token not in api_log, token

    letters = read_stream(collector.staging, dead_letters.CONTRACT)
    assert letters.num_rows == 3
    payloads = b"\n".join(letters["payload"].to_pylist())
    assert b"project=globex&token=<redacted>" in payloads
    assert b"collector-tok-5a1b" not in payloads


def test_flink_job_settings_carry_no_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Job settings show in the Flink UI and the `flink run` command line. The ClickHouse
    sink's password is covered by tests/test_stream_logic.py::
    test_dagster_side_speaks_the_jobs_settings_and_status_keys; here the Redis password
    and the raw log's S3 keys, and the jobs still authenticate from their environment."""
    realtime = RealtimeRedis(url="redis://writer:SECRET-redis-2b7d@redis.internal:6379/3")
    raw_event_log = RawEventLog(
        root="s3://staging/raw",
        s3_access_key_id="AKIA-SECRET-ID-61f0",
        s3_secret_access_key="SECRET-s3-key-a9e4",
    )
    for job in STREAM_JOBS:
        settings = job_settings(
            job,
            FlinkResource(dead_letter_dir=str(tmp_path / "dead")),
            raw_event_log,
            realtime,
            ClickHouseSinkTarget(),
        )
        text = json.dumps(settings)
        for secret in ("SECRET-redis-2b7d", "AKIA-SECRET-ID-61f0", "SECRET-s3-key-a9e4"):
            assert secret not in text, (job.name, secret)
        parsed = JobSettings.from_json(text)
        assert parsed.redis_url == "redis://writer@redis.internal:6379/3"

    monkeypatch.setenv(redis_io.PASSWORD_VARIABLE, "SECRET-redis-2b7d")
    connection = redis_io.connect(parsed.redis_url).connection_pool.connection_kwargs
    assert connection["password"] == "SECRET-redis-2b7d" and connection["username"] == "writer"
    assert connection["host"] == "redis.internal" and connection["db"] == 3
