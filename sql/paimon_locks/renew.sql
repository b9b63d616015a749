-- Heartbeat of a live holder: its lease starts again, so only a holder that died expires.
-- Matched on the acquired_at it holds, so a row taken over by another holder is left alone.
-- No quote characters in the comments of these files: the placeholder rewrite of the
-- DB-API wrapper would take them for a string literal and leave the placeholders alone.
UPDATE paimon_distributed_locks SET acquired_at = CURRENT_TIMESTAMP
WHERE lock_id = ? AND acquired_at = ?
