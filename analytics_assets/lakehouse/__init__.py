"""Architecture B: raw Sensors events → Paimon ODS → warehouse models (DWD/DWS), with the
lake's own maintenance."""

from dagster import Definitions

from analytics_assets.lakehouse.dimensions import dim_orders, dim_user_mapping
from analytics_assets.lakehouse.maintenance import lake_maintenance, lake_maintenance_schedule
from analytics_assets.lakehouse.ods import ods_events
from analytics_assets.lakehouse.warehouse import warehouse_assets

defs = Definitions(
    assets=[ods_events, dim_orders, dim_user_mapping, *warehouse_assets],
    jobs=[lake_maintenance],
    schedules=[lake_maintenance_schedule],
)
