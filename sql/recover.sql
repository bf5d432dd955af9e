-- Plain-SQL recovery, for a stock sqlite3 shell without the extension:
--   sqlite3 nxm.db -cmd ".parameter set :execution_id 'e1'" ".read sql/recover.sql"
-- One JSON object shaped like nxm_recover's answer (results in the order first appended; pending when a
-- plan exists). Unlike nxm_recover it also answers for expired and complete executions.
SELECT json_remove(json_object(
         'execution_id', e.execution_id,
         'results', (SELECT json_group_array(json(r.result))
                       FROM (SELECT result FROM nxm_results
                              WHERE execution_id = e.execution_id ORDER BY seq) AS r),
         'completed', e.completed,
         'total', e.total,
         'brand', e.brand,
         'model', e.model,
         'timestamp', e.updated_at,
         'last_updated', strftime('%Y-%m-%dT%H:%M:%fZ', e.updated_at, 'unixepoch'),
         'pending', CASE WHEN e.planned IS NOT NULL THEN
                      (SELECT json_group_array(t.task_id)
                         FROM (SELECT task_id FROM nxm_tasks AS p
                                WHERE p.execution_id = e.execution_id
                                  AND NOT EXISTS (SELECT 1 FROM nxm_results AS r
                                                   WHERE r.execution_id = p.execution_id
                                                     AND r.task_id = p.task_id)
                                ORDER BY p.position) AS t)
                    END),
       CASE WHEN e.planned IS NULL THEN '$.pending' ELSE '$.no_such_key' END)
  FROM nxm_executions AS e
 WHERE e.execution_id = :execution_id;
