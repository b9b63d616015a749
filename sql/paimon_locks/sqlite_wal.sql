-- Write-ahead log for an sqlite catalog: readers never block the lock writers. Java Paimon
-- 2.0.0 leaves a ResultSet open when it finds the lock table already created
-- (AbstractDistributedLockDialect.createTable), which in the default rollback journal holds
-- a read lock for the life of the pooled connection, so every other connection, Java or
-- ours, fails with SQLITE_BUSY when it writes a lock row.
PRAGMA journal_mode = WAL
