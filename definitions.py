"""The analytics code location: every Dagster definition under `analytics_assets/`, found
by Dagster's package autoloader, plus what the profile `ANALYTICS_PROFILE` decides
(embedded | stack | production, see `analytics_assets.resources`): the resource set, and
whether the configuration collections are the demo load (where demo traffic runs) or
external assets (production: nothing in the graph overwrites them).

Nothing else is listed by hand: a module in `analytics_assets/` that defines an asset,
check, job, schedule or sensor at module level is part of the location (`dg list defs`
shows them; the spec snapshot test shows any change as a diff).

Why `load_definitions_from_package_module` and not `load_from_defs_folder`: the latter
also imports every installed Dagster component plugin (dagster-aws pulls in boto3, ...)
to describe them in the UI. Measured on this machine: 7 to 9 s added to every load of the
location, and every run's process loads it, against 0.4 to 0.5 s for walking our package.
We define no components, so that catalog would describe nothing of ours.
"""

from dagster import Definitions, load_definitions_from_package_module, multiprocess_executor

import analytics_assets
from analytics_assets.configuration.assets import configuration_assets
from analytics_assets.resources import DEMO_PROFILES, resources_for
from analytics_lib.environment import active_profile

# Each step still runs in its own process, but forked from a server that imported this
# code location once per run, not a fresh interpreter importing Dagster and it per step
# (Dagster's default, `spawn`): on 2 cores busy with the demo's Flink and ClickHouse,
# starting a step took 13-20 s against 0-6 s of work (the demo test's runs, 2026-12-05).
STEP_PROCESSES = multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["definitions"]}}}
)


def build_definitions(profile: str) -> Definitions:
    return Definitions.merge(
        load_definitions_from_package_module(analytics_assets),
        Definitions(
            assets=configuration_assets(with_demo_load=profile in DEMO_PROFILES),
            resources=resources_for(profile),
            executor=STEP_PROCESSES,
        ),
    )


defs = build_definitions(active_profile())
