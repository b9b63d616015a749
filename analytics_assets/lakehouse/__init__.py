"""Architecture B: raw Sensors events → Paimon ODS → dimensions → warehouse models
(DWD/DWS), with the lake's own maintenance. Loads and models run when their inputs land or
update (see `analytics_assets.automation`); maintenance runs on its schedule."""
