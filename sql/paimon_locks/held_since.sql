-- The acquired_at of the row: the holder remembers it as its ownership token (Java tables
-- have no owner column); a row taken over after an expiry has a later acquired_at.
SELECT acquired_at FROM paimon_distributed_locks WHERE lock_id = ?
