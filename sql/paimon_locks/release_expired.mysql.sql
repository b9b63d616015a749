-- A holder that died leaves its row; it stops counting once its lease has passed.
DELETE FROM paimon_distributed_locks
WHERE lock_id = ?
  AND TIMESTAMPDIFF(SECOND, acquired_at, CURRENT_TIMESTAMP) > expire_time_seconds
