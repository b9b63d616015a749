"""Architecture B: raw Sensors events → Paimon ODS → warehouse models (DWD/DWS), with the
lake's own maintenance."""

from dagster import Definitions

from analytics_assets.lakehouse.maintenance import lake_maintenance, lake_maintenance_schedule
from analytics_assets.lakehouse.ods import ods_events

defs = Definitions(
    assets=[ods_events],
    jobs=[lake_maintenance],
    schedules=[lake_maintenance_schedule],
)
