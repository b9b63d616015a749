-- Active rows per partition of one table for a list of partitions (asset metadata).
SELECT partition, sum(rows) AS row_count, sum(bytes_on_disk) AS bytes
FROM system.parts
WHERE database = currentDatabase() AND table = {table:String} AND active
  AND partition IN {partitions:Array(String)}
GROUP BY partition
ORDER BY partition
