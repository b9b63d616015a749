"""The analytics code location: every domain's definitions, merged, plus resources."""

from dagster import Definitions

from analytics_assets import (
    alerts,
    automation,
    behavior,
    configuration,
    ingest,
    lakehouse,
    maintenance,
    stream,
)
from analytics_assets.health import schedule as health
from analytics_assets.resources import resources_from_environment

defs = Definitions.merge(
    ingest.defs,
    behavior.defs,
    lakehouse.defs,
    stream.defs,
    configuration.defs,
    alerts.defs,
    health.defs,
    maintenance.defs,
    automation.defs,
    Definitions(resources=resources_from_environment()),
)
