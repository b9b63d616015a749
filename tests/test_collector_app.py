"""The collector app in process (Starlette TestClient), with the real disk buffer, real
Redis and a real MaxMind-format database; the log is read back from staging files."""

import datetime as dt
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow.compute as pc
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from analytics_collector.app import PIXEL_GIF, create_app
from analytics_collector.sensors_protocol import encode_records, java_string_hash
from analytics_collector.settings import CollectorSettings
from analytics_lib.raw_log import behaviors, dead_letters, sa_events
from tests.support.geoip import write_city_database
from tests.support.servers import redis_server
from tests.support.staging import read_stream

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAW_LOG_ROOT", str(tmp_path / "staging"))
    return tmp_path / "staging"


def settings_for(tmp_path: Path, **overrides: object) -> CollectorSettings:
    return CollectorSettings(buffer_dir=tmp_path / "buffer", max_segment_seconds=60, **overrides)


def now_ms() -> int:
    return int(time.time() * 1000)


def all_record_types(distinct_id: str) -> list[dict[str, object]]:
    base = {"distinct_id": distinct_id, "time": now_ms(), "lib": {"$lib": "python"}}
    return [
        {
            **base,
            "type": "track",
            "event": "RecClick",
            "_track_id": 1,
            "properties": {"scenario_id": "home_feed", "item_id": "i-1", "$ip": "1.2.3.4"},
        },
        {**base, "type": "track", "event": "$pageview", "_track_id": 2, "properties": {}},
        {
            **base,
            "type": "track_signup",
            "event": "$SignUp",
            "original_id": "anon-1",
            "properties": {},
        },
        {
            **base,
            "type": "track_id_bind",
            "event": "$BindID",
            "identities": {"$identity_login_id": "L1"},
            "properties": {},
        },
        {
            **base,
            "type": "track_id_unbind",
            "event": "$UnbindID",
            "identities": {"$identity_login_id": "L1"},
            "properties": {},
        },
        {**base, "type": "profile_set", "properties": {"city": "Beijing"}},
        {**base, "type": "profile_set_once", "properties": {"first_visit": "2026-01-01"}},
        {**base, "type": "profile_increment", "properties": {"visits": 1}},
        {**base, "type": "profile_append", "properties": {"tags": ["a", "b"]}},
        {**base, "type": "profile_unset", "properties": {"city": True}},
        {**base, "type": "profile_delete", "properties": {}},
        {
            **base,
            "type": "item_set",
            "item_type": "book",
            "item_id": "b-1",
            "properties": {"price": 3.5},
        },
        {**base, "type": "item_delete", "item_type": "book", "item_id": "b-1", "properties": {}},
    ]


def test_every_record_type_arrives_decoded_and_enriched(
    tmp_path: Path, staging: Path, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("user_whitelist:vip", '{"tier": "gold"}')
    settings = settings_for(
        tmp_path,
        redis_url=redis_url,
        geoip_database=str(write_city_database(tmp_path / "city.mmdb")),
    )
    vip, stranger = all_record_types("vip"), all_record_types("stranger")
    with TestClient(create_app(settings)) as http:
        body = urllib.parse.urlencode({"data_list": encode_records(vip + stranger), "gzip": "1"})
        answer = http.post(
            "/sa?project=acme",
            content=body,
            headers={"Content-Type": "text/plain", "User-Agent": CHROME},
        )
        assert answer.status_code == 200, answer.text
        metrics = http.get("/metrics").text
    events = read_stream(staging, sa_events.CONTRACT).to_pylist()
    assert sorted(e["type"] for e in events) == sorted(r["type"] for r in vip + stranger)
    by_key = {(e["distinct_id"], e["type"], e["event"]): e for e in events}
    click = by_key[("vip", "track", "RecClick")]
    assert click["project"] == "acme"
    assert click["ua_browser"] == "Chrome" and click["ua_os"] == "Windows"
    assert orjson.loads(click["geoip"])["city"] == "Beijing"
    assert click["remote_addr"] == "1.2.3.4"
    assert click["redis_meta"] == '{"tier": "gold"}'
    assert click["is_valid"] and click["event_group"] == "CORE"
    assert click["dedup_key"] == f"1|vip|{vip[0]['time']}"
    assert orjson.loads(click["properties"])["item_id"] == "i-1"
    stranger_click = by_key[("stranger", "track", "RecClick")]
    assert not stranger_click["is_valid"]
    assert stranger_click["invalid_reason"] == "not in the whitelist"
    pageview = by_key[("stranger", "track", "$pageview")]
    assert pageview["event_group"] == "DEBUG" and pageview["is_valid"]
    assert by_key[("vip", "item_set", None)]["item_id"] == "b-1"
    assert by_key[("vip", "track_signup", "$SignUp")]["original_id"] == "anon-1"
    # only the whitelisted RecClick maps onto a behavior
    mapped = read_stream(staging, behaviors.CONTRACT).to_pylist()
    assert [(b["tenant_id"], b["user_id"], b["item_id"], b["action_type"]) for b in mapped] == [
        ("acme", "vip", "i-1", "click")
    ]
    assert mapped[0]["ip"] == "1.2.3.4" and mapped[0]["location"] == "Beijing"
    assert 'collector_events_accepted_total{stream="sa_events"} 26.0' in metrics
    stranger_core = [r for r in stranger if not str(r.get("event", "")).startswith("$")]
    assert sum(not e["is_valid"] for e in events) == len(stranger_core) == 9
    assert f"collector_events_invalid_total {len(stranger_core)}.0" in metrics
    assert "collector_whitelist_lookups_total 2.0" in metrics


def test_image_beacon_get_with_crc_answers_a_gif(tmp_path: Path, staging: Path) -> None:
    record = {"type": "track", "event": "ViewItem", "distinct_id": "w", "time": now_ms()}
    data = encode_records([record], gzip=False)
    with TestClient(create_app(settings_for(tmp_path))) as http:
        ok = http.get(
            "/sa.gif",
            params={"project": "web", "data": data, "ext": f"crc={java_string_hash(data)}"},
            headers={"User-Agent": IPHONE, "Origin": "https://shop.example"},
        )
        tampered = http.get("/sa.gif", params={"data": data, "ext": "crc=1"})
    assert ok.status_code == 200 and ok.content == PIXEL_GIF and len(PIXEL_GIF) == 43
    assert ok.headers["content-type"] == "image/gif"
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    assert tampered.status_code == 400 and "crc mismatch" in tampered.text
    events = read_stream(staging, sa_events.CONTRACT)
    assert events["ua_os"].to_pylist() == ["iOS"] and events["project"].to_pylist() == ["web"]
    letters = read_stream(staging, dead_letters.CONTRACT).to_pylist()
    assert [letter["reason"] for letter in letters] == [
        "crc mismatch: the data parameter was altered in transit"
    ]
    assert data.encode() in letters[0]["payload"] or b"data=" in letters[0]["payload"]


def test_debug_endpoint_dry_run_and_cors_preflight(tmp_path: Path, staging: Path) -> None:
    good = encode_records([{"type": "track", "event": "Ok", "distinct_id": "d", "time": now_ms()}])
    bad = encode_records(
        [
            {
                "type": "track",
                "event": "Ok",
                "distinct_id": "d",
                "time": now_ms(),
                "properties": {"user_id": 1},
            }
        ]
    )
    with TestClient(create_app(settings_for(tmp_path))) as http:
        preflight = http.options(
            "/debug",
            headers={
                "Origin": "https://a.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "dry-run",
            },
        )
        dry = http.post("/debug", data={"data": good, "gzip": "1"}, headers={"Dry-Run": "true"})
        wet = http.post("/debug", data={"data": good, "gzip": "1"}, headers={"Dry-Run": "false"})
        refused = http.post("/debug", data={"data": bad, "gzip": "1"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-headers"] == "dry-run"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert dry.status_code == 200 and "dry run" in dry.text
    assert wet.status_code == 200
    assert refused.status_code == 400 and "reserved" in refused.text
    assert read_stream(staging, sa_events.CONTRACT).num_rows == 1  # only the wet run


def test_tokens_keep_projects_and_tenants_apart(tmp_path: Path, staging: Path) -> None:
    settings = settings_for(tmp_path, tokens={"acme-secret": frozenset({"acme"})})
    record = {"type": "track", "event": "E", "distinct_id": "d", "time": now_ms()}
    behavior = {
        "tenant_id": "acme",
        "scenario_id": "s",
        "user_id": "u",
        "item_id": "i",
        "action_type": "click",
    }
    with TestClient(create_app(settings)) as http:
        own = http.post(
            "/sa?project=acme&token=acme-secret",
            data={"data": encode_records([record], gzip=False)},
        )
        other = http.post(
            "/sa?project=globex&token=acme-secret",
            data={"data": encode_records([record], gzip=False)},
        )
        anonymous = http.post(
            "/sa?project=acme", data={"data": encode_records([record], gzip=False)}
        )
        sneaky = http.post(
            "/sa?project=acme&token=acme-secret",
            data={"data": encode_records([{**record, "project": "globex"}], gzip=False)},
        )
        api_own = http.post(
            "/api/v1/behaviors", json=behavior, headers={"Authorization": "Bearer acme-secret"}
        )
        api_other = http.post(
            "/api/v1/behaviors",
            json={**behavior, "tenant_id": "globex"},
            headers={"Authorization": "Bearer acme-secret"},
        )
        api_anonymous = http.post("/api/v1/behaviors", json=behavior)
    assert own.status_code == 200
    assert other.status_code == 403 and sneaky.status_code == 403 and anonymous.status_code == 403
    assert api_own.json() == {"accepted": 1, "rejected": []}
    assert api_other.status_code == 400 and "does not allow" in api_other.text
    assert api_anonymous.status_code == 401
    assert read_stream(staging, sa_events.CONTRACT)["project"].to_pylist() == ["acme"]
    assert read_stream(staging, behaviors.CONTRACT)["tenant_id"].to_pylist() == ["acme"]
    reasons = read_stream(staging, dead_letters.CONTRACT)["reason"].to_pylist()
    assert len(reasons) == 5 and all("token" in r for r in reasons)


def test_behavior_api_single_batch_camel_case_and_reasons(tmp_path: Path, staging: Path) -> None:
    event_id = "6b1d8c53-5f0e-4a8e-9d33-3f2a1c0b7e10"
    # an ISO time inside the accepted window whatever the day the test runs
    sent_at = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    batch = [
        {
            "tenant_id": "acme",
            "scenario_id": "home_feed",
            "user_id": "u1",
            "item_id": "i1",
            "action_type": "view",
            "event_id": event_id,
            "timestamp": sent_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "context": {
                "device_type": "mobile",
                "os": "iOS",
                "location": "Beijing",
                "ip": "8.8.8.8",
            },
            "watch_duration": 42,
            "completion_rate": 0.5,
            "experiment_id": "ranker_v2",
            "experiment_group": "treatment",
        },
        {
            "tenantId": "acme",
            "scenarioId": "search",
            "userId": "u2",
            "itemId": "i2",
            "action": "click",
        },
        {
            "tenant_id": "acme",
            "scenario_id": "s",
            "user_id": "u",
            "item_id": "i",
            "action_type": "purchase",
        },
        {
            "tenant_id": "acme",
            "scenario_id": "s",
            "user_id": "u",
            "item_id": "i",
            "action_type": "click",
            "completion_rate": 7,
        },
        "not an object",
    ]
    with TestClient(create_app(settings_for(tmp_path))) as http:
        single = http.post("/api/v1/behaviors", json=batch[1])
        answer = http.post("/api/v1/behaviors", json={"behaviors": batch})
        garbage = http.post("/api/v1/behaviors", content=b"{not json")
    assert single.json() == {"accepted": 1, "rejected": []}
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 2
    assert [r["index"] for r in answer.json()["rejected"]] == [2, 3, 4]
    assert "action_type 'purchase'" in answer.json()["rejected"][0]["reason"]
    assert garbage.status_code == 400
    stored = read_stream(staging, behaviors.CONTRACT).to_pylist()
    first = next(row for row in stored if row["event_id"] == event_id)
    assert first["timestamp"] == sent_at
    assert (first["os"], first["ip"], first["watch_duration"]) == ("iOS", "8.8.8.8", 42)
    assert sorted(row["user_id"] for row in stored) == ["u1", "u2", "u2"]
    assert read_stream(staging, dead_letters.CONTRACT).num_rows == 4


def test_redis_outage_is_counted_and_marked_not_fatal(tmp_path: Path, staging: Path) -> None:
    settings = settings_for(tmp_path, redis_url="redis://127.0.0.1:1/0")
    record = {"type": "track", "event": "E", "distinct_id": "d", "time": now_ms()}
    with TestClient(create_app(settings)) as http:
        answer = http.post("/sa", data={"data": encode_records([record], gzip=False)})
        metrics = http.get("/metrics").text
    assert answer.status_code == 200
    assert "collector_whitelist_lookup_errors_total 1.0" in metrics
    events = read_stream(staging, sa_events.CONTRACT)
    assert events["invalid_reason"].to_pylist() == ["whitelist lookup failed (Redis unavailable)"]


def test_oversized_requests_get_413_and_are_kept_as_dead_letters(
    tmp_path: Path, staging: Path
) -> None:
    settings = settings_for(tmp_path)
    settings = CollectorSettings(
        buffer_dir=settings.buffer_dir,
        limits=type(settings.limits)(max_body_bytes=10_000, max_decoded_bytes=50_000),
    )
    bomb = encode_records([{"type": "track", "padding": " " * 1_000_000}])
    with TestClient(create_app(settings)) as http:
        too_big = http.post("/sa", content=b"data=" + b"A" * 20_000)
        inflating = http.post("/sa", data={"data_list": bomb, "gzip": "1"})
    assert too_big.status_code == 413 and inflating.status_code == 413
    letters = read_stream(staging, dead_letters.CONTRACT)
    assert sorted(letters["payload_bytes"].to_pylist())[-1] >= 20_000
    assert pc.all(pc.greater(letters["payload_bytes"], 0)).as_py()


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAW_LOG_ROOT", str(root / "staging"))
        with TestClient(create_app(settings_for(root))) as http:
            yield http


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/sa", "/sa.gif", "/debug", "/api/v1/behaviors"]),
    body=st.one_of(
        st.binary(max_size=500),
        st.builds(
            lambda d, g: urllib.parse.urlencode({"data_list": d, "gzip": g}).encode(),
            st.text(max_size=300),
            st.sampled_from(["0", "1", "9", "x"]),
        ),
        st.recursive(
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20)),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=20,
        ).map(orjson.dumps),
    ),
)
def test_fuzzed_requests_never_get_a_5xx(fuzz_client: TestClient, path: str, body: bytes) -> None:
    answer = fuzz_client.post(path, content=body, headers={"Content-Type": "text/plain"})
    assert answer.status_code in (200, 400, 403, 413), answer.text


def test_collector_behaviors_load_into_clickhouse(
    tmp_path: Path, staging: Path, clickhouse_url: str
) -> None:
    """The behaviors stream the collector writes is what `user_behaviors` loads: both
    front doors, one hour, row for row."""
    from analytics_assets.resources.clickhouse import ClickHouseResource
    from analytics_assets.resources.raw_event_log import RawEventLog
    from analytics_demo.traffic import generate_behaviors, send_to_collector
    from tests.conftest import materialize_behavior

    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    table = generate_behaviors(hour, hour + dt.timedelta(minutes=30), 400, seed=3)
    with TestClient(create_app(settings_for(tmp_path))) as http:
        send_to_collector(http, "", table)  # TestClient is an httpx client on the app
    clickhouse = ClickHouseResource(url=clickhouse_url)
    result = materialize_behavior(
        clickhouse, RawEventLog(root=str(staging)), hour, selection=("user_behaviors",)
    )
    assert result.success
    with clickhouse.opened():
        loaded = clickhouse.query_sql(
            "SELECT action_type, count() AS n FROM user_behaviors GROUP BY action_type"
        )
    expected = pc.value_counts(table["action_type"]).to_pylist()
    assert dict(zip(loaded["action_type"], loaded["n"], strict=True)) == {
        e["values"]: e["counts"] for e in expected
    }


def test_event_times_outside_the_raw_log_are_refused_at_both_doors(
    tmp_path: Path, staging: Path
) -> None:
    """One rule for both front doors (`raw_log.event_time`): more than 24 h ahead of the
    server clock, or older than the 90-day raw retention, never reaches a partition that no
    load reads and no retention deletes. Just inside both limits is accepted."""
    day = 86_400_000
    edge_times = [now_ms() + 23 * 3_600_000, now_ms() - 88 * day]
    bad_times = [99_999_999_999_999, now_ms() + 25 * 3_600_000, now_ms() - 91 * day]
    behavior = {
        "tenant_id": "acme",
        "scenario_id": "s",
        "user_id": "u",
        "item_id": "i",
        "action_type": "click",
    }
    sensors = [
        {"type": "track", "event": "E", "distinct_id": "d", "time": t, "_track_id": n}
        for n, t in enumerate(edge_times + bad_times)
    ]
    with TestClient(create_app(settings_for(tmp_path))) as http:
        answer = http.post(
            "/api/v1/behaviors",
            json=[{**behavior, "timestamp": t} for t in edge_times + bad_times],
        )
        sa = http.post("/sa", data={"data_list": encode_records(sensors)})
    assert answer.status_code == 200 and sa.status_code == 200
    assert answer.json()["accepted"] == 2
    rejected = answer.json()["rejected"]
    assert [r["index"] for r in rejected] == [2, 3, 4]
    assert "ahead of the server clock" in rejected[0]["reason"]
    assert "ahead of the server clock" in rejected[1]["reason"]
    assert "90-day raw retention" in rejected[2]["reason"]
    stored = read_stream(staging, behaviors.CONTRACT)["timestamp"].cast("int64").to_pylist()
    assert sorted(stored) == sorted(edge_times)
    sa_times = read_stream(staging, sa_events.CONTRACT)["time"].cast("int64").to_pylist()
    assert sorted(sa_times) == sorted(edge_times)
    reasons = read_stream(staging, dead_letters.CONTRACT)["reason"].to_pylist()
    assert sum("ahead of the server clock" in r for r in reasons) == 4
    assert sum("raw retention" in r for r in reasons) == 2
    newest_day = dt.datetime.fromtimestamp(max(edge_times) / 1000, dt.UTC).date()
    days = sorted(p.name for p in staging.glob("*/dt=*"))
    assert days and all(name <= f"dt={newest_day}" for name in days), days
