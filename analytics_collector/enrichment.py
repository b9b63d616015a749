"""Enrichment of Sensors records, the seed's Vector transforms done column-wise: user agent
(ua-parser), GeoIP (a MaxMind City database), the Redis whitelist/metadata lookup, the
`event_group` and the final `is_valid`.

Every lookup runs once per distinct value in a batch (a batch has few user agents and
IPs) behind a cache, and Redis is asked once per batch in one pipeline.
"""

import logging
import threading
import time
from collections.abc import Mapping
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


def per_row(
    keys: pa.ChunkedArray | pa.Array,
    value_by_key: Mapping[str, object],
    value_type: pa.DataType = STRING,
) -> pa.ChunkedArray:
    """Broadcast values looked up once per distinct key back onto every row (null for
    keys without a value), in Arrow: no per-row Python."""
    positions = pc.index_in(keys, value_set=pa.array(list(value_by_key), pa.string()))
    return pc.take(pa.array(list(value_by_key.values()), value_type), positions)


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
        user_agents = pc.fill_null(records["user_agent"], "")
        ips = pc.fill_null(records["ip"], "")
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        parsed = {ua: user_agent_fields(ua) for ua in pc.unique(user_agents).to_pylist() if ua}
        for position, name in enumerate(UA_FIELDS):
            field_by_agent = {ua: fields[position] for ua, fields in parsed.items()}
            columns[name] = per_row(user_agents, field_by_agent)
        if self.geoip is not None:
            geo = {ip: self.geoip.lookup(ip) for ip in pc.unique(ips).to_pylist() if ip}
            columns["geoip"] = per_row(ips, geo)
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
        columns["remote_addr"] = pc.if_else(pc.equal(ips, ""), None, ips)
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
        ids = records["distinct_id"]
        found, failed = self.whitelist.lookup(pc.unique(ids.drop_null()).to_pylist())
        meta = per_row(ids, found)
        has_user = pc.is_valid(ids)  # item records belong to no user
        needs_entry = pc.and_(pc.and_(pc.invert(is_debug), has_user), pc.is_null(meta))
        why = "whitelist lookup failed (Redis unavailable)" if failed else "not in the whitelist"
        reasons = pc.if_else(pc.and_(pc.is_null(reasons), needs_entry), why, reasons)
        return meta, reasons

    def close(self) -> None:
        if self.geoip is not None:
            self.geoip.close()
        if self.whitelist is not None:
            self.whitelist.close()
