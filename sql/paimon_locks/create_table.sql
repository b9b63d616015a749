-- The JDBC catalog lock table of Java Paimon (JdbcCatalogLock), so Java and Python committers
-- of the same catalog exclude each other.
CREATE TABLE IF NOT EXISTS paimon_distributed_locks (
    lock_id VARCHAR(255) NOT NULL,
    acquired_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL,
    expire_time_seconds BIGINT DEFAULT 0 NOT NULL,
    lock_owner VARCHAR(36),
    PRIMARY KEY (lock_id)
)
