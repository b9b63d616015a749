"""The seeds' behavior API (`POST /api/v1/behaviors`): one JSON object, a JSON array, or
`{"behaviors": [...]}`, each a recommendation behavior of the seed's tracker.

Fields (snake_case; the seed tracker's camelCase names are accepted too): tenant_id,
scenario_id, user_id, item_id, action_type, optional event_id (a UUID; the client's own
id makes retries idempotent), timestamp (epoch ms or ISO-8601; default: arrival),
context {device_type, os, location, ip}, watch_duration, completion_rate, experiment_id,
experiment_group.
"""

import datetime as dt
import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from analytics_lib.raw_log import behaviors
from analytics_lib.raw_log.event_time import time_problem

ALIASES = {
    "tenantId": "tenant_id",
    "scenarioId": "scenario_id",
    "userId": "user_id",
    "itemId": "item_id",
    "action": "action_type",
    "actionType": "action_type",
    "eventId": "event_id",
    "watchDuration": "watch_duration",
    "completionRate": "completion_rate",
    "experimentId": "experiment_id",
    "experimentGroup": "experiment_group",
}
REQUIRED = ("tenant_id", "scenario_id", "user_id", "item_id", "action_type")
CONTEXT_FIELDS = ("device_type", "os", "location", "ip")
ACTIONS = frozenset(behaviors.ACTION_TYPES)
MAX_ID_LENGTH = 255


class BehaviorPayloadError(ValueError):
    """The body is not a behavior or a list of behaviors (400), or has too many (413)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class RejectedBehavior:
    index: int
    reason: str
    payload: bytes
    tenant_id: str | None


def parse_body(body: bytes, max_records: int) -> list[Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BehaviorPayloadError(f"body is not UTF-8 JSON: {exc}") from exc
    if isinstance(value, dict) and isinstance(value.get("behaviors"), list):
        value = value["behaviors"]
    records = value if isinstance(value, list) else [value]
    if len(records) > max_records:
        raise BehaviorPayloadError(
            f"{len(records)} behaviors exceed the limit of {max_records}", 413
        )
    return records


def _timestamp_ms(value: Any, received_ms: int) -> int | None:
    if value is None:
        return received_ms
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if value >= 10**12 else None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return int(parsed.timestamp() * 1000)
    return None


def _problem(record: dict[str, Any], received_ms: int) -> str | None:
    for name in REQUIRED:
        value = record.get(name)
        if not isinstance(value, (str, int)) or isinstance(value, bool) or value == "":
            return f"{name} is missing or not a string"
        if len(str(value)) > MAX_ID_LENGTH:
            return f"{name} is longer than {MAX_ID_LENGTH} characters"
    if record["action_type"] not in ACTIONS:
        return f"action_type {record['action_type']!r} is not one of {sorted(ACTIONS)}"
    event_id = record.get("event_id")
    if event_id is not None:
        try:
            uuid.UUID(str(event_id))
        except ValueError:
            return f"event_id {str(event_id)[:60]!r} is not a UUID"
    timestamp = _timestamp_ms(record.get("timestamp"), received_ms)
    if timestamp is None:
        return "timestamp is neither epoch milliseconds nor ISO-8601"
    time_rule = time_problem(timestamp, received_ms)
    if time_rule:
        return time_rule.replace("time", "timestamp", 1)
    duration = record.get("watch_duration", 0)
    if not isinstance(duration, int) or isinstance(duration, bool) or not 0 <= duration < 2**32:
        return "watch_duration must be a non-negative integer (seconds)"
    rate = record.get("completion_rate", 0.0)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
        return "completion_rate must be a number in [0, 1]"
    context = record.get("context") or {}
    if not isinstance(context, dict):
        return "context must be an object"
    if context.get("ip") is not None:
        try:
            ipaddress.ip_address(str(context["ip"]))
        except ValueError:
            return f"context.ip {str(context['ip'])[:60]!r} is not an IP address"
    return None


def to_behaviors(
    records: list[Any], received_ms: int, allowed_tenants: frozenset[str] | None
) -> tuple[pa.Table, list[RejectedBehavior]]:
    """Valid behaviors as a `behaviors` batch; the rest with a reason each. With
    `allowed_tenants`, a behavior of any other tenant is rejected (token isolation)."""
    rows: list[dict[str, Any]] = []
    rejected: list[RejectedBehavior] = []
    for index, raw in enumerate(records):
        if not isinstance(raw, dict):
            rejected.append(
                RejectedBehavior(index, "behavior is not an object", orjson.dumps(raw), None)
            )
            continue
        record = {ALIASES.get(k, k): v for k, v in raw.items()}
        problem = _problem(record, received_ms)
        tenant = record.get("tenant_id")
        if problem is None and allowed_tenants is not None and str(tenant) not in allowed_tenants:
            problem = f"the token does not allow writing tenant {tenant!r}"
        if problem:
            tenant_text = str(tenant) if isinstance(tenant, (str, int)) else None
            rejected.append(RejectedBehavior(index, problem, orjson.dumps(raw), tenant_text))
            continue
        context = record.get("context") or {}
        rows.append(
            {
                "event_id": str(record.get("event_id") or uuid.uuid4()),
                **{name: str(record[name]) for name in REQUIRED},
                "timestamp": _timestamp_ms(record.get("timestamp"), received_ms),
                **{name: _text(context.get(name)) for name in CONTEXT_FIELDS},
                "watch_duration": record.get("watch_duration", 0),
                "completion_rate": record.get("completion_rate", 0.0),
                "experiment_id": _text(record.get("experiment_id")),
                "experiment_group": _text(record.get("experiment_group")),
                "received_at": received_ms,
            }
        )
    table = pa.Table.from_pylist(rows, schema=_INPUT_SCHEMA)
    return behaviors.conform(table), rejected


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:MAX_ID_LENGTH]


_INPUT_SCHEMA = pa.schema(
    [
        pa.field(f.name, pa.int64() if f.type == pa.timestamp("ms", tz="UTC") else f.type)
        for f in behaviors.SCHEMA
    ]
)
