"""The demo configuration: what the recommendation admin would have stored for the tenants,
scenarios, items, users and experiments the demo traffic generator produces, so joins from
behaviors to configuration always find their rows."""

from typing import Any

from analytics_demo.traffic import DEFAULT_PROFILE, TrafficProfile

CATEGORIES = ("electronics", "fashion", "home", "books", "sports", "beauty", "food", "toys")
SEGMENTS = ("new", "casual", "engaged", "loyal")
# One paused scenario, so "active scenarios" differs from "scenarios".
PAUSED = {("initech", "search")}
# Every 50th item is off the shelf, so "active items" differs from "items".
OFFLINE_EVERY = 50
# One user in ten filled in a profile (it also keeps the embedded montydb load fast: its
# queries scan a collection in Python).
PROFILE_EVERY = 10


def demo_documents(
    tenant_id: str, updated_at: str, profile: TrafficProfile = DEFAULT_PROFILE
) -> dict[str, list[dict[str, Any]]]:
    """Documents per collection for one tenant (deterministic apart from `updated_at`)."""
    scenarios = [
        {
            "tenant_id": tenant_id,
            "scenario_id": scenario,
            "name": scenario.replace("_", " ").title(),
            "status": "paused" if (tenant_id, scenario) in PAUSED else "active",
            "updated_at": updated_at,
        }
        for scenario in profile.scenarios
    ]
    items = [
        {
            "tenant_id": tenant_id,
            "item_id": f"i{n}",
            "title": f"{CATEGORIES[n % len(CATEGORIES)].title()} item {n}",
            "category": CATEGORIES[n % len(CATEGORIES)],
            "status": "offline" if n % OFFLINE_EVERY == OFFLINE_EVERY - 1 else "active",
            "updated_at": updated_at,
        }
        for n in range(profile.items_per_tenant)
    ]
    models = [
        {
            "tenant_id": tenant_id,
            "model_id": f"{scenario}_ranker",
            "scenario_id": scenario,
            "algorithm": "two-tower recall + GBDT ranking",
            "version": "v3",
            "status": "serving",
            "updated_at": updated_at,
        }
        for scenario in profile.scenarios
    ]
    experiments = [
        {
            "tenant_id": tenant_id,
            "experiment_id": experiment.experiment_id,
            "scenario_id": scenario,
            "groups": [
                {"name": group, "traffic": round(1 / len(experiment.click_rate_by_group), 4)}
                for group in experiment.click_rate_by_group
            ],
            "primary_metric": "ctr",
            "status": "running",
            "updated_at": updated_at,
        }
        for (tenant, scenario), experiment in profile.experiments.items()
        if tenant == tenant_id
    ]
    user_profiles = [
        {
            "tenant_id": tenant_id,
            "user_id": f"u{n}",
            "segment": SEGMENTS[n % len(SEGMENTS)],
            "preferred_categories": [CATEGORIES[n % len(CATEGORIES)]],
            "updated_at": updated_at,
        }
        for n in range(0, profile.users_per_tenant, PROFILE_EVERY)
    ]
    return {
        "scenarios": scenarios,
        "items": items,
        "models": models,
        "experiments": experiments,
        "user_profiles": user_profiles,
    }
