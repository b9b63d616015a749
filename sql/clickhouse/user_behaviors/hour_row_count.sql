-- Rows already loaded for one UTC hour; a first load skips the (partition-wide) delete.
SELECT count() AS row_count
FROM user_behaviors
WHERE date = toDate({hour_start:DateTime64(3, 'UTC')})
  AND timestamp >= {hour_start:DateTime64(3, 'UTC')}
  AND timestamp < {hour_end:DateTime64(3, 'UTC')}
