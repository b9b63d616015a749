"""Turn decoded Sensors records into `sa_events` columns, by the SDKs' own rules.

Two kinds of failure, kept apart on purpose:
- a record that cannot be identified (not an object, unknown type, no distinct_id, no
  usable time) becomes a dead letter with its JSON and the reason;
- a record that breaks a naming/length/type rule is kept with `is_valid = false` and an
  `invalid_reason`, like the seed's `is_valid` column: queryable, never in CORE.

This is the one per-record pass over heterogeneous JSON (there is no schema to hand a
columnar reader); it only extracts columns and checks rules with cached lookups, and
everything after it (enrichment, grouping, keys, files) is columnar. Its output stays
Python lists until a whole group of requests is merged (`RecordColumns.extend`): building
an Arrow array costs ~14 µs per call whatever its length, so one call per column per
request (~18 of them, plus casts) cost more than the pass itself.
"""

import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

import orjson
import pyarrow as pa

from analytics_lib.raw_log import sa_events
from analytics_lib.raw_log.event_time import MAX_FUTURE_MS, oldest_accepted_ms, time_problem

NAME_PATTERN = re.compile(r"^[a-zA-Z_$][a-zA-Z0-9_$]{0,99}$")
RESERVED_NAME = re.compile(
    r"^(distinct_id|original_id|time|properties|id|first_id|second_id|users|events|event"
    r"|event_id|device_id|user_id|date|datetime|user_group.*|user_tag.*)$",
    re.IGNORECASE,
)
MAX_ID_LENGTH = 255
MAX_STRING_LENGTH = 8191
NAMED_TYPES = frozenset({"track", "track_signup", "track_id_bind", "track_id_unbind"})
RECORD_TYPES = frozenset(sa_events.RECORD_TYPES)
ITEM_TYPES = frozenset({"item_set", "item_delete"})


@lru_cache(maxsize=65_536)
def name_problem(name: str) -> str | None:
    """Why a property or event name is not allowed (cached: real traffic has few names)."""
    if not NAME_PATTERN.match(name):
        return f"name {name[:120]!r} does not match {NAME_PATTERN.pattern}"
    if RESERVED_NAME.match(name):
        return f"name {name!r} is reserved"
    return None


def _value_problem(name: str, value: Any) -> str | None:
    if isinstance(value, list):
        if all(isinstance(v, str) and len(v) <= MAX_STRING_LENGTH for v in value):
            return None
        return f"property {name} is a list of something other than strings ≤ {MAX_STRING_LENGTH}"
    return f"property {name} has a {type(value).__name__} value (objects are not allowed)"


_SCALARS = frozenset({int, float, bool, type(None)})


def properties_problem(properties: dict[str, Any]) -> str | None:
    """The first rule a property breaks. Hot loop: the names are checked once per distinct
    set of names (an SDK sends the same few sets over and over), then only the values are
    looked at: scalars and short strings (nearly all of them) cost one type lookup."""
    if _names_ok(tuple(properties)):
        for value in properties.values():
            kind = type(value)
            if kind is str:
                if len(value) > MAX_STRING_LENGTH:
                    break
            elif kind not in _SCALARS and _value_problem("", value):
                break
        else:
            return None
    return _first_problem(properties)


_NAME_SETS: dict[tuple[Any, ...], bool] = {}
_MAX_NAME_SETS = 4096


def _names_ok(names: tuple[Any, ...]) -> bool:
    """Whether every name of this sequence is allowed, cached per sequence (bounded: a
    client sending ever-new name sets only costs the check it would have cost anyway)."""
    known = _NAME_SETS.get(names)
    if known is None:
        known = all(isinstance(name, str) and name_problem(name) is None for name in names)
        if len(_NAME_SETS) >= _MAX_NAME_SETS:
            _NAME_SETS.clear()
        _NAME_SETS[names] = known
    return known


def _first_problem(properties: dict[str, Any]) -> str | None:
    """The first problem in property order (names and values interleaved, as the rules
    are reported): the slow path, for the records that break a rule."""
    for name, value in properties.items():
        problem = name_problem(name) if isinstance(name, str) else "non-string property name"
        if problem:
            return problem
        kind = type(value)
        if kind is str:
            if len(value) > MAX_STRING_LENGTH:
                return f"property {name} is longer than {MAX_STRING_LENGTH} characters"
        elif kind not in _SCALARS:
            problem = _value_problem(name, value)
            if problem:
                return problem
    return None


@dataclass
class RecordColumns:
    """Column lists for the records that were identified, plus the per-request context
    fields the enrichment reads (user agent and IP per record). `split_records` fills
    them from one tuple per record in this field order."""

    type: list[str] = field(default_factory=list)
    event: list[str | None] = field(default_factory=list)
    time: list[int] = field(default_factory=list)
    distinct_id: list[str | None] = field(default_factory=list)
    track_id: list[int | None] = field(default_factory=list)
    original_id: list[str | None] = field(default_factory=list)
    login_id: list[str | None] = field(default_factory=list)
    anonymous_id: list[str | None] = field(default_factory=list)
    identities: list[bytes | None] = field(default_factory=list)
    item_type: list[str | None] = field(default_factory=list)
    item_id: list[str | None] = field(default_factory=list)
    project: list[str] = field(default_factory=list)
    lib: list[bytes | None] = field(default_factory=list)
    properties: list[bytes] = field(default_factory=list)
    invalid_reason: list[str | None] = field(default_factory=list)
    user_agent: list[str | None] = field(default_factory=list)
    ip: list[str | None] = field(default_factory=list)
    received_at: list[int] = field(default_factory=list)
    picked: dict[str, list[str | None]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.type)

    def extend(self, other: "RecordColumns") -> None:
        """Append another request's records (the group's columns are built once)."""
        for name in _LIST_FIELDS:
            getattr(self, name).extend(getattr(other, name))
        for name in self.picked.keys() | other.picked.keys():
            values = self.picked.setdefault(name, [None] * (len(self) - len(other)))
            values.extend(other.picked.get(name) or [None] * len(other))


@dataclass(frozen=True)
class PropertyPick:
    """Properties a later columnar step needs (the behavior mapping's), copied into
    columns of their own while the record is still a dict: re-parsing the ~1 KB property
    JSON per needed property afterwards cost more than all the rest of the mapping.
    Values are text as a JSON path match gives them: strings as they are, anything else
    as its JSON."""

    events: frozenset[str]
    names: tuple[str, ...]

    def column(self, name: str) -> str:
        return f"{PICKED_PREFIX}{name}"


PICKED_PREFIX = "picked."


def _pick(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class RejectedRecord:
    reason: str
    payload: bytes
    project: str | None


def _identifier(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, str)):
        text = str(value)
        return text if 0 < len(text) <= MAX_ID_LENGTH else None
    return None


# Times below this (2001-09-09) are taken for seconds: the protocol sends milliseconds.
_SECONDS_LOOK_ALIKE = 10**12


def _time_ms(value: Any, received_ms: int) -> int | str:
    if value is None:
        return received_ms
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"time {value!r} is not a number of milliseconds"
    millis = int(value)
    if millis < _SECONDS_LOOK_ALIKE:
        return f"time {millis} looks like seconds or is before 2001; the protocol sends ms"
    return time_problem(millis, received_ms) or millis


def split_records(
    records: list[Any],
    default_project: str,
    received_ms: int,
    pick: PropertyPick | None = None,
    user_agent: str | None = None,
    remote_addr: str | None = None,
) -> tuple[RecordColumns, list[RejectedRecord]]:
    """One pass: identified records become columns, the others rejected records; with
    `pick`, the named properties of the named events get columns of their own. The
    request's `user_agent` and `remote_addr` stand in where a record has no `$user_agent`
    or `$ip` of its own.

    Hot loop (~50 records per request): each identified record becomes one tuple, in
    `RecordColumns` field order, transposed into the columns once at the end (`zip`, in
    C) instead of 18 list appends per record; a time inside the accepted window is
    recognised by one comparison, the reasons are only worked out for those outside."""
    columns = RecordColumns()
    rows: list[tuple[Any, ...]] = []
    picks: list[tuple[Any, ...]] = []
    rejected: list[RejectedRecord] = []
    earliest_ms = max(_SECONDS_LOOK_ALIKE, oldest_accepted_ms(received_ms))
    latest_ms = received_ms + MAX_FUTURE_MS
    pick_events = pick.events if pick is not None else frozenset()
    pick_names = pick.names if pick is not None else ()
    nothing_picked = (None,) * len(pick_names)
    for record in records:
        if not isinstance(record, dict):
            rejected.append(RejectedRecord("record is not a JSON object", _json(record), None))
            continue
        get = record.get
        project = get("project") or default_project
        kind = get("type")
        if type(kind) is not str or kind not in RECORD_TYPES:  # a list is not hashable
            reason = f"unknown record type {str(kind)[:60]!r}"
            rejected.append(RejectedRecord(reason, _json(record), project))
            continue
        distinct_id = get("distinct_id")
        if type(distinct_id) is not str or not 0 < len(distinct_id) <= MAX_ID_LENGTH:
            distinct_id = _identifier(distinct_id)
        if distinct_id is None and kind not in ITEM_TYPES:  # items belong to no user
            reason = f"distinct_id missing, empty, not a string or longer than {MAX_ID_LENGTH}"
            rejected.append(RejectedRecord(reason, _json(record), project))
            continue
        millis = get("time")
        if millis is None:
            millis = received_ms
        elif type(millis) is not int or not earliest_ms <= millis <= latest_ms:
            millis = _time_ms(millis, received_ms)
            if type(millis) is str:
                rejected.append(RejectedRecord(millis, _json(record), project))
                continue
        properties = get("properties")
        if properties is None:
            properties = {}
        elif not isinstance(properties, dict):
            rejected.append(RejectedRecord("properties is not an object", _json(record), project))
            continue
        event = get("event")
        problem = None
        if kind in NAMED_TYPES:
            problem = (
                name_problem(event) if isinstance(event, str) else f"{kind} without an event name"
            )
        if kind == "track_signup" and _identifier(get("original_id")) is None:
            problem = problem or "track_signup without a valid original_id"
        if kind in ITEM_TYPES and not (get("item_id") and get("item_type")):
            problem = problem or f"{kind} without item_id and item_type"
        problem = problem or properties_problem(properties)
        track_id = get("_track_id")
        identities = get("identities")
        lib = get("lib")
        agent = properties.get("$user_agent")
        ip = properties.get("$ip")
        # Most records have none of these: `None` skips the call.
        original_id = get("original_id")
        login_id = get("login_id")
        anonymous_id = get("anonymous_id")
        item_type = get("item_type")
        item_id = get("item_id")
        rows.append(
            (
                kind,
                event if isinstance(event, str) else None,
                millis,
                distinct_id,
                track_id if isinstance(track_id, int) and not isinstance(track_id, bool) else None,
                None if original_id is None else _identifier(original_id),
                None if login_id is None else _identifier(login_id),
                None if anonymous_id is None else _identifier(anonymous_id),
                _json(identities) if isinstance(identities, dict) else None,
                None if item_type is None else _identifier(item_type),
                None if item_id is None else _identifier(item_id),
                project if type(project) is str else str(project),
                _json(lib) if isinstance(lib, dict) else None,
                _json(properties),
                problem,
                agent if isinstance(agent, str) else user_agent,
                ip if isinstance(ip, str) else remote_addr,
                received_ms,
            )
        )
        if pick is not None:
            if type(event) is str and event in pick_events:
                values = map(properties.get, pick_names)
                picks.append(
                    tuple([v if v is None or type(v) is str else _pick(v) for v in values])
                )
            else:
                picks.append(nothing_picked)
    if rows:
        for name, values in zip(_LIST_FIELDS, zip(*rows, strict=True), strict=True):
            setattr(columns, name, list(values))
    for name in pick_names:
        columns.picked[name] = []
    if picks:
        for name, values in zip(pick_names, zip(*picks, strict=True), strict=True):
            columns.picked[name] = list(values)
    return columns, rejected


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


_LIST_FIELDS = tuple(spec.name for spec in fields(RecordColumns) if spec.name != "picked")
_COLUMN_TYPES = {
    "time": pa.timestamp("ms", tz="UTC"),
    "received_at": pa.timestamp("ms", tz="UTC"),
    "track_id": pa.int64(),
}
# JSON columns hold orjson's bytes, always UTF-8: built as binary and viewed as strings
# (the same buffers), since `pa.array(..., pa.string())` validates the UTF-8 again (half
# of the group's conversion time for 1 KB property maps; a cast validates too).
_JSON_COLUMNS = frozenset({"identities", "lib", "properties"})


def columns_to_table(columns: RecordColumns) -> pa.Table:
    """The identified records as Arrow columns (before enrichment), in field order."""
    arrays = {}
    for name in _LIST_FIELDS:
        values = getattr(columns, name)
        if name in _JSON_COLUMNS:
            arrays[name] = pa.array(values, pa.binary()).view(pa.string())
        else:
            arrays[name] = pa.array(values, _COLUMN_TYPES.get(name, pa.string()))
    for name, values in columns.picked.items():
        arrays[f"{PICKED_PREFIX}{name}"] = pa.array(values, pa.string())
    return pa.table(arrays)
