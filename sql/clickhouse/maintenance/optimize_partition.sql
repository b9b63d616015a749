-- Merge the active parts of one partition (never the whole table, never FINAL): ClickHouse
-- picks the merge, as a background merge would. A no-op when the parts are already being
-- merged in the background. `table` is an Identifier parameter taken from the fixed
-- allow-list in analytics_assets/maintenance/clickhouse_parts.py, never from user input.
OPTIMIZE TABLE {table:Identifier} PARTITION {partition:String}
