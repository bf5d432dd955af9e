"""test_schema_upgrade.py - databases made by nxm 0.1.0 (schema version 1) are read as they are and upgraded by
the first write.

Version 2 made nxm_executions a rowid table with a partial index on updated_at, so that a statement that scans
it while appending meets each row once (sql/schema.sql). A version 1 database is built here with plain SQL from
sql/history/schema_v1.sql, with rows as nxm 0.1.0 wrote them. Expected:
  * reads (nxm_recover, nxm_progress, nxm_pending) work on it and change no byte;
  * the first write upgrades it in its own transaction: the schema is then exactly a new database's, every
    row is kept, and neither trigger runs during the copy (no sweep, no deletion of results);
  * a version 1 database that someone altered is refused like any other altered schema;
  * an upgrade that fails leaves the file as it was.
Run with: /usr/bin/python3 -m pytest tests/test_schema_upgrade.py   (needs `make` first: build/nxm.so)
"""

import os
import sqlite3
import time

import pytest

from conftest import SQL_DIR, connect, dump, value

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


def test_the_first_write_upgrades_a_version_1_database_and_keeps_every_row(tmp_path):
    path = str(tmp_path / "v1.db")
    make_v1_database(path, idle_hours=48)
    plain = sqlite3.connect(path)
    rows_before = rows(plain)
    plain.close()
    conn = connect(path)
    recovered_before = value(conn, "SELECT nxm_recover('e2')")

    # An append to an existing execution inserts no execution row, so no sweep is due: 'idle', two days
    # old, must outlive the upgrade, which copies every row with both triggers dropped.
    assert value(conn, "SELECT nxm_wal_append('e1', '{\"score\":3}', NULL, NULL, NULL, NULL, 't3')") == 2

    assert value(conn, "SELECT value FROM nxm_meta WHERE key = 'schema_version'") == 2
    assert conn.execute(CATALOG).fetchall() == new_database_catalog(tmp_path)
    after = rows(conn)
    assert after["nxm_tasks"] == rows_before["nxm_tasks"]
    assert after["nxm_meta"] == rows_before["nxm_meta"]
    assert after["nxm_results"][:3] == rows_before["nxm_results"]
    assert [r[:4] for r in after["nxm_results"][3:]] == [(4, "e1", "t3", None)]
    assert after["nxm_executions"][1:] == rows_before["nxm_executions"][1:]  # e2 and 'idle' as they were
    assert after["nxm_executions"][0][:6] == ("e1", 2, 3, 3, 3, 2)  # completed stays 2 (<= done): 3 recorded
    assert value(conn, "SELECT nxm_recover('e2')") == recovered_before
    assert value(conn, "PRAGMA integrity_check") == "ok"
    assert conn.execute("SELECT name FROM temp.sqlite_schema").fetchall() == []

    # Now the sweep works as in any version 2 database: a new execution takes 'idle' with it.
    value(conn, "SELECT nxm_wal_append('e3', '1', NULL, 1)")
    assert value(conn, "SELECT group_concat(execution_id) FROM nxm_executions") == "e1,e2,e3"
    assert value(conn, "SELECT count(*) FROM nxm_results WHERE execution_id = 'idle'") == 0
    conn.close()


def test_a_scan_of_an_upgraded_database_appends_once_per_row(tmp_path):
    path = str(tmp_path / "v1.db")
    make_v1_database(path)
    conn = connect(path)
    value(conn, "SELECT nxm_ttl(24)")  # a write: it upgrades
    called = conn.execute("SELECT execution_id, nxm_wal_append(execution_id, '0', NULL, NULL, NULL, NULL, 's') "
                          "FROM nxm_executions").fetchall()
    assert sorted(row[0] for row in called) == ["e1", "e2", "idle"]
    conn.close()


def test_an_altered_version_1_database_is_refused_and_left_alone(tmp_path):
    path = str(tmp_path / "v1.db")
    make_v1_database(path)
    plain = sqlite3.connect(path)
    plain.execute("CREATE INDEX nxm_results_by_model ON nxm_results (model)")
    plain.commit()
    plain.close()
    before = dump(path)
    conn = connect(path)
    for sql in ("SELECT nxm_wal_append('e1', '1')", "SELECT nxm_recover('e1')"):
        with pytest.raises(sqlite3.OperationalError, match="differ from nxm's schema"):
            value(conn, sql)
    conn.close()
    assert dump(path) == before


def test_an_upgrade_that_fails_changes_nothing_and_the_next_one_succeeds(tmp_path):
    path = str(tmp_path / "v1.db")
    make_v1_database(path)
    before = dump(path)
    conn = connect(path)
    conn.execute("CREATE TEMP TABLE nxm_upgrade (x)")  # the name the upgrade copies through
    with pytest.raises(sqlite3.OperationalError,
                       match="^nxm_wal_append: table nxm_upgrade already exists$"):
        value(conn, "SELECT nxm_wal_append('e1', '1')")
    assert conn.in_transaction is False
    conn.close()
    assert dump(path) == before
    conn = connect(path)
    assert value(conn, "SELECT nxm_wal_append('e1', '1')") == 2
    assert value(conn, "SELECT value FROM nxm_meta WHERE key = 'schema_version'") == 2
    conn.close()
