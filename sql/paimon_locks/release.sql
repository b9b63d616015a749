-- Release only the row this holder acquired (or last renewed): Java releases by lock_id
-- alone, which would delete a successor row after an expiry.
DELETE FROM paimon_distributed_locks WHERE lock_id = ? AND acquired_at = ?
