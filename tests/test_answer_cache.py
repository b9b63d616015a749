"""The API's answer cache (analytics_api.answer_cache): identical requests share one
computation for its lifetime, failures are never kept, and 0 turns it off."""

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from analytics_api.answer_cache import MAX_BYTES, AnswerCache
from analytics_api.app import create_app
from analytics_api.ranges import TimeRange
from tests.support.servers import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_shared_until_it_expires() -> None:
    clock = Clock()
    cache = AnswerCache(10, clock)
    computed = []

    def compute() -> bytes:
        computed.append(clock.now)
        return f"answer {len(computed)}".encode()

    assert cache.get("k", compute) == b"answer 1"
    clock.now = 9.9
    assert cache.get("k", compute) == b"answer 1"
    assert cache.get("other", compute) == b"answer 2"
    clock.now = 10.0
    assert cache.get("k", compute) == b"answer 3"
    assert computed == [0.0, 9.9, 10.0]


def test_identical_requests_in_flight_wait_for_one_computation() -> None:
    cache = AnswerCache(10)
    started, release = threading.Event(), threading.Event()
    calls = []

    def compute() -> bytes:
        calls.append(1)
        started.set()
        release.wait(5)
        return b"slow answer"

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(cache.get, "k", compute)
        started.wait(5)
        others = [pool.submit(cache.get, "k", compute) for _ in range(7)]
        release.set()
        answers = [first.result(5)] + [other.result(5) for other in others]
    assert answers == [b"slow answer"] * 8
    assert len(calls) == 1


def test_a_failure_reaches_its_waiters_and_is_not_kept() -> None:
    cache = AnswerCache(10)
    started, release = threading.Event(), threading.Event()

    def failing() -> bytes:
        started.set()
        release.wait(5)
        raise RuntimeError("server down")

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(cache.get, "k", failing)
        started.wait(5)
        waiter = pool.submit(cache.get, "k", failing)
        release.set()
        for future in (first, waiter):
            with pytest.raises(RuntimeError, match="server down"):
                future.result(5)
    assert cache.get("k", lambda: b"recovered") == b"recovered"


def test_zero_seconds_computes_every_time_and_the_size_is_bounded() -> None:
    off = AnswerCache(0)
    answers = iter([b"1", b"2"])
    assert [off.get("k", lambda: next(answers)) for _ in range(2)] == [b"1", b"2"]

    clock = Clock()
    cache = AnswerCache(10, clock)
    megabyte = b"x" * 1024 * 1024
    kept = MAX_BYTES // len(megabyte)
    for n in range(kept + 5):
        cache.get(n, lambda: megabyte)
    assert len(cache._answers) == kept
    recomputed = []
    cache.get(0, lambda: recomputed.append(0) or megabyte)  # the oldest went first
    cache.get(kept + 4, lambda: recomputed.append(1) or megabyte)  # the newest stayed
    assert recomputed == [0]


class CountingService:
    """Answers the overview from a counter: how many times the app computed it."""

    def __init__(self) -> None:
        self.overviews = 0

    def overview(self, tenant_id: str, scenario_id: str, span: TimeRange) -> dict[str, Any]:
        self.overviews += 1
        return {"recommendations": self.overviews, "first_hour": span.start}


def test_the_api_shares_an_answer_per_tenant_scope_and_range() -> None:
    now = dt.datetime(2026, 12, 5, 10, 30, tzinfo=dt.UTC)
    service = CountingService()
    tokens = {"tok-a": "acme", "tok-g": "globex"}
    app = create_app(
        service,  # type: ignore[arg-type]
        f"redis://127.0.0.1:{free_port()}/0",
        tokens=tokens,
        clock=lambda: now,
        cache_seconds=60,
    )
    client = TestClient(app)

    def overview(token: str, **params: str) -> dict[str, Any]:
        response = client.get(
            "/api/v1/dashboard", params=params, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    first = overview("tok-a")
    # the same aligned range (the default, and one that rounds to the same hours)
    assert overview("tok-a") == first
    assert overview("tok-a", start="2026-11-28T10:10:00Z", end="2026-12-05T10:45:00Z") == first
    assert service.overviews == 1
    assert first["data"] == {"recommendations": 1, "first_hour": "2026-11-28T10:00:00+00:00"}
    assert first["as_of"] == now.isoformat()
    # another tenant, scope or range is another answer
    assert overview("tok-g")["data"]["recommendations"] == 2
    assert overview("tok-a", scenario_id="home_feed")["data"]["recommendations"] == 3
    assert overview("tok-a", start="2026-12-04T00:00:00Z")["data"]["recommendations"] == 4

    uncached = CountingService()
    client = TestClient(
        create_app(
            uncached,  # type: ignore[arg-type]
            f"redis://127.0.0.1:{free_port()}/0",
            tokens=tokens,
            clock=lambda: now,
            cache_seconds=0,
        )
    )
    for _ in range(3):
        client.get("/api/v1/dashboard", headers={"Authorization": "Bearer tok-a"})
    assert uncached.overviews == 3
