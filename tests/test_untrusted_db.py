"""test_untrusted_db.py - databases that someone else wrote: altered or planted nxm_ objects, tampered rows, corrupt files.

nxm trusts only the schema it creates itself. Every case below starts from a database nxm wrote, changes it
the way an attacker or a careless tool could (with plain SQL, or by damaging bytes), and then calls every
nxm function and both virtual tables on a fresh connection in a child process (forked_case.py). Expected:
  * an altered or planted schema is refused by every entry point with the same clear message, and nothing is
    written (dump and file bytes unchanged);
  * a writing function planted in a trigger or view never runs;
  * a corrupt file gives SQLITE_CORRUPT or SQLITE_NOTADB, never a crash.
Run with: /usr/bin/python3 -m pytest tests/test_untrusted_db.py   (needs `make` first: build/nxm.so)
"""

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from forked_case import ROOT, connect, dump, run_case

NXM_VERSION = re.search(r'#define NXM_VERSION "(.*)"', (ROOT / "ext" / "version.h").read_text()).group(1)
SCHEMA_VERSION = int(re.search(r"#define NXM_SCHEMA_VERSION (\d+)", (ROOT / "ext" / "version.h").read_text()).group(1))
REFUSAL = ("the nxm_ tables, indexes or triggers in this database differ from nxm's schema "
           "(altered or planted by someone else); refusing to use them")

# Every entry point, as (name, statement); the name prefixes its messages.
ENTRY_POINTS = [
    ("nxm_wal_append", "SELECT nxm_wal_append('e1', '[9]', NULL, NULL, NULL, NULL, 'b')"),
    ("nxm_wal_begin", "SELECT nxm_wal_begin('e9', '[\"x\"]')"),
    ("nxm_recover", "SELECT nxm_recover('e1')"),
    ("nxm_cleanup", "SELECT nxm_cleanup(0)"),
    ("nxm_ttl", "SELECT nxm_ttl()"),
    ("nxm_ttl", "SELECT nxm_ttl(48)"),
    ("nxm_progress", "SELECT * FROM nxm_progress"),
    ("nxm_pending", "SELECT task_id FROM nxm_pending('e1')"),
]
ENTRY_IDS = ["append", "begin", "recover", "cleanup", "ttl-read", "ttl-write", "progress", "pending"]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """e1: planned a, b, c, one result (for a); e2: 40 unplanned results with some padding, so the file has pages."""
    path = tmp_path_factory.mktemp("untrusted") / "template.db"
    conn = connect(str(path))
    conn.execute("SELECT nxm_wal_begin('e1', '[\"a\",\"b\",\"c\"]')").fetchall()
    conn.execute("SELECT nxm_wal_append('e1', '{\"r\":1}', NULL, NULL, 'Acme', 'gpt', 'a')").fetchall()
    for i in range(40):
        conn.execute("SELECT nxm_wal_append('e2', json_object('i', ?, 'pad', printf('%.*c', 300, 'p')), NULL, 100)",
                     (i,)).fetchall()
    conn.close()
    return path


@pytest.fixture
def db(template, tmp_path):
    path = tmp_path / "untrusted.db"
    shutil.copyfile(template, path)
    return path


def tamper(path, *statements):
    """Changes the database with plain SQL, without nxm loaded: what another program would do."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in statements:
        conn.executescript(statement)
    conn.close()


ALTERATIONS = {
    "missing-column": "ALTER TABLE nxm_results DROP COLUMN model",
    "extra-column": "ALTER TABLE nxm_executions ADD COLUMN note TEXT",
    "trigger-calling-a-writer": "CREATE TRIGGER planted AFTER INSERT ON nxm_results BEGIN SELECT nxm_cleanup(0); END",
    "sweep-trigger-moved-elsewhere": "DROP TRIGGER nxm_ttl_sweep; CREATE TABLE other (x); CREATE TRIGGER "
                                     "nxm_ttl_sweep AFTER INSERT ON other BEGIN DELETE FROM nxm_results; END",
    "view-in-place-of-a-table": "DROP TABLE nxm_tasks; CREATE VIEW nxm_tasks AS "
                                "SELECT 'e1' AS execution_id, 0 AS position, 'forged' AS task_id",
    "table-named-nxm-progress": "CREATE TABLE nxm_progress (execution_id TEXT, state TEXT)",
    "table-named-nxm-pending": "CREATE TABLE nxm_pending (task_id TEXT)",
    "extra-index": "CREATE INDEX leak ON nxm_results (result)",
    "dropped-sweep-trigger": "DROP TRIGGER nxm_ttl_sweep",
    "weakened-check": "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql, "
                      "'CHECK (completed >= 0)', '') WHERE name = 'nxm_executions'",
}


@pytest.mark.parametrize("alteration", list(ALTERATIONS))
@pytest.mark.parametrize("name, sql", ENTRY_POINTS, ids=ENTRY_IDS)
def test_an_altered_schema_is_refused_everywhere_and_nothing_is_written(db, alteration, name, sql):
    tamper(db, ALTERATIONS[alteration])
    if alteration == "table-named-nxm-progress" and name == "nxm_progress":
        pytest.skip("the planted table hides the virtual table itself: see the test of shadowing below")
    if alteration == "table-named-nxm-pending" and name == "nxm_pending":
        pytest.skip("the planted table hides the table-valued function itself: see below")
    outcome = run_case(db, sql)
    assert outcome.crashed is None
    assert (outcome.error_name, outcome.message) == ("SQLITE_ERROR", f"{name}: {REFUSAL}")
    assert outcome.unchanged and not outcome.in_transaction


def test_a_table_planted_as_nxm_progress_hides_the_virtual_table(db):
    """SQLite resolves a real table before an eponymous virtual table: the planted rows are what a reader sees.
    nxm cannot intercept that read; every nxm function refuses the database instead (test above)."""
    tamper(db, "CREATE TABLE nxm_progress (execution_id TEXT, state TEXT); "
               "INSERT INTO nxm_progress VALUES ('e1', 'complete')")
    outcome = run_case(db, "SELECT execution_id, state FROM nxm_progress")
    assert outcome.rows == [["e1", "complete"]]
    outcome = run_case(db, "SELECT nxm_recover('e1')")
    assert outcome.message == f"nxm_recover: {REFUSAL}"


def test_a_table_planted_as_nxm_pending_cannot_be_called(db):
    tamper(db, "CREATE TABLE nxm_pending (task_id TEXT)")
    outcome = run_case(db, "SELECT task_id FROM nxm_pending('e1')")
    assert (outcome.error_name, outcome.message) == ("SQLITE_ERROR", "'nxm_pending' is not a function")


def test_a_newer_schema_version_is_refused_by_a_fresh_connection(db):
    tamper(db, f"UPDATE nxm_meta SET value = {SCHEMA_VERSION + 1} WHERE key = 'schema_version'")
    for name, sql in ENTRY_POINTS:
        outcome = run_case(db, sql)
        assert outcome.crashed is None
        assert (outcome.error_name, outcome.message) == (
            "SQLITE_ERROR",
            f"{name}: this database has nxm schema version {SCHEMA_VERSION + 1}; nxm {NXM_VERSION} understands "
            f"versions up to {SCHEMA_VERSION}, refusing to write to it"), sql
        assert outcome.unchanged


def test_a_missing_schema_version_row_is_refused(db):
    tamper(db, "DELETE FROM nxm_meta WHERE key = 'schema_version'")
    outcome = run_case(db, ENTRY_POINTS[0][1])
    assert (outcome.error_name, outcome.message) == ("SQLITE_ERROR", f"nxm_wal_append: {REFUSAL}")
    assert outcome.unchanged


@pytest.mark.parametrize("trusted_schema", ["ON", "OFF"])
def test_a_trigger_on_a_user_table_cannot_call_the_writing_functions(db, trusted_schema):
    tamper(db, "CREATE TABLE inbox (x); CREATE TRIGGER inbox_hook AFTER INSERT ON inbox BEGIN "
               "SELECT nxm_cleanup(0); SELECT nxm_wal_append('e1', '1', 3, 3); END")
    outcome = run_case(db, "INSERT INTO inbox VALUES (1)", pragmas=[f"PRAGMA trusted_schema = {trusted_schema}"])
    assert (outcome.error_name, outcome.message) == ("SQLITE_ERROR", "unsafe use of nxm_cleanup()")
    assert outcome.unchanged


@pytest.mark.parametrize("name", ["report", "nxm_report"])
def test_an_applications_own_view_over_the_tables_is_left_alone(db, name):
    """Only the names sql/schema.sql creates (and the two virtual tables') are nxm's: a view under any other
    name, even one starting with nxm_, changes nothing nxm reads or writes."""
    tamper(db, f"CREATE VIEW {name} AS SELECT execution_id, count(*) AS n FROM nxm_results GROUP BY 1")
    conn = connect(str(db))
    assert conn.execute(ENTRY_POINTS[0][1]).fetchone() == (2,)
    assert conn.execute(f"SELECT n FROM {name} WHERE execution_id = 'e1'").fetchone() == (2,)
    conn.close()


def test_nxm_works_with_trusted_schema_off(db):
    """The recommended setting for databases from elsewhere; nxm's own triggers use only built-in SQL."""
    conn = connect(str(db))
    conn.execute("PRAGMA trusted_schema = OFF")
    assert conn.execute("SELECT nxm_wal_append('e3', '1', 0, 2)").fetchone() == (0,)  # runs nxm_ttl_sweep
    # e1 and e2 are older than "now"; e3 may share its millisecond, so it may stay.
    assert conn.execute("SELECT nxm_cleanup(0)").fetchone()[0] in (2, 3)
    assert conn.execute("SELECT count(*) FROM nxm_results WHERE execution_id IN ('e1', 'e2')").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM nxm_tasks").fetchone() == (0,)  # nxm_executions_delete_children
    conn.close()


# Tampered rows: the schema is nxm's, the content is not.
FORGED_RESULT = '1],"completed":3,"total":3,"pending":[],"results":[2'


@pytest.mark.parametrize("stored", ["not json", FORGED_RESULT], ids=["invalid", "forged-fields"])
def test_recover_refuses_a_stored_result_that_is_not_json(db, stored):
    tamper(db, f"UPDATE nxm_results SET result = '{stored}' WHERE task_id = 'a'")
    outcome = run_case(db, "SELECT nxm_recover('e1')")
    assert outcome.crashed is None
    assert (outcome.error_name, outcome.message) == (
        "SQLITE_CORRUPT", "nxm_recover: a stored result of execution 'e1' is not valid JSON (malformed JSON); "
                          "the database was changed outside nxm")
    assert not outcome.in_transaction


def plant_ttl(path, value):
    """Writes a TTL the schema's CHECK forbids, the way a hand-edited file could hold one."""
    tamper(path, f"PRAGMA ignore_check_constraints = ON; UPDATE nxm_meta SET value = {value} "
                 "WHERE key = 'ttl_hours'")


@pytest.mark.parametrize("value", ["-100", "'forever'", "NULL"])
def test_a_planted_ttl_outside_the_rules_reads_as_the_default(db, value):
    plant_ttl(db, value)
    assert run_case(db, "SELECT nxm_ttl()").rows == [[24.0]]
    outcome = run_case(db, "SELECT nxm_cleanup()")
    assert outcome.rows == [[0]], outcome
    assert "'e1'" in dump(db) and "'e2'" in dump(db)


def test_a_planted_negative_ttl_does_not_make_the_sweep_trigger_delete_fresh_executions(db):
    plant_ttl(db, "-100")
    conn = connect(str(db))
    assert conn.execute("SELECT nxm_wal_append('e3', '1', 0, 1)").fetchone() == (0,)  # fires nxm_ttl_sweep
    assert conn.execute("SELECT execution_id FROM nxm_executions ORDER BY 1").fetchall() == [
        ("e1",), ("e2",), ("e3",)]
    conn.close()


# Corrupt files: damaged bytes must give SQLite's corruption errors, never a crash.
PAGE = 4096


def _truncate(data):
    del data[len(data) // 2:]


def _scramble_header(data):
    data[0:16] = b"not a database!!"


def _break_page_headers(data):
    for page in range(3, len(data) // PAGE):
        data[page * PAGE + 8:page * PAGE + 40] = b"\xff" * 32


def _scribble_from_page_three(data):
    for i in range(2 * PAGE, len(data)):
        data[i] = (i * 7919) & 0xFF


# (damage, the error names allowed). SQLite finds broken page headers only on the pages a query visits, so
# that case allows any clean outcome; the others must be reported as corruption.
CORRUPTIONS = {
    "truncated": (_truncate, {"SQLITE_CORRUPT"}),
    "header": (_scramble_header, {"SQLITE_NOTADB"}),
    "scribbled-indexes": (_scribble_from_page_three, {"SQLITE_CORRUPT"}),
    "page-headers": (_break_page_headers, None),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
@pytest.mark.parametrize("name, sql", ENTRY_POINTS, ids=ENTRY_IDS)
def test_a_corrupt_file_gives_a_corruption_error_not_a_crash(db, corruption, name, sql):
    damage, codes = CORRUPTIONS[corruption]
    data = bytearray(Path(db).read_bytes())
    damage(data)
    Path(db).write_bytes(bytes(data))
    outcome = run_case(db, sql, compare=False)
    assert outcome.crashed is None, f"{sql} crashed on a {corruption} file"
    assert outcome.harness_error is None, outcome.harness_error
    assert not outcome.in_transaction, "a failed call on a damaged file left a transaction open"
    if codes is None:
        assert outcome.rows is not None or outcome.message.startswith(f"{name}: ") or \
            outcome.message == "database disk image is malformed", outcome.message
        return
    assert outcome.error_name in codes, (outcome.error_name, outcome.message)
    assert outcome.message.endswith(("database disk image is malformed", "file is not a database"))
