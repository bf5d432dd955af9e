-- Plain-SQL progress, for a stock sqlite3 shell without the extension (the extension's nxm_progress
-- table gives the same with state, pending and expiry):
--   sqlite3 -box nxm.db ".read sql/progress.sql"
SELECT execution_id,
       completed,
       total,
       round(100.0 * completed / max(total, 1), 1) AS percent,
       brand,
       model,
       datetime(created_at, 'unixepoch') AS created_at,
       datetime(updated_at, 'unixepoch') AS updated_at,
       datetime(updated_at + 3600 * (SELECT value FROM nxm_meta WHERE key = 'ttl_hours'),
                'unixepoch') AS expires_at
  FROM nxm_executions
 ORDER BY updated_at DESC;
