"""Every definition the code location exposes, as one reviewable snapshot (syrupy): asset
specs (key, deps, group, owners, kinds, tags, partitions, automation, description,
definition metadata such as the column schema and table name) with
their checks, schedules, sensors and jobs. A structural change (a moved module, a renamed
key, a new automation condition) shows up as a diff of `__snapshots__/`; update it on
purpose with `pytest tests/test_definitions_snapshot.py --snapshot-update`.

As dagster-open-platform's `test_defs.py` does for its own platform."""

from collections.abc import Mapping
from typing import Any

from dagster import TableSchema
from syrupy.assertion import SnapshotAssertion


def _automation(condition: object) -> str | None:
    return None if condition is None else repr(condition)


def _metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Definition metadata as plain values; a column schema one line per column."""
    summary: dict[str, Any] = {}
    for key, value in sorted(metadata.items()):
        if isinstance(value, TableSchema):
            summary[key] = [
                f"{c.name}: {c.type}"
                + ("" if c.constraints.nullable else " NOT NULL")
                + "".join(f" {other}" for other in c.constraints.other)
                + (f" -- {c.description}" if c.description else "")
                for c in value.columns
            ] + [f"[{other}]" for other in value.constraints.other]
        else:
            summary[key] = value
    return summary


def definitions_summary() -> dict[str, Any]:
    from definitions import defs

    graph = defs.resolve_asset_graph()
    checks: dict[str, list[dict[str, Any]]] = {}
    for check_key in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key, k.name)):
        spec = graph.get_check_spec(check_key)
        checks.setdefault(check_key.asset_key.to_user_string(), []).append(
            {
                "name": spec.name,
                "blocking": spec.blocking,
                "partitions": str(spec.partitions_def) if spec.partitions_def else None,
                "additional_deps": sorted(
                    d.asset_key.to_user_string() for d in spec.additional_deps
                ),
            }
        )
    assets = {
        spec.key.to_user_string(): {
            "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
            "group": spec.group_name,
            "owners": sorted(spec.owners),
            "kinds": sorted(spec.kinds),
            "tags": dict(sorted(spec.tags.items())),
            "partitions": str(spec.partitions_def) if spec.partitions_def else None,
            "automation": _automation(spec.automation_condition),
            "description": spec.description,
            "metadata": _metadata(spec.metadata),
            "checks": checks.get(spec.key.to_user_string(), []),
        }
        for spec in sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key)
    }
    return {
        "assets": assets,
        "schedules": {
            s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name}
            for s in sorted(defs.schedules or [], key=lambda s: s.name)
        },
        "sensors": sorted(s.name for s in defs.sensors or []),
        "jobs": sorted(j.name for j in defs.jobs or []),
    }


def test_every_definition_matches_the_snapshot(snapshot: SnapshotAssertion) -> None:
    assert definitions_summary() == snapshot
