-- shell_roundtrip.sql: the nxm round trip through the sqlite3 command-line shell.
--
-- Usage: sqlite3 -cmd '.load build/nxm' DATABASE < tests/clients/shell_roundtrip.sql
--
-- Prints the same "key<TAB>value" lines as the other clients; tests/test_clients.py compares them. The
-- one deliberate error (a result that is not JSON) goes to stderr, where the shell reports errors, and
-- the script carries on.
.mode tabs
.headers off
.nullvalue NULL
.timeout 10000

SELECT 'sqlite', sqlite_version();
SELECT 'version', nxm_version();
SELECT 'append', nxm_wal_append('exec-1', '{"n":1,"answer":"Café"}', NULL, 4, 'Café Nordlys', 'gpt-4o-mini', 't1');
SELECT 'append', nxm_wal_append('exec-1', '{"n":2,"answer":"品牌 A"}', NULL, 4, 'Café Nordlys', 'gpt-4o-mini', 't2');
SELECT 'append', nxm_wal_append('exec-1', '{"n":3,"answer":null}', NULL, NULL, 'Café Nordlys', 'gpt-4o-mini', 't3');
-- the same task again: replaces its result, is not counted twice
SELECT 'append', nxm_wal_append('exec-1', '{"n":22,"answer":"Ωmega"}', NULL, NULL, 'Café Nordlys', 'gpt-4o-mini', 't2');
SELECT 'journal_mode', journal_mode FROM pragma_journal_mode;
SELECT 'recover', nxm_recover('exec-1');

SELECT 'progress.state', state FROM nxm_progress WHERE execution_id = 'exec-1';
SELECT 'progress.completed', completed FROM nxm_progress WHERE execution_id = 'exec-1';
SELECT 'progress.total', total FROM nxm_progress WHERE execution_id = 'exec-1';
SELECT 'progress.percent', percent FROM nxm_progress WHERE execution_id = 'exec-1';
SELECT 'progress.pending', pending FROM nxm_progress WHERE execution_id = 'exec-1';
SELECT 'progress.brand', brand FROM nxm_progress WHERE execution_id = 'exec-1';
SELECT 'progress.model', model FROM nxm_progress WHERE execution_id = 'exec-1';

SELECT 'not reached', nxm_wal_append('exec-1', '{"n":', NULL, NULL, 'Café Nordlys', 'gpt-4o-mini', 't4');

SELECT 'append', nxm_wal_append('exec-1', '{"n":4,"answer":[1,2]}', NULL, NULL, 'Café Nordlys', 'gpt-4o-mini', 't4');
SELECT 'final.state', state FROM nxm_progress WHERE execution_id = 'exec-1';
SELECT 'final.recover', nxm_recover('exec-1');

SELECT 'append', nxm_wal_append('exec-2', '{"n":1}', 1, 2);
UPDATE nxm_executions SET updated_at = updated_at - 7200 WHERE execution_id = 'exec-1';
SELECT 'cleanup', nxm_cleanup(1);
SELECT 'remaining', group_concat(execution_id) FROM nxm_progress;
SELECT 'results_left', count(*) FROM nxm_results;
SELECT 'cleanup', nxm_cleanup();
