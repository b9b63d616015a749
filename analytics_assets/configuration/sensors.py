"""Observe the configuration collections: the admin service (not Dagster) writes them in
production, so the UI learns of changes from observations, not materializations."""

import json

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from analytics_assets.configuration.assets import collection_key, summary_metadata
from analytics_assets.resources.config_store import ConfigStore
from analytics_lib.config_store import CONFIG_COLLECTIONS


@sensor(
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Counts each configuration collection's documents and its newest `updated_at`; "
        "records an observation when either changed since the last tick."
    ),
)
def config_collections_observer(
    context: SensorEvaluationContext, config_store: ConfigStore
) -> SensorResult | SkipReason:
    seen = json.loads(context.cursor) if context.cursor else {}
    events = []
    try:
        with config_store.connected() as db:
            for collection in CONFIG_COLLECTIONS:
                summary = config_store.summary(db, collection.name)
                fingerprint = [summary["documents"], summary["updated_at"]]
                if seen.get(collection.name) == fingerprint:
                    continue
                seen[collection.name] = fingerprint
                events.append(
                    AssetObservation(
                        collection_key(collection.name),
                        metadata=summary_metadata(config_store, collection.name, summary),
                    )
                )
    except Exception as exc:  # pymongo and montydb raise different errors
        return SkipReason(f"configuration store unavailable: {type(exc).__name__}: {exc}")
    context.update_cursor(json.dumps(seen, sort_keys=True))
    if not events:
        return SkipReason("no configuration collection changed")
    return SensorResult(asset_events=events)
