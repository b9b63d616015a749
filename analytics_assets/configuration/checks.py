"""The configuration store is edited outside Dagster (the recommendation team's tools
write MongoDB directly), so its checks run on the health schedule, not only after the
demo load: every tenant has documents in every collection, and experiments are coherent
(the dashboard's z-test assumes groups that split the traffic of an existing scenario)."""

from typing import Any

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from analytics_assets.configuration.assets import collection_key
from analytics_assets.resources.config_store import ConfigStore
from analytics_lib.config_store import CONFIG_COLLECTIONS
from analytics_lib.metadata import markdown_table

TRAFFIC_TOLERANCE = 0.01


def _coverage_check(name: str) -> AssetChecksDefinition:
    @asset_check(
        asset=collection_key(name),
        name=f"{name}_every_tenant_configured",
        description=f"Every tenant that has scenarios has at least one document in `{name}`.",
    )
    def _check(context: AssetCheckExecutionContext, config_store: ConfigStore) -> AssetCheckResult:
        with config_store.connected() as db:
            tenants = sorted(db["scenarios"].distinct("tenant_id"))
            # find_one, not count_documents: montydb scans in Python, and a presence test
            # can stop at the first document.
            present = {t: db[name].find_one({"tenant_id": t}) is not None for t in tenants}
        missing = sorted(t for t, found in present.items() if not found)
        return AssetCheckResult(
            passed=not missing,
            severity=AssetCheckSeverity.ERROR,
            description=(
                f"All {len(tenants)} tenant(s) have {name}."
                if not missing
                else f"Tenant(s) {', '.join(missing)} have no {name}: their recommendations "
                "and dashboards lose this configuration. Restore it in the configuration store."
            ),
            metadata={"tenants": len(tenants), "missing": MetadataValue.json(missing)},
        )

    return _check


def experiment_problems(
    experiments: list[dict[str, Any]], scenarios: set[tuple[str, str]]
) -> pl.DataFrame:
    """One row per incoherent experiment: fewer than two groups, traffic shares that do not
    add up to 1, or a scenario the tenant does not have."""
    rows = []
    for experiment in experiments:
        groups = experiment.get("groups") or []
        share = sum(float(g.get("traffic", 0)) for g in groups)
        tenant, scenario = experiment.get("tenant_id", ""), experiment.get("scenario_id", "")
        problems = []
        if len(groups) < 2:
            problems.append(f"{len(groups)} group(s)")
        if abs(share - 1.0) > TRAFFIC_TOLERANCE:
            problems.append(f"traffic shares add up to {share:.3f}")
        if (tenant, scenario) not in scenarios:
            problems.append(f"unknown scenario {scenario!r}")
        if problems:
            rows.append(
                {
                    "tenant": tenant,
                    "experiment": str(experiment.get("experiment_id", "")),
                    "problems": "; ".join(problems),
                }
            )
    return pl.DataFrame(
        rows, schema={"tenant": pl.String, "experiment": pl.String, "problems": pl.String}
    )


@asset_check(
    asset=collection_key("experiments"),
    description=(
        "Every experiment has at least two groups whose traffic shares add up to 1 and "
        "belongs to a scenario of its tenant."
    ),
)
def experiments_coherent(
    context: AssetCheckExecutionContext, config_store: ConfigStore
) -> AssetCheckResult:
    with config_store.connected() as db:
        experiments = config_store.find(db, "experiments")
        scenarios = {(s["tenant_id"], s["scenario_id"]) for s in config_store.find(db, "scenarios")}
    problems = experiment_problems(experiments, scenarios)
    return AssetCheckResult(
        passed=problems.is_empty(),
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{len(experiments)} experiment(s) are coherent."
            if problems.is_empty()
            else f"{problems.height} experiment(s) are incoherent: their significance tests "
            "on the dashboard are meaningless until fixed."
        ),
        metadata={
            "experiments": len(experiments),
            "problems": MetadataValue.md(markdown_table(problems) if problems.height else "none"),
        },
    )


config_health_checks = [
    *[_coverage_check(collection.name) for collection in CONFIG_COLLECTIONS],
    experiments_coherent,
]
