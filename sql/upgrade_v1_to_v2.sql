-- Upgrades a database made by nxm 0.1.0 (schema version 1) to schema version 2, in one transaction.
-- Version 2 makes nxm_executions a rowid table with a partial index on updated_at, so that a statement
-- scanning it while appending meets each row once (see sql/schema.sql). nxm 0.2.0 reads and writes a
-- version 1 database as it is; it does not upgrade one itself, because it would have to do so inside the
-- caller's statement, where an interrupt can stop it half way.
--
-- Run it from the stock shell, from the directory that holds sql/ (it reads sql/schema.sql), with the
-- extension not needed:   sqlite3 nxm.db ".read sql/upgrade_v1_to_v2.sql"
-- Other connections may stay open: it takes the write lock like any writer (readers keep their snapshot).
-- It refuses any database that is not at version 1, and stops at the first error with nothing changed.
-- The executions are copied through a temporary table with both triggers set aside, so nothing is swept
-- or deleted; foreign keys are off for the session, so that tables of your own declared REFERENCES
-- nxm_executions are not touched by the DROP TABLE. Your TEMP triggers on nxm_executions, if any, are
-- dropped with it. sql/schema.sql creates the new objects (every statement of it is IF NOT EXISTS): once
-- before the copy, without the sweep trigger during it, and once after, for that trigger.
.bail on
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TEMP TABLE nxm_upgrade_guard (
  version ANY CONSTRAINT "nxm: this database is not at schema version 1" CHECK (version IS 1)
);
INSERT INTO temp.nxm_upgrade_guard SELECT (SELECT value FROM main.nxm_meta WHERE key = 'schema_version');
CREATE TEMP TABLE nxm_upgrade AS SELECT * FROM main.nxm_executions;
DROP TRIGGER main.nxm_executions_delete_children;
DROP TRIGGER main.nxm_ttl_sweep;
DROP TABLE main.nxm_executions;
.read sql/schema.sql
DROP TRIGGER main.nxm_ttl_sweep;
INSERT INTO main.nxm_executions SELECT * FROM temp.nxm_upgrade;
.read sql/schema.sql
-- The sql/schema.sql just read must be version 2's (a rowid table, a partial index), not an older copy.
CREATE TEMP TABLE nxm_upgrade_check (
  ok ANY CONSTRAINT "nxm: the sql/schema.sql read is not version 2's; run this from nxm 0.2.0's directory"
     CHECK (ok IS 1)
);
INSERT INTO temp.nxm_upgrade_check
SELECT (SELECT sql NOT LIKE '%WITHOUT ROWID%' FROM main.sqlite_schema WHERE name = 'nxm_executions')
   AND (SELECT sql LIKE '%WHERE updated_at IS NOT NULL' FROM main.sqlite_schema
         WHERE name = 'nxm_executions_by_update');
UPDATE main.nxm_meta SET value = 2 WHERE key = 'schema_version';
DROP TABLE temp.nxm_upgrade;
DROP TABLE temp.nxm_upgrade_guard;
DROP TABLE temp.nxm_upgrade_check;
COMMIT;
