-- A holder that died leaves its row; it stops counting once its lease has passed.
DELETE FROM paimon_distributed_locks
WHERE lock_id = ?
  AND CAST(strftime('%s', 'now') AS INTEGER) - CAST(strftime('%s', acquired_at) AS INTEGER) > expire_time_seconds
