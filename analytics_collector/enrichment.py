"""Enrichment of Sensors records, the seed's Vector transforms done column-wise: user agent
(ua-parser), GeoIP (a MaxMind City database), the Redis whitelist/metadata lookup, the
`event_group` and the final `is_valid`.

Every lookup runs once per distinct value in a batch (a batch has few user agents and
IPs) behind a cache, and Redis is asked once per batch in one pipeline.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import maxminddb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import redis
from ua_parser import parse as parse_user_agent

log = logging.getLogger("collector.enrichment")

STRING = pa.string()
UA_FIELDS = ("ua_browser", "ua_browser_version", "ua_os", "ua_os_version", "ua_device")
_NO_USER_AGENT = (None,) * len(UA_FIELDS)


@lru_cache(maxsize=16_384)
def user_agent_fields(user_agent: str) -> tuple[str | None, ...]:
    """(browser, browser version, os, os version, device) of one User-Agent string."""
    parsed = parse_user_agent(user_agent[:1024])  # bounds regex time on hostile input
    browser, os_, device = parsed.user_agent, parsed.os, parsed.device
    return (
        browser.family if browser else None,
        ".".join(p for p in (browser.major, browser.minor) if p) or None if browser else None,
        os_.family if os_ else None,
        ".".join(p for p in (os_.major, os_.minor) if p) or None if os_ else None,
        device.family if device else None,
    )


class GeoIp:
    """City-level GeoIP from a GeoLite2-City compatible .mmdb; JSON text per IP, cached."""

    def __init__(self, database_path: str) -> None:
        self._reader = maxminddb.open_database(database_path)
        self.lookup = lru_cache(maxsize=65_536)(self._lookup)

    def _lookup(self, ip: str) -> str | None:
        if ip[:7].lower() == "::ffff:" and "." in ip:  # IPv4 seen by a dual-stack socket
            ip = ip[7:]
        try:
            found: Any = self._reader.get(ip)
        except ValueError:  # not an IP address
            return None
        if not found:
            return None
        subdivisions = found.get("subdivisions") or [{}]
        location = found.get("location") or {}
        return orjson.dumps(
            {
                "country_code": (found.get("country") or {}).get("iso_code"),
                "country": (found.get("country") or {}).get("names", {}).get("en"),
                "region": subdivisions[0].get("names", {}).get("en"),
                "city": (found.get("city") or {}).get("names", {}).get("en"),
                "latitude": location.get("latitude"),
                "longitude": location.get("longitude"),
            }
        ).decode()

    def close(self) -> None:
        self._reader.close()


@dataclass
class WhitelistStats:
    lookups: int = 0
    errors: int = 0
    cache_hits: int = 0


class RedisWhitelist:
    """`user_whitelist:{distinct_id}` → metadata string, as in the seed's Vector redis
    transform. One pipelined MGET per batch for ids missing from a local TTL cache; a
    Redis failure is counted and reported per record, never fatal to the request."""

    def __init__(
        self, url: str, key_prefix: str = "user_whitelist:", ttl_seconds: float = 60.0
    ) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = key_prefix
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()
        self.stats = WhitelistStats()

    def lookup(self, distinct_ids: list[str]) -> tuple[dict[str, str | None], bool]:
        """Metadata per distinct id, and whether the lookup failed (then nothing is known)."""
        now = time.monotonic()
        found: dict[str, str | None] = {}
        missing = []
        with self._lock:
            for distinct_id in distinct_ids:
                cached = self._cache.get(distinct_id)
                if cached and cached[0] > now:
                    found[distinct_id] = cached[1]
                else:
                    missing.append(distinct_id)
            self.stats.cache_hits += len(distinct_ids) - len(missing)
        if not missing:
            return found, False
        try:
            values = self._client.mget([self._prefix + d for d in missing])
        except redis.RedisError as exc:
            self.stats.errors += len(missing)
            self.stats.lookups += len(missing)
            log.warning("whitelist lookup of %s ids failed: %s", len(missing), exc)
            return found, True
        self.stats.lookups += len(missing)
        expires = now + self._ttl
        with self._lock:
            if len(self._cache) > 200_000:
                self._cache.clear()
            for distinct_id, value in zip(missing, values, strict=True):
                text = value.decode() if isinstance(value, bytes) else value
                self._cache[distinct_id] = (expires, text)
                found[distinct_id] = text
        return found, False

    def close(self) -> None:
        self._client.close()


def python_strings(values: pa.ChunkedArray | pa.Array) -> list[str | None]:
    """`values.to_pylist()` for a string column, through numpy: pyarrow's `to_pylist`
    boxes every value in a scalar first (~0.7 µs per value: a group's few hundred
    distinct ids or dedup keys cost ~0.3 ms), numpy's conversion makes the same `str`s
    (and None for nulls) in C."""
    return values.to_numpy(zero_copy_only=False).tolist()


def distinct_positions(values: pa.ChunkedArray | pa.Array) -> tuple[list[str], pa.Array]:
    """The distinct non-null values of a string column, in order of first appearance,
    and each row's position among them (null for a null row): one hashing pass
    (dictionary encoding), where `unique` and then `index_in` per looked-up field hashed
    the column again each time."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = values.dictionary_encode()
    return python_strings(encoded.dictionary), encoded.indices  # type: ignore[return-value]


def per_distinct(
    values: pa.ChunkedArray | pa.Array,
    convert: Callable[[str], object],
    value_type: pa.DataType = STRING,
) -> pa.Array:
    """`convert` applied once per distinct non-null text, broadcast onto every row (null
    rows stay null), in Arrow: no per-row Python."""
    distinct, positions = distinct_positions(values)
    return pc.take(pa.array([convert(value) for value in distinct], value_type), positions)


@dataclass
class Enricher:
    """Everything the seed's Vector pipeline added, configured once per collector."""

    debug_event_pattern: str = r"^(\$|debug_)"
    geoip: GeoIp | None = None
    whitelist: RedisWhitelist | None = None

    def enrich(self, records: pa.Table) -> pa.Table:
        """`records` from `sensors_records.columns_to_table` (with `user_agent` and `ip`
        already defaulted to the request's) → columns of `sa_events`."""
        n = records.num_rows
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        agents, agent_positions = distinct_positions(records["user_agent"])
        parsed = [user_agent_fields(ua) if ua else _NO_USER_AGENT for ua in agents]
        for position, name in enumerate(UA_FIELDS):
            values = pa.array([fields[position] for fields in parsed], STRING)
            columns[name] = pc.take(values, agent_positions)
        ips, ip_positions = distinct_positions(records["ip"])
        if self.geoip is not None:
            geo = [self.geoip.lookup(ip) if ip else None for ip in ips]
            columns["geoip"] = pc.take(pa.array(geo, STRING), ip_positions)
        else:
            columns["geoip"] = pa.nulls(n, pa.string())
        is_debug = pc.fill_null(
            pc.match_substring_regex(records["event"], self.debug_event_pattern), False
        )
        columns["event_group"] = pc.if_else(is_debug, "DEBUG", "CORE")
        reasons = records["invalid_reason"]
        if self.whitelist is not None:
            meta, reasons = self._whitelist(records, is_debug, reasons)
            columns["redis_meta"] = meta
        else:
            columns["redis_meta"] = pa.nulls(n, pa.string())
        columns["invalid_reason"] = reasons
        columns["is_valid"] = pc.is_null(reasons)
        remote_addrs = pa.array([ip or None for ip in ips], STRING)  # "" is no address
        columns["remote_addr"] = pc.take(remote_addrs, ip_positions)
        item_key = pc.binary_join_element_wise(records["item_type"], records["item_id"], ":")
        # `_track_id|distinct_id|time` (the protocol's key). Server SDKs send no _track_id;
        # then type and event stand in, so a profile_set and a track of one user in the
        # same millisecond stay two records.
        kind_and_event = pc.binary_join_element_wise(
            records["type"], pc.fill_null(records["event"], ""), ":"
        )
        columns["dedup_key"] = pc.binary_join_element_wise(
            pc.coalesce(pc.cast(records["track_id"], pa.string()), kind_and_event),
            pc.coalesce(records["distinct_id"], item_key, ""),
            pc.cast(pc.cast(records["time"], pa.int64()), pa.string()),
            "|",
        )
        enriched = records.drop_columns(["user_agent", "ip", "invalid_reason"])
        for name, column in columns.items():
            enriched = enriched.append_column(name, column)
        return enriched

    def _whitelist(
        self, records: pa.Table, is_debug: pa.Array, reasons: pa.ChunkedArray
    ) -> tuple[pa.Array, pa.Array]:
        assert self.whitelist is not None
        ids, id_positions = distinct_positions(records["distinct_id"])
        found, failed = self.whitelist.lookup(ids)
        meta = pc.take(pa.array([found.get(i) for i in ids], STRING), id_positions)
        has_user = pc.is_valid(records["distinct_id"])  # item records belong to no user
        needs_entry = pc.and_(pc.and_(pc.invert(is_debug), has_user), pc.is_null(meta))
        why = "whitelist lookup failed (Redis unavailable)" if failed else "not in the whitelist"
        reasons = pc.if_else(pc.and_(pc.is_null(reasons), needs_entry), why, reasons)
        return meta, reasons

    def close(self) -> None:
        if self.geoip is not None:
            self.geoip.close()
        if self.whitelist is not None:
            self.whitelist.close()
