-- The nxm schema: the single source, built into the extension (see Makefile) and runnable as plain SQL.
-- Every object is created IF NOT EXISTS, so running it twice changes nothing. Only built-in SQL is used,
-- so a stock sqlite3 shell can read, recover and delete without the extension loaded.

-- Settings: schema_version (for later migrations) and ttl_hours (how long an execution lives after its
-- latest append). Change the TTL with: UPDATE nxm_meta SET value = 48 WHERE key = 'ttl_hours';
CREATE TABLE IF NOT EXISTS nxm_meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value ANY,
  CHECK (key <> 'ttl_hours' OR (typeof(value) IN ('integer', 'real') AND value >= 0))
) STRICT;
INSERT OR IGNORE INTO nxm_meta (key, value) VALUES ('schema_version', 2), ('ttl_hours', 24.0);

-- One small summary row per execution; the only row an append rewrites. Times are unix seconds.
-- A rowid table on purpose: an append rewrites its row in place, so a statement that scans this table
-- while it appends (SELECT nxm_wal_append(execution_id, ...) FROM nxm_executions) meets each row once.
-- In a WITHOUT ROWID table the rewritten row compares differently and the scan met it again.
CREATE TABLE IF NOT EXISTS nxm_executions (
  execution_id TEXT PRIMARY KEY NOT NULL,
  completed    INTEGER NOT NULL DEFAULT 0 CHECK (completed >= 0),
  total        INTEGER NOT NULL CHECK (total >= 0 AND completed <= total),
  recorded     INTEGER NOT NULL DEFAULT 0 CHECK (recorded >= 0),
  planned      INTEGER CHECK (planned >= 0),               -- tasks in the plan; NULL without one
  done         INTEGER NOT NULL DEFAULT 0 CHECK (done >= 0), -- planned tasks that have a result
  brand        TEXT,
  model        TEXT,
  created_at   REAL NOT NULL,
  updated_at   REAL NOT NULL
) STRICT;
-- Partial on purpose: every append moves its execution's entry to the end of this index, so a statement
-- that scanned through it while appending would meet the same rows again and never end. SQLite uses a
-- partial index only for a query that states its WHERE term, so a plain scan of nxm_executions reads the
-- table, in execution_id order, and only the TTL queries, which state it, read the index.
CREATE INDEX IF NOT EXISTS nxm_executions_by_update ON nxm_executions (updated_at)
  WHERE updated_at IS NOT NULL;

-- One row per result, in the order first appended (seq). A task_id, when given, is unique per execution.
CREATE TABLE IF NOT EXISTS nxm_results (
  seq          INTEGER PRIMARY KEY,
  execution_id TEXT NOT NULL,
  task_id      TEXT,
  brand        TEXT,
  model        TEXT,
  result       TEXT NOT NULL,
  appended_at  REAL NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS nxm_results_by_execution ON nxm_results (execution_id);
CREATE UNIQUE INDEX IF NOT EXISTS nxm_results_by_task ON nxm_results (execution_id, task_id);

-- The plan recorded by nxm_wal_begin: task ids in plan order.
CREATE TABLE IF NOT EXISTS nxm_tasks (
  execution_id TEXT NOT NULL,
  position     INTEGER NOT NULL,
  task_id      TEXT NOT NULL,
  PRIMARY KEY (execution_id, position),
  UNIQUE (execution_id, task_id)
) STRICT, WITHOUT ROWID;

-- Deleting an execution, by hand or by the sweep, deletes its results and its plan.
CREATE TRIGGER IF NOT EXISTS nxm_executions_delete_children
AFTER DELETE ON nxm_executions
BEGIN
  DELETE FROM nxm_results WHERE execution_id = old.execution_id;
  DELETE FROM nxm_tasks WHERE execution_id = old.execution_id;
END;

-- TTL sweep: whenever a new execution starts, executions idle for longer than the TTL go. The cut-off is
-- taken from the new row's time, and the range is read through nxm_executions_by_update (hence the
-- IS NOT NULL term, which lets SQLite use that partial index).
CREATE TRIGGER IF NOT EXISTS nxm_ttl_sweep
AFTER INSERT ON nxm_executions
BEGIN
  DELETE FROM nxm_executions
   WHERE updated_at IS NOT NULL
     AND updated_at < new.updated_at
                      - 3600.0 * (SELECT CASE WHEN typeof(value) IN ('integer', 'real')
                                               AND value >= 0 THEN value ELSE 24 END
                                    FROM nxm_meta WHERE key = 'ttl_hours');
END;
