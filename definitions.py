"""The analytics code location: every Dagster definition under `analytics_assets/`, found
by Dagster's package autoloader, bound to the resources the environment names.

Nothing is listed by hand: a module in `analytics_assets/` that defines an asset, check,
job, schedule or sensor at module level is part of the location (`dg list defs` shows
them; the spec snapshot test shows any change as a diff).

Why `load_definitions_from_package_module` and not `load_from_defs_folder`: the latter
also imports every installed Dagster component plugin (dagster-aws pulls in boto3, …) to
describe them in the UI. Measured on this machine: 7 to 9 s added to every load of the
location, and every run's process loads it, against 0.4 to 0.5 s for walking our package.
We define no components, so that catalog would describe nothing of ours.
"""

from dagster import Definitions, load_definitions_from_package_module

import analytics_assets
from analytics_assets.resources import resources_from_environment

defs = Definitions.merge(
    load_definitions_from_package_module(analytics_assets),
    Definitions(resources=resources_from_environment()),
)
