"""Alerting: failed asset checks and failed runs become Slack / webhook notifications."""

from dagster import Definitions

from analytics_assets.alerts.sensor import alert_sensor

defs = Definitions(sensors=[alert_sensor])
