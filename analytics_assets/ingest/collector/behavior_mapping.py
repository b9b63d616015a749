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
import uuid
from dataclasses import dataclass
from functools import cached_property
from hashlib import sha1
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from analytics_assets.ingest.collector.sensors_records import PropertyPick
from analytics_assets.raw_log import behaviors

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

    def to_behaviors(self, sa_batch: pa.Table) -> pa.Table:
        """The valid mapped `track` events of an `sa_events` batch (with the columns of
        `pick`, from `sensors_records.split_records`), as behaviors."""
        candidates = pc.and_(
            pc.equal(sa_batch["type"], "track"),
            pc.is_in(sa_batch["event"], pa.array(list(self.events))),
        )
        if not pc.any(candidates).as_py():
            return behaviors.SCHEMA.empty_table()
        # Only the columns the mapping reads, in one chunk: polars converts a many-chunk
        # table (one chunk per request of the group) column by column, chunk by chunk,
        # holding the GIL, which cost more than the mapping itself.
        frame = pl.from_arrow(
            sa_batch.filter(candidates)
            .select([*_SA_COLUMNS, *map(self.pick.column, self.pick.names)])
            .combine_chunks()
        )
        assert isinstance(frame, pl.DataFrame)
        frame = frame.filter(
            pl.col("is_valid") & (pl.col("type") == "track") & pl.col("event").is_in(self.events)
        )
        if frame.is_empty():
            return behaviors.SCHEMA.empty_table()

        def prop(name: str) -> pl.Expr:
            return pl.col(self.pick.column(self.properties[name]))

        def optional(name: str) -> pl.Expr:
            return prop(name) if name in self.properties else pl.lit(None, pl.String)

        mapped = frame.select(
            pl.col("dedup_key"),
            pl.col("project").alias("tenant_id"),
            prop("scenario_id").alias("scenario_id"),
            pl.coalesce("login_id", "distinct_id").alias("user_id"),
            prop("item_id").alias("item_id"),
            pl.col("event").replace_strict(self.events).alias("action_type"),
            pl.col("time").alias("timestamp"),
            pl.col("ua_device").alias("device_type"),
            pl.col("ua_os").alias("os"),
            pl.col("geoip").str.json_path_match("$.city").alias("location"),
            pl.col("remote_addr").alias("ip"),
            optional("watch_duration").cast(pl.Float64, strict=False).alias("watch_duration"),
            optional("completion_rate").cast(pl.Float32, strict=False).alias("completion_rate"),
            optional("experiment_id").alias("experiment_id"),
            optional("experiment_group").alias("experiment_group"),
            pl.col("received_at"),
        ).filter(pl.col("scenario_id").is_not_null() & pl.col("item_id").is_not_null())
        mapped = mapped.with_columns(
            pl.Series("event_id", event_ids(mapped.get_column("dedup_key").to_list())),
            pl.col("ip").replace_strict(_ip_or_null(mapped.get_column("ip")), default=None),
            pl.col("watch_duration").round().cast(pl.UInt32, strict=False),
        ).drop("dedup_key")
        return behaviors.conform(mapped.to_arrow())


_SA_COLUMNS = (
    "dedup_key",
    "type",
    "event",
    "time",
    "distinct_id",
    "login_id",
    "project",
    "ua_device",
    "ua_os",
    "geoip",
    "remote_addr",
    "is_valid",
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


def _ip_or_null(addresses: pl.Series) -> dict[str, str | None]:
    """Each distinct address, kept when it parses (behaviors store `ip` as IPv6)."""
    valid = {}
    for address in addresses.drop_nulls().unique():
        try:
            valid[address] = str(ipaddress.ip_address(address))
        except ValueError:
            valid[address] = None
    return valid
