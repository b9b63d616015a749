-- Apply the table's own TTL to one partition now and wait for it (mutations_sync = 2):
-- the engine decides which rows are expired. Background TTL merges only run while the
-- engine is up (chDB: only during a step) and skip parts without TTL information
-- (attached or restored parts). `table` comes from the fixed allow-list in code.
ALTER TABLE {table:Identifier} MATERIALIZE TTL IN PARTITION {partition:String}
SETTINGS mutations_sync = 2
