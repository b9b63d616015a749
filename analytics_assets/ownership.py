"""Who owns the assets and the groups the UI shows them in, set once for every domain.

Owners are who an asset alert or a question goes to; groups follow the architecture
(ingestion → behavior analytics / lakehouse / stream, plus configuration). Domain modules
take their group and owners from here instead of repeating the strings, so handing a
domain to another team, or renaming a group, is one edit.
"""

# Owners
ANALYTICS_PLATFORM = ("team:analytics-platform",)
"""The platform team: ingestion, the lake, the ClickHouse loads and the stream jobs."""
RECOMMENDATION = ("team:recommendation",)
"""The recommendation team: the configuration its services read."""

# Groups
INGESTION = "ingestion"
BEHAVIOR_ANALYTICS = "behavior_analytics"
LAKEHOUSE = "lakehouse"
STREAM = "stream"
CONFIGURATION = "configuration"
