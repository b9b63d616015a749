"""The configuration store on its embedded backend (montydb, pymongo's API): the demo load
is idempotent, bad documents are refused with their name, and the observer reports only
collections that changed."""

from pathlib import Path

import pytest
from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context, materialize

from analytics_assets.configuration.sensors import config_collections_observer
from analytics_assets.resources.config_store import ConfigStore
from analytics_demo.traffic import DEFAULT_PROFILE
from analytics_lib.config_store import ConfigStoreError
from tests.support.domains import CONFIGURATION_ASSETS

EXPECTED = {
    "scenarios": len(DEFAULT_PROFILE.tenants) * len(DEFAULT_PROFILE.scenarios),
    "items": len(DEFAULT_PROFILE.tenants) * DEFAULT_PROFILE.items_per_tenant,
    "models": len(DEFAULT_PROFILE.tenants) * len(DEFAULT_PROFILE.scenarios),
    "experiments": len(DEFAULT_PROFILE.experiments),
    "user_profiles": len(DEFAULT_PROFILE.tenants) * DEFAULT_PROFILE.users_per_tenant // 10,
}


def _counts(store: ConfigStore) -> dict[str, int]:
    with store.connected() as db:
        return {name: db[name].count_documents({}) for name in EXPECTED}


@pytest.mark.slow
def test_demo_load_is_idempotent_and_observed_once(tmp_path: Path) -> None:
    store = ConfigStore(path=str(tmp_path / "config"))
    for _ in range(2):
        result = materialize(CONFIGURATION_ASSETS, resources={"config_store": store})
        assert result.success
        assert _counts(store) == EXPECTED
    rows = {
        event.asset_key.path[-1]: event.step_materialization_data.materialization.metadata[
            "dagster/row_count"
        ].value
        for event in result.get_asset_materialization_events()
    }
    assert rows == EXPECTED
    with store.connected() as db:
        paused = store.find(db, "scenarios", {"status": "paused"})
        assert [(s["tenant_id"], s["scenario_id"]) for s in paused] == [("initech", "search")]

    instance = DagsterInstance.ephemeral()
    context = build_sensor_context(instance=instance, resources={"config_store": store})
    first = config_collections_observer(context)
    assert isinstance(first, SensorResult) and len(first.asset_events) == len(EXPECTED)
    context = build_sensor_context(
        instance=instance, resources={"config_store": store}, cursor=context.cursor
    )
    assert isinstance(config_collections_observer(context), SkipReason)

    with store.connected() as db:
        store.replace_tenant(
            db,
            "models",
            "acme",
            [{"tenant_id": "acme", "model_id": "m1", "updated_at": "2099-01-01T00:00:00+00:00"}],
        )
    context = build_sensor_context(
        instance=instance, resources={"config_store": store}, cursor=context.cursor
    )
    changed = config_collections_observer(context)
    assert isinstance(changed, SensorResult)
    assert [e.asset_key.path for e in changed.asset_events] == [["mongodb", "models"]]


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([{"tenant_id": "acme", "item_id": ""}], "without"),
        ([{"tenant_id": "acme", "item_id": "i1"}, {"tenant_id": "acme", "item_id": "i1"}], "twice"),
        ([{"tenant_id": "globex", "item_id": "i1"}], "another tenant"),
    ],
)
def test_bad_documents_are_refused_before_anything_is_written(
    tmp_path: Path, documents: list[dict], message: str
) -> None:
    store = ConfigStore(path=str(tmp_path / "config"))
    with store.connected() as db:
        store.replace_tenant(db, "items", "acme", [{"tenant_id": "acme", "item_id": "i0"}])
        with pytest.raises(ConfigStoreError, match=message):
            store.replace_tenant(db, "items", "acme", documents)
        assert store.find(db, "items") == [{"tenant_id": "acme", "item_id": "i0"}]
