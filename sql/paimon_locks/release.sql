DELETE FROM paimon_distributed_locks WHERE lock_id = ? AND lock_owner = ?
