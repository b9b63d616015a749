-- The engine clause of one table (PARTITION BY, TTL, SETTINGS), as ClickHouse normalizes it:
-- the TTL the maintenance job plans with is the one the table really has.
SELECT engine_full
FROM system.tables
WHERE database = currentDatabase() AND name = {table:String}
