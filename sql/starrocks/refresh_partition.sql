-- Backfill one day synchronously: the run finishes when the data is in. The view name is
-- checked against the model list by the caller (identifiers cannot be bound).
REFRESH MATERIALIZED VIEW {view} PARTITION START (%(start)s) END (%(end)s) FORCE WITH SYNC MODE
