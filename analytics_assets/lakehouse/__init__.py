"""Architecture B: raw Sensors events → Paimon ODS → dimensions → warehouse models
(DWD/DWS), with the lake's own maintenance. Loads and models run when their inputs land or
update (see `analytics_assets.automation`); maintenance runs on its schedule."""

from dagster import Definitions

from analytics_assets.lakehouse.checks import ods_reconciliation_checks
from analytics_assets.lakehouse.dimensions import dim_orders, dim_user_mapping
from analytics_assets.lakehouse.maintenance import lake_maintenance, lake_maintenance_schedule
from analytics_assets.lakehouse.ods import ods_events
from analytics_assets.lakehouse.warehouse import warehouse_assets

defs = Definitions(
    assets=[ods_events, dim_orders, dim_user_mapping, *warehouse_assets],
    asset_checks=ods_reconciliation_checks,
    jobs=[lake_maintenance],
    schedules=[lake_maintenance_schedule],
)
