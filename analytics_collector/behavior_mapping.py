"""Sensors events that carry recommendation semantics become behaviors too, so both
architectures share the raw log (the design's "one front door").

The mapping table (JSON; `COLLECTOR_BEHAVIOR_MAPPING` names another file) says which
event names are which `action_type` and which properties hold scenario, item and the
optional fields. The tenant is the Sensors project (the token authorises a project, so a
property cannot write into another tenant); the user is the login id when the SDK knows
it, else the distinct id. The event id is derived from the record's dedup key
(`_track_id|distinct_id|time`), so an SDK retry maps to the same behavior.
"""

import ipaddress
import math
import re
import uuid
from dataclasses import dataclass
from functools import cached_property
from hashlib import sha1
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from analytics_collector.enrichment import per_distinct, python_strings
from analytics_collector.sensors_records import PropertyPick
from analytics_lib.raw_log import behaviors

DEFAULT_MAPPING = Path(__file__).with_name("behavior_mapping.json")
EVENT_ID_NAMESPACE = uuid.UUID("6f0b6c52-52a4-4c1b-9a51-6a0d3f1c9b7e")
REQUIRED_PROPERTIES = ("scenario_id", "item_id")


@dataclass(frozen=True)
class BehaviorMapping:
    events: dict[str, str]
    properties: dict[str, str]

    @classmethod
    def load(cls, path: str | Path | None = None) -> "BehaviorMapping":
        config = orjson.loads(Path(path or DEFAULT_MAPPING).read_bytes())
        unknown = set(config["events"].values()) - set(behaviors.ACTION_TYPES)
        if unknown:
            raise ValueError(f"{path}: unknown action types {sorted(unknown)}")
        missing = [name for name in REQUIRED_PROPERTIES if name not in config["properties"]]
        if missing:
            raise ValueError(f"{path}: the properties map needs {missing}")
        return cls(events=dict(config["events"]), properties=dict(config["properties"]))

    @cached_property
    def pick(self) -> PropertyPick:
        """What the record pass must copy out of the properties for `to_behaviors`."""
        return PropertyPick(frozenset(self.events), tuple(dict.fromkeys(self.properties.values())))

    @cached_property
    def _used_columns(self) -> list[str]:
        """The `sa_events` and picked columns `to_behaviors` reads."""
        picked = [self.pick.column(name) for name in self.pick.names]
        return [*_SA_COLUMNS, *picked]

    @cached_property
    def _event_names(self) -> pa.Array:
        return pa.array(list(self.events), pa.string())

    @cached_property
    def _action_types(self) -> pa.Array:
        return pa.array(list(self.events.values()), pa.string())

    def to_behaviors(self, sa_batch: pa.Table) -> pa.Table:
        """The valid mapped `track` events of an `sa_events` batch (with the columns of
        `pick`, from `sensors_records.split_records`), as behaviors.

        Arrow compute over the group's columns; the few conversions Arrow has no kernel
        for (the city in the GeoIP JSON, IP text, numbers in property text) run once per
        distinct value. (A polars version cost ~3.7 ms per group whatever its size, most
        of a small group's CPU: seven lazy collects, conversions both ways, Series
        built from the mapping per call.)"""

        def picked(name: str) -> pa.ChunkedArray:
            return sa_batch[self.pick.column(self.properties[name])]

        keep = pc.and_(
            pc.and_(sa_batch["is_valid"], pc.equal(sa_batch["type"], "track")),
            pc.is_in(sa_batch["event"], value_set=self._event_names),
        )
        keep = pc.and_(
            pc.and_(keep, pc.is_valid(picked("scenario_id"))), pc.is_valid(picked("item_id"))
        )
        # Only the columns used below are filtered: the whole batch's (the ~1 KB property
        # JSON per row) cost ~1.5 ms per group of 400 records.
        rows = sa_batch.select(self._used_columns).filter(pc.fill_null(keep, False))
        if not rows.num_rows:
            return behaviors.SCHEMA.empty_table()

        def prop(name: str) -> pa.ChunkedArray:
            return rows[self.pick.column(self.properties[name])]

        def optional(name: str) -> pa.ChunkedArray | pa.Array:
            return prop(name) if name in self.properties else pa.nulls(rows.num_rows, pa.string())

        return behaviors.conform(
            pa.table(
                {
                    "event_id": event_ids(python_strings(rows["dedup_key"])),  # type: ignore[arg-type]
                    "tenant_id": rows["project"],
                    "scenario_id": prop("scenario_id"),
                    "user_id": pc.coalesce(rows["login_id"], rows["distinct_id"]),
                    "item_id": prop("item_id"),
                    "action_type": pc.take(
                        self._action_types,
                        pc.index_in(rows["event"], value_set=self._event_names),
                    ),
                    "timestamp": rows["time"],
                    "device_type": rows["ua_device"],
                    "os": rows["ua_os"],
                    "location": per_distinct(rows["geoip"], _city),
                    "ip": per_distinct(rows["remote_addr"], _canonical_ip),
                    "watch_duration": per_distinct(
                        optional("watch_duration"), _whole_seconds, pa.uint32()
                    ),
                    "completion_rate": per_distinct(
                        optional("completion_rate"), _number, pa.float64()
                    ).cast(pa.float32(), safe=False),
                    "experiment_id": optional("experiment_id"),
                    "experiment_group": optional("experiment_group"),
                    "received_at": rows["received_at"],
                }
            )
        )


_SA_COLUMNS = (
    "dedup_key",
    "project",
    "login_id",
    "distinct_id",
    "event",
    "time",
    "ua_device",
    "ua_os",
    "geoip",
    "remote_addr",
    "received_at",
)
_NAMESPACE = EVENT_ID_NAMESPACE.bytes
_UUID_DASHES = (8, 12, 16, 20)


def event_ids(dedup_keys: list[str]) -> pa.Array:
    """`str(uuid.uuid5(EVENT_ID_NAMESPACE, key))` for every key, with the per-key Python
    reduced to one SHA-1 (uuid.uuid5 builds a UUID object and formats it per key, ≈ 4 µs;
    this is ≈ 0.6 µs): the version and variant bits and the 8-4-4-4-12 text are set for
    the whole column at once with numpy."""
    n = len(dedup_keys)
    if n == 0:
        return pa.array([], pa.string())
    digests = b"".join([sha1(_NAMESPACE + key.encode()).digest()[:16] for key in dedup_keys])
    raw = np.frombuffer(digests, np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50  # version 5
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = np.frombuffer(raw.tobytes().hex().encode(), np.uint8).reshape(n, 32)
    text = np.insert(hexed, _UUID_DASHES, ord("-"), axis=1)
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(36), n, [None, pa.py_buffer(text.tobytes())]
    )
    return fixed.cast(pa.binary()).cast(pa.string())


def _city(geoip: str) -> str | None:
    city = orjson.loads(geoip).get("city")
    return city if isinstance(city, str) else None


def _canonical_ip(address: str) -> str | None:
    """Kept when it parses (behaviors store `ip` as IPv6), in its canonical text."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


# A number as property text: JSON's, plus a sign, a bare leading or trailing point, and
# inf/infinity/nan. Not Python's float() syntax (spaces, underscores, non-ASCII digits).
_NUMBER = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)


def _number(text: str) -> float | None:
    return float(text) if _NUMBER.fullmatch(text) else None


def _whole_seconds(text: str) -> int | None:
    """A duration rounded half to even, null unless it fits an unsigned 32-bit column."""
    number = _number(text)
    if number is None or not math.isfinite(number):
        return None
    rounded = round(number)
    return rounded if 0 <= rounded < 2**32 else None
