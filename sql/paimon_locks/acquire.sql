-- Fails on the primary key while another owner holds the lock.
INSERT INTO paimon_distributed_locks (lock_id, expire_time_seconds, lock_owner) VALUES (?, ?, ?)
