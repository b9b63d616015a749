"""Whole answers of the analytics API, kept a few seconds and shared by identical requests.

Why: a dashboard's viewers mostly ask the same thing (the page's default range, aligned
to the hour, for their tenant), and a small ClickHouse server answers 16 queries at once
only by queueing them: `bench/api.py` at 100 M events measured p95 of 80-460 ms at
concurrency 16 for every endpoint, with the same queries sent straight to the server
missing 50 ms too, while one query alone takes 5-40 ms. An answer computed once is served,
already encoded, to every identical request for `ttl_seconds`; identical requests that
arrive while it is computed wait for that one computation instead of sending their own,
so a page's burst of requests, or many viewers at the top of the hour, cost one query each.

Freshness: the rollups behind the answers change when their assets run (minutes apart),
so a few seconds of reuse is not visible; the answer's `as_of` says when it was computed.
Failures are not kept: the next request asks again. `ttl_seconds = 0` turns it off.
"""

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future

# The default answer lifetime: ANALYTICS_API_CACHE_SECONDS overrides it.
DEFAULT_TTL_SECONDS = 10.0
# Bytes of encoded answers kept at most; beyond it the oldest go first. An answer is a few
# KB, up to ~270 KB for 90 days by hour and ~1.2 MB for the longest range (400 days by
# hour), so a tenant asking for many distinct long ranges cannot grow the process past it.
MAX_BYTES = 64 * 1024 * 1024


class AnswerCache:
    """Encoded answers by key for `ttl_seconds`, computed once per key at a time."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[Hashable, tuple[float, bytes]] = {}
        self._bytes = 0
        self._computing: dict[Hashable, Future[bytes]] = {}

    def get(self, key: Hashable, compute: Callable[[], bytes]) -> bytes:
        """The kept answer for `key`, the one being computed for it, or `compute()`'s."""
        if self.ttl_seconds <= 0:
            return compute()
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None and kept[0] > self._clock():
                return kept[1]
            pending = self._computing.get(key)
            computing_here = pending is None
            if pending is None:
                pending = self._computing[key] = Future()
        if not computing_here:
            return pending.result()
        try:
            answer = compute()
        except BaseException as error:
            with self._lock:
                del self._computing[key]
            pending.set_exception(error)
            raise
        with self._lock:
            del self._computing[key]
            self._keep(key, answer)
        pending.set_result(answer)
        return answer

    def _keep(self, key: Hashable, answer: bytes) -> None:
        now = self._clock()
        self._drop(key)  # re-inserted last: the dict's order is age
        self._answers[key] = (now + self.ttl_seconds, answer)
        self._bytes += len(answer)
        if self._bytes > MAX_BYTES:
            for old in [k for k, (expires, _) in self._answers.items() if expires <= now]:
                self._drop(old)
            while self._bytes > MAX_BYTES:
                self._drop(next(iter(self._answers)))

    def _drop(self, key: Hashable) -> None:
        kept = self._answers.pop(key, None)
        if kept is not None:
            self._bytes -= len(kept[1])
