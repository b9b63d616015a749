-- Java getLockAcquireSql: fails on the primary key while anyone, Java or Python, holds it.
INSERT INTO paimon_distributed_locks (lock_id, expire_time_seconds) VALUES (?, ?)
