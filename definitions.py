"""The analytics code location: every domain's definitions, merged, plus resources."""

from dagster import Definitions

from analytics_assets import behavior
from analytics_assets.resources import resources_from_environment

defs = Definitions.merge(
    behavior.defs,
    Definitions(resources=resources_from_environment()),
)
