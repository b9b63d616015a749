"""The analytics platform: Dagster definitions per domain, the libraries they use, and the
services (collector, API).

We knowingly use two Dagster APIs still marked beta / preview: `backfill_policy` on assets
(one run per backfill range) and `partitions_def` on asset checks (per-hour
reconciliation). Their warnings, printed at every load of the code location, tell a user
of the platform nothing, so they are silenced here, by message, before any domain module
defines an asset; every other warning still shows. (By message, not by class: importing
Dagster here would slow the services, which import this package but not Dagster.)
"""

import warnings

for _message in (
    r"Parameter `backfill_policy` of function `asset` is currently in beta",
    r"Specifying a partitions_def on an AssetCheckSpec is currently in preview",
):
    warnings.filterwarnings("ignore", message=_message)
