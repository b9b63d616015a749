-- A holder that died leaves its row; it stops counting once its lease has passed.
DELETE FROM paimon_distributed_locks
WHERE lock_id = ?
  AND EXTRACT(EPOCH FROM (CURRENT_TIMESTAMP - acquired_at)) > expire_time_seconds
