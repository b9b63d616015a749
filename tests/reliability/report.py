"""The reliability suite's ledger: each scenario records what it injected and what it
counted, and the session prints one table at the end (and writes it as JSON), so a CI log
shows at a glance that no acknowledged event was lost."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability.json"


@dataclass(frozen=True)
class Outcome:
    scenario: str
    faults: str  # what was injected, e.g. "kill -9 collector, twice"
    sent: int  # events the load generator sent
    acknowledged: int  # events a server acknowledged (2xx) — the ones that must not be lost
    found: int  # distinct events found downstream
    duplicates: int  # rows downstream beyond the distinct events (0 after dedup)
    note: str = ""

    @property
    def lost(self) -> int:
        return max(self.acknowledged - self.found, 0)


_outcomes: list[Outcome] = []


def record(outcome: Outcome) -> Outcome:
    """Add a scenario's row to the table (call it before asserting, so a failing scenario
    still shows its numbers)."""
    _outcomes.append(outcome)
    return outcome


def outcomes() -> list[Outcome]:
    return list(_outcomes)


def table() -> str:
    header = (
        "scenario",
        "faults injected",
        "sent",
        "acknowledged",
        "found",
        "lost",
        "duplicates",
        "note",
    )
    rows = [
        (o.scenario, o.faults, o.sent, o.acknowledged, o.found, o.lost, o.duplicates, o.note)
        for o in _outcomes
    ]
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=False)]
    lines = [
        " | ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True))
        for row in (header, *rows)
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json() -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(o) | {"lost": o.lost} for o in _outcomes], indent=2))
