"""Where the DWD/DWS models live, as Dagster resources: the library's warehouse clients
(StarRocks in production, the ClickHouse server reading the lake on one machine). Assets
call `refresh_day` and `model_state` and do not know which one they talk to."""

from abc import ABC

from dagster import ConfigurableResource

from analytics_assets.resources.clickhouse import ClickHouseResource
from analytics_assets.resources.paimon import PaimonLake
from analytics_lib.warehouse import (
    EmbeddedWarehouseClient,
    StarRocksWarehouseClient,
    WarehouseClient,
)


class LakeWarehouse(ConfigurableResource, WarehouseClient, ABC):
    """Either warehouse, as assets depend on it."""


class EmbeddedWarehouse(LakeWarehouse, EmbeddedWarehouseClient):
    """The ClickHouse server computing the models from the lake; its engines are the
    platform's own ClickHouse and Paimon resources."""

    clickhouse: ClickHouseResource
    paimon: PaimonLake


class StarRocksWarehouse(LakeWarehouse, StarRocksWarehouseClient):
    """A StarRocks FE over the MySQL protocol."""
