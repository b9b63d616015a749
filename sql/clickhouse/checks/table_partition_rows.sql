-- Active rows per day partition ('YYYY-MM-DD') of one table in a day range (asset metadata).
SELECT partition, sum(rows) AS row_count, sum(bytes_on_disk) AS bytes
FROM system.parts
WHERE database = currentDatabase() AND table = {table:String} AND active
  AND partition >= {first_day:String} AND partition <= {last_day:String}
GROUP BY partition
ORDER BY partition
