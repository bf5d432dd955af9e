-- Plain-SQL progress, for a stock sqlite3 shell without the extension; the same columns as the
-- extension's nxm_progress table:
--   sqlite3 -box nxm.db ".read sql/progress.sql"
WITH ttl(seconds) AS (
  SELECT 3600.0 * CASE WHEN typeof(value) IN ('integer', 'real') AND value >= 0 THEN value ELSE 24 END
    FROM nxm_meta WHERE key = 'ttl_hours'
)
SELECT execution_id,
       CASE WHEN updated_at < unixepoch('now') - ttl.seconds THEN 'expired'
            WHEN completed >= total THEN 'complete' ELSE 'running' END AS state,
       completed,
       total,
       CASE WHEN total > 0 THEN round(100.0 * completed / total, 1) ELSE 100.0 END AS percent,
       planned - done AS pending,
       brand,
       model,
       strftime('%Y-%m-%dT%H:%M:%SZ', created_at, 'unixepoch') AS created_at,
       strftime('%Y-%m-%dT%H:%M:%SZ', updated_at, 'unixepoch') AS updated_at,
       strftime('%Y-%m-%dT%H:%M:%SZ', updated_at + ttl.seconds, 'unixepoch') AS expires_at
  FROM nxm_executions, ttl
 ORDER BY execution_id;
