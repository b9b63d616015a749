-- Drop a partition the TTL has already emptied (its parts hold 0 rows): ClickHouse would
-- only remove such empty parts after its cleanup delay, which a short chDB session never
-- reaches. The job issues it only after checking the partition holds no rows.
-- `table` comes from the fixed allow-list in code.
ALTER TABLE {table:Identifier} DROP PARTITION {partition:String}
