"""Non-lake housekeeping, one job per module, each on its own schedule: ClickHouse parts
and TTL, staging retention, Redis trimming. (Paimon maintenance lives with the lake.)"""
