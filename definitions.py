"""The analytics code location: every domain's definitions, merged, plus the resource set
of the profile `ANALYTICS_PROFILE` names (embedded | stack | production, see
`analytics_assets.resources`). Demo-only definitions (the demo configuration load) exist in
the profiles demo traffic runs in, never in production."""

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
from analytics_assets.resources import DEMO_PROFILES, active_profile, resources_for


def build_definitions(profile: str) -> Definitions:
    return Definitions.merge(
        ingest.defs,
        behavior.defs,
        lakehouse.defs,
        stream.defs,
        configuration.defs if profile in DEMO_PROFILES else configuration.production_defs,
        alerts.defs,
        health.defs,
        maintenance.defs,
        automation.defs,
        Definitions(resources=resources_for(profile)),
    )


defs = build_definitions(active_profile())
