"""Alerting: failed asset checks and failed runs become Slack / webhook notifications."""
