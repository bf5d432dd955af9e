-- Deletes one execution by hand; a trigger deletes its results and plan with it:
--   sqlite3 nxm.db -cmd ".parameter set :execution_id 'e1'" ".read sql/delete_execution.sql"
DELETE FROM nxm_executions WHERE execution_id = :execution_id;
