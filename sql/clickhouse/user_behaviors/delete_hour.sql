-- Remove one UTC hour before it is reloaded from staging (lightweight delete, applied
-- synchronously so the following insert starts from an empty hour).
DELETE FROM user_behaviors
WHERE date = toDate({hour_start:DateTime64(3, 'UTC')})
  AND timestamp >= {hour_start:DateTime64(3, 'UTC')}
  AND timestamp < {hour_end:DateTime64(3, 'UTC')}
SETTINGS lightweight_deletes_sync = 2;
