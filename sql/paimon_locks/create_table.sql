-- The JDBC catalog lock table of Java Paimon, column for column as its dialects create it
-- (SqlLiteDistributedLockDialect, PostgresqlDistributedLockDialect, MysqlDistributedLockDialect
-- with the default lock-key-max-length 255), so whichever side creates it first, the
-- INSERT of the other side works.
CREATE TABLE IF NOT EXISTS paimon_distributed_locks (
    lock_id VARCHAR(255) NOT NULL,
    acquired_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL,
    expire_time_seconds BIGINT DEFAULT 0 NOT NULL,
    PRIMARY KEY (lock_id)
)
