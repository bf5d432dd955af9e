"""test_schema_upgrade.py - databases made by nxm 0.1.0 (schema version 1), and creations of the schema that
stopped part-way.

Version 2 made nxm_executions a rowid table with a partial index on updated_at, so that a statement that scans
it while appending meets each row once (sql/schema.sql). A version 1 database is built here with plain SQL from
sql/history/schema_v1.sql, with rows as nxm 0.1.0 wrote them. Expected:
  * nxm reads and writes it as it is, and it stays at version 1;
  * sql/upgrade_v1_to_v2.sql, run in the stock shell, upgrades it in one transaction: the schema is then
    exactly a new database's, every row is kept, neither trigger runs during the copy, tables of the
    application's that reference nxm_executions are untouched; any other database is refused, unchanged;
  * a version 1 database that someone altered is refused like any other altered schema;
  * part of schema.sql's objects with no rows (what an interrupted first write can leave, once committed) is
    read as a new database and completed by the next write.
Run with: /usr/bin/python3 -m pytest tests/test_schema_upgrade.py   (needs `make` first: build/nxm.so)
"""

import os
import sqlite3
import time

import pytest

from conftest import SQL_DIR, connect, dump, shell, value

V1_SCHEMA = os.path.join(SQL_DIR, "history", "schema_v1.sql")
CATALOG = ("SELECT type, name, tbl_name, sql FROM sqlite_schema "
           "WHERE name LIKE 'nxm%' OR tbl_name LIKE 'nxm%' ORDER BY type, name")
ROWS = {
    "nxm_executions": "SELECT * FROM nxm_executions ORDER BY execution_id",
    "nxm_results": "SELECT * FROM nxm_results ORDER BY seq",
    "nxm_tasks": "SELECT * FROM nxm_tasks ORDER BY execution_id, position",
    "nxm_meta": "SELECT key, value FROM nxm_meta WHERE key <> 'schema_version' ORDER BY key",
}


def make_v1_database(path, idle_hours=0.0):
    """A version 1 database as nxm 0.1.0 left it: e1 with two results (one from its plan), e2 planned with
    nothing done, and 'idle' last written `idle_hours` ago."""
    now = time.time()
    conn = sqlite3.connect(path)
    with open(V1_SCHEMA) as schema:
        conn.executescript(schema.read())
    conn.executescript(f"""
        PRAGMA journal_mode = WAL;
        INSERT INTO nxm_executions (execution_id, completed, total, recorded, planned, done, brand, model,
                                    created_at, updated_at)
        VALUES ('e1', 2, 3, 2, 3, 1, 'acme', 'gpt', {now - 60}, {now - 30}),
               ('e2', 0, 2, 0, 2, 0, NULL, NULL, {now - 50}, {now - 50}),
               ('idle', 1, 5, 1, NULL, 0, 'b', 'm', {now - idle_hours * 3600 - 10}, {now - idle_hours * 3600});
        INSERT INTO nxm_results (execution_id, task_id, brand, model, result, appended_at)
        VALUES ('e1', 't1', 'acme', 'gpt', '{{"score":1}}', {now - 40}),
               ('e1', NULL, 'acme', 'gpt', '[1,2]', {now - 30}),
               ('idle', NULL, 'b', 'm', '"x"', {now - idle_hours * 3600});
        INSERT INTO nxm_tasks (execution_id, position, task_id)
        VALUES ('e1', 0, 't1'), ('e1', 1, 't2'), ('e1', 2, 't3'), ('e2', 0, 'a'), ('e2', 1, 'b');
    """)
    conn.commit()
    conn.close()


def rows(conn):
    return {table: conn.execute(sql).fetchall() for table, sql in ROWS.items()}


def new_database_catalog(tmp_path):
    conn = connect(str(tmp_path / "fresh.db"))
    value(conn, "SELECT nxm_wal_append('x', '1', NULL, 1)")
    catalog = conn.execute(CATALOG).fetchall()
    conn.close()
    return catalog


def assert_refused_after(path, alteration):
    """After `alteration` (plain SQL), a write and a read are refused as an altered schema; nothing changes."""
    plain = sqlite3.connect(path)
    plain.executescript(alteration)
    plain.close()
    before = dump(path)
    conn = connect(path)
    for sql in ("SELECT nxm_wal_append('e1', '1')", "SELECT nxm_recover('e1')"):
        with pytest.raises(sqlite3.OperationalError, match="differ from nxm's schema"):
            value(conn, sql)
    conn.close()
    assert dump(path) == before


def test_a_version_1_database_is_read_as_it_is(tmp_path):
    path = str(tmp_path / "v1.db")
    make_v1_database(path)
    before = open(path, "rb").read()
    conn = connect(path)
    document = value(conn, "SELECT nxm_recover('e1')")
    assert document.startswith('{"execution_id":"e1","results":[{"score":1},[1,2]],"completed":2,"total":3,')
    assert conn.execute("SELECT execution_id, completed, total FROM nxm_progress ORDER BY 1").fetchall() == [
        ("e1", 2, 3), ("e2", 0, 2), ("idle", 1, 5)]
    assert conn.execute("SELECT task_id FROM nxm_pending('e1')").fetchall() == [("t2",), ("t3",)]
    assert value(conn, "SELECT value FROM nxm_meta WHERE key = 'schema_version'") == 1
    conn.close()
    assert open(path, "rb").read() == before


def upgrade(path, cwd=os.path.dirname(SQL_DIR)):
    """The README's command, run where it says (the directory that holds sql/) unless told otherwise."""
    script = os.path.join(SQL_DIR, "upgrade_v1_to_v2.sql")
    return shell(os.path.abspath(path), f".read {script}", cwd=cwd)


def assert_upgrade_refused(path, message, cwd=os.path.dirname(SQL_DIR)):
    before = dump(path)
    code, _, err = upgrade(path, cwd)
    assert code != 0
    assert f"CHECK constraint failed: {message}" in err
    assert dump(path) == before


def test_a_version_1_database_is_written_as_it_is(tmp_path):
    path = str(tmp_path / "v1.db")
    make_v1_database(path, idle_hours=48)
    conn = connect(path)
    catalog = conn.execute(CATALOG).fetchall()
    assert value(conn, "SELECT nxm_wal_append('e1', '{\"score\":3}', NULL, NULL, NULL, NULL, 't3')") == 2
    assert value(conn, "SELECT nxm_wal_append('e4', '1', NULL, 2)") == 1  # a new execution: its sweep runs
    assert value(conn, "SELECT group_concat(execution_id) FROM (SELECT execution_id FROM nxm_executions "
                       "ORDER BY 1)") == "e1,e2,e4"
    assert value(conn, "SELECT nxm_cleanup()") == 0
    assert conn.execute(CATALOG).fetchall() == catalog
    assert value(conn, "SELECT value FROM nxm_meta WHERE key = 'schema_version'") == 1
    conn.close()


def test_the_upgrade_script_keeps_every_row_and_gives_a_new_databases_schema(tmp_path):
    path = str(tmp_path / "v1.db")
    make_v1_database(path, idle_hours=48)
    plain = sqlite3.connect(path)
    plain.executescript("PRAGMA foreign_keys = ON; CREATE TABLE invoices (execution_id TEXT REFERENCES "
                        "nxm_executions ON DELETE CASCADE); INSERT INTO invoices VALUES ('e1'), ('idle');")
    rows_before = rows(plain)
    plain.close()
    conn = connect(path)
    recovered_before = [value(conn, "SELECT nxm_recover(?)", e) for e in ("e1", "e2")]
    conn.close()

    code, out, err = upgrade(path)
    assert (code, out, err) == (0, "", "")

    conn = connect(path)
    assert value(conn, "SELECT value FROM nxm_meta WHERE key = 'schema_version'") == 2
    assert conn.execute(CATALOG).fetchall() == new_database_catalog(tmp_path)
    assert rows(conn) == rows_before  # 'idle', two days old, was not swept by the copy
    assert [value(conn, "SELECT nxm_recover(?)", e) for e in ("e1", "e2")] == recovered_before
    assert conn.execute("SELECT * FROM invoices").fetchall() == [("e1",), ("idle",)]
    assert value(conn, "PRAGMA integrity_check") == "ok"
    # Now a write works as in any version 2 database, and a new execution's sweep takes 'idle'.
    assert value(conn, "SELECT nxm_wal_append('e3', '1', NULL, 1)") == 1
    assert value(conn, "SELECT group_concat(execution_id) FROM (SELECT execution_id FROM nxm_executions "
                       "ORDER BY 1)") == "e1,e2,e3"
    conn.close()


def test_the_upgrade_script_refuses_a_database_that_is_not_at_version_1(tmp_path):
    path = str(tmp_path / "v2.db")
    conn = connect(path)
    value(conn, "SELECT nxm_wal_append('e1', '1', NULL, 3)")
    conn.close()
    assert_upgrade_refused(path, "nxm: this database is not at schema version 1")


def test_the_upgrade_script_refuses_to_run_with_an_older_schema_sql(tmp_path):
    """Run from the directory of an older checkout, `.read sql/schema.sql` reads version 1's schema."""
    path = str(tmp_path / "v1.db")
    make_v1_database(path)
    old_checkout = tmp_path / "old"
    (old_checkout / "sql").mkdir(parents=True)
    (old_checkout / "sql" / "schema.sql").write_text(open(V1_SCHEMA).read())
    assert_upgrade_refused(path, "nxm: the sql/schema.sql read is not version 2's", str(old_checkout))


def test_a_scan_of_an_upgraded_database_appends_once_per_row(tmp_path):
    path = str(tmp_path / "v1.db")
    make_v1_database(path)
    assert upgrade(path)[0] == 0
    conn = connect(path)
    called = conn.execute("SELECT execution_id, nxm_wal_append(execution_id, '0', NULL, NULL, NULL, NULL, 's') "
                          "FROM nxm_executions").fetchall()
    assert sorted(row[0] for row in called) == ["e1", "e2", "idle"]
    conn.close()


def test_an_altered_version_1_database_is_refused_and_left_alone(tmp_path):
    path = str(tmp_path / "v1.db")
    make_v1_database(path)
    assert_refused_after(path, "CREATE INDEX nxm_results_by_model ON nxm_results (model)")


# A creation that stopped part-way: the first statements of schema.sql, as an interrupted first write leaves
# them once something commits its transaction.
def schema_prefix(statements):
    parts, current = [], ""
    with open(os.path.join(SQL_DIR, "schema.sql")) as schema:
        for line in schema:
            current += line
            if sqlite3.complete_statement(current):
                parts.append(current)
                current = ""
    return "".join(parts[:statements])


@pytest.mark.parametrize("statements", [1, 2, 3, 5, 8])
def test_a_creation_that_stopped_part_way_is_read_as_new_and_completed_by_the_next_write(tmp_path, statements):
    path = str(tmp_path / "part.db")
    plain = sqlite3.connect(path)
    plain.executescript(schema_prefix(statements))
    plain.close()
    conn = connect(path)
    assert value(conn, "SELECT nxm_recover('e1')") is None
    assert conn.execute("SELECT * FROM nxm_progress").fetchall() == []
    assert value(conn, "SELECT nxm_wal_append('e1', '1', NULL, 2)") == 1
    assert conn.execute(CATALOG).fetchall() == new_database_catalog(tmp_path)
    assert value(conn, "SELECT value FROM nxm_meta WHERE key = 'schema_version'") == 2
    conn.close()


@pytest.mark.parametrize("planted", [
    # a table made of schema.sql's lines, less two columns: not one of schema.sql's objects
    "CREATE TABLE nxm_executions (\n  execution_id TEXT PRIMARY KEY NOT NULL,\n"
    "  completed    INTEGER NOT NULL DEFAULT 0 CHECK (completed >= 0),\n"
    "  total        INTEGER NOT NULL CHECK (total >= 0 AND completed <= total),\n"
    "  created_at   REAL NOT NULL,\n  updated_at   REAL NOT NULL\n) STRICT;",
    # schema.sql's own objects, but with rows a creation does not write
    "@3; INSERT INTO nxm_meta VALUES ('note', 'x');",
    "@3; UPDATE nxm_meta SET value = 0 WHERE key = 'ttl_hours';",
    "@8; INSERT INTO nxm_tasks VALUES ('victim', 0, 'forged');",
])
def test_part_of_the_schema_that_a_creation_cannot_leave_is_refused(tmp_path, planted):
    path = str(tmp_path / "part.db")
    if planted.startswith("@"):
        count, planted = planted[1:].split(";", 1)
        planted = schema_prefix(int(count)) + planted
    assert_refused_after(path, planted)


def test_part_of_the_schema_with_rows_in_it_is_refused(tmp_path):
    path = str(tmp_path / "part.db")
    conn = connect(path)
    value(conn, "SELECT nxm_wal_append('e1', '1', NULL, 2)")
    conn.close()
    assert_refused_after(path, "DROP TRIGGER nxm_ttl_sweep")
