-- Active parts per partition of one table (what merges and TTL act on): part count, rows
-- as stored (before ReplacingMergeTree/AggregatingMergeTree collapse them) and bytes.
SELECT
    partition,
    count() AS parts,
    sum(rows) AS rows,
    sum(bytes_on_disk) AS bytes_on_disk
FROM system.parts
WHERE database = currentDatabase() AND table = {table:String} AND active
GROUP BY partition
ORDER BY partition
