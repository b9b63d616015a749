"""Which notifications to send: pure logic, no Dagster and no network.

An incident is a failing asset check (open until the check passes again) or a failed run
(a single event: run ids never repeat). The sensor keeps the open incidents in its cursor,
so each incident is announced once while it lasts and resolved once when it ends, however
often the sensor ticks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import orjson


@dataclass(frozen=True)
class Incident:
    key: str  # "check:<asset>:<check>" or "run:<run_id>"
    kind: Literal["check", "run"]
    title: str
    detail: str = ""
    severity: str = "ERROR"  # an asset check's severity; runs are ERROR
    url: str = ""


@dataclass(frozen=True)
class Notification:
    state: Literal["firing", "resolved"]
    incident: Incident

    def text(self) -> str:
        """One line for chat: state, what, why, where to look."""
        icon = ":red_circle:" if self.state == "firing" else ":large_green_circle:"
        verb = "FAILING" if self.state == "firing" else "RESOLVED"
        parts = [f"{icon} [{self.incident.severity}] {verb}: {self.incident.title}"]
        if self.incident.detail:
            parts.append(self.incident.detail)
        if self.incident.url:
            parts.append(f"<{self.incident.url}|open in Dagster>")
        return " — ".join(parts)

    def payload(self) -> dict[str, object]:
        """The generic webhook body (JSON)."""
        return {"state": self.state, "text": self.text(), **asdict(self.incident)}


@dataclass
class AlertState:
    """The sensor cursor: open check incidents and the newest failed run already announced."""

    open: dict[str, Incident] = field(default_factory=dict)
    runs_after: float = 0.0  # update time of the newest announced failed run

    @classmethod
    def from_cursor(cls, cursor: str | None) -> AlertState:
        if not cursor:
            return cls()
        raw = orjson.loads(cursor)
        return cls(
            open={key: Incident(**value) for key, value in raw.get("open", {}).items()},
            runs_after=float(raw.get("runs_after", 0.0)),
        )

    def to_cursor(self) -> str:
        return orjson.dumps(
            {"open": {k: asdict(v) for k, v in self.open.items()}, "runs_after": self.runs_after}
        ).decode()


def check_notifications(state: AlertState, failing: list[Incident]) -> list[Notification]:
    """Firing for each failing check not yet open; resolved for each open one that passes
    now. `state` is not changed: the caller records what it could deliver (`delivered`)."""
    now_failing = {incident.key: incident for incident in failing}
    fired = [Notification("firing", i) for k, i in now_failing.items() if k not in state.open]
    resolved = [Notification("resolved", i) for k, i in state.open.items() if k not in now_failing]
    return fired + resolved


def delivered(state: AlertState, notification: Notification) -> None:
    """Record a sent check notification, so it is not sent again."""
    if notification.state == "firing":
        state.open[notification.incident.key] = notification.incident
    else:
        state.open.pop(notification.incident.key, None)
