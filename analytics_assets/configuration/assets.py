"""The configuration collections as assets: loaded with the demo configuration by one
multi-asset (idempotent per tenant), observed by a sensor when anything else changes them."""

import functools
from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from analytics_assets import ownership
from analytics_assets.resources.config_store import ConfigStore
from analytics_assets.table_metadata import TABLE_NAME
from analytics_demo.configuration import demo_documents
from analytics_demo.traffic import DEFAULT_PROFILE
from analytics_lib.config_store import CONFIG_COLLECTIONS, now_text


def collection_key(name: str) -> AssetKey:
    return AssetKey(["mongodb", name])


def summary_metadata(config_store: ConfigStore, name: str, summary: dict) -> dict[str, object]:
    return {
        "dagster/row_count": summary["documents"],
        TABLE_NAME: f"{config_store.database}.{name}",
        "tenants": MetadataValue.json(summary["tenants"]),
        "last_updated_at": summary["updated_at"] or "",
        "backend": "mongodb" if config_store.uri else "montydb (embedded)",
    }


# The collections are built by functions, not at module level, because which definition
# holds them depends on the profile (definitions.py): where demo traffic runs, the demo
# load materializes them; in production they are external assets, written by the admin
# service and reported on by the observation sensor, and nothing in the graph overwrites
# them. Cached: one definition object per key, however often it is asked for.
@functools.cache
def collection_specs() -> tuple[AssetSpec, ...]:
    return tuple(
        AssetSpec(
            collection_key(collection.name),
            description=(
                f"{collection.description} Natural key {', '.join(collection.key)}. "
                "MongoDB in production (`MONGODB_URI`), montydb embedded by default."
            ),
            group_name=ownership.CONFIGURATION,
            kinds={"mongodb"},
            owners=ownership.RECOMMENDATION,
            tags={"layer": "config"},
        )
        for collection in CONFIG_COLLECTIONS
    )


@functools.cache
def demo_configuration_asset() -> AssetsDefinition:
    @multi_asset(
        name="demo_configuration",
        specs=collection_specs(),
        can_subset=False,
        description=(
            "Loads the demo configuration (the tenants, scenarios, items, users and "
            "experiments the demo traffic uses), replacing each tenant's documents: "
            "re-running converges."
        ),
    )
    def demo_configuration(
        context: AssetExecutionContext, config_store: ConfigStore
    ) -> Iterator[MaterializeResult]:
        updated_at = now_text()
        with config_store.connected() as db:
            config_store.ensure_indexes(db)
            for tenant in DEFAULT_PROFILE.tenants:
                written = {
                    name: config_store.replace_tenant(db, name, tenant, documents)
                    for name, documents in demo_documents(tenant, updated_at).items()
                }
                context.log.info(f"{tenant}: {written}")
            for collection in CONFIG_COLLECTIONS:
                summary = config_store.summary(db, collection.name)
                yield MaterializeResult(
                    asset_key=collection_key(collection.name),
                    metadata=summary_metadata(config_store, collection.name, summary),
                )

    return demo_configuration


def configuration_assets(with_demo_load: bool) -> list[AssetsDefinition | AssetSpec]:
    """The collections as the profile has them: the demo load, or external assets."""
    return [demo_configuration_asset()] if with_demo_load else list(collection_specs())
