"""nxm_progress: one row per execution; `WHERE execution_id = ?` is a primary-key lookup."""
import pytest

from conftest import value

COLUMNS = ["execution_id", "state", "completed", "total", "percent", "pending", "brand", "model",
           "created_at", "updated_at", "expires_at"]


def rows(db, sql="SELECT * FROM nxm_progress", *params):
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def test_columns_and_values_of_a_running_execution(db):
    value(db, "SELECT nxm_wal_append('e1', '1', 1, 4, 'Acme', 'gpt')")
    (row,) = rows(db)
    assert list(row) == COLUMNS
    assert row["execution_id"] == "e1"
    assert (row["state"], row["completed"], row["total"], row["percent"]) == ("running", 1, 4, 25.0)
    assert row["pending"] is None  # no plan
    assert (row["brand"], row["model"]) == ("Acme", "gpt")
    assert row["created_at"] == row["updated_at"]
    assert row["created_at"] == value(db, "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', created_at, "
                                          "'unixepoch') FROM nxm_executions")
    assert row["expires_at"] == value(db, "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', updated_at + 86400, "
                                          "'unixepoch') FROM nxm_executions")


def test_states_and_pending(db):
    value(db, "SELECT nxm_wal_begin('planned', '[\"a\",\"b\",\"c\"]')")
    value(db, "SELECT nxm_wal_append('planned', '1', NULL, NULL, NULL, NULL, 'b')")
    value(db, "SELECT nxm_wal_append('done', '1', NULL, 1)")
    value(db, "SELECT nxm_wal_append('old', '1', NULL, 2)")
    db.execute("UPDATE nxm_executions SET updated_at = updated_at - 25 * 3600 "
               "WHERE execution_id = 'old'")
    got = {r["execution_id"]: (r["state"], r["pending"], r["percent"]) for r in rows(db)}
    assert got == {"planned": ("running", 2, 33.3), "done": ("complete", None, 100.0),
                   "old": ("expired", None, 50.0)}


def test_listing_is_ordered_by_execution_id(db):
    for name in ["c", "a", "b"]:
        value(db, "SELECT nxm_wal_append(?, '1', NULL, 2)", name)
    assert [r["execution_id"] for r in rows(db)] == ["a", "b", "c"]


def test_point_lookup_is_consumed_by_the_table(db):
    for name in ["a", "b", "c"]:
        value(db, "SELECT nxm_wal_append(?, '1', NULL, 2)", name)
    assert [r["execution_id"] for r in rows(db, "SELECT * FROM nxm_progress WHERE execution_id = ?",
                                              "b")] == ["b"]
    plan = db.execute("EXPLAIN QUERY PLAN SELECT * FROM nxm_progress WHERE execution_id = ?",
                      ("b",)).fetchall()
    assert [row[-1] for row in plan] == ["SCAN nxm_progress VIRTUAL TABLE INDEX 1:"]
    # The table answers the lookup itself: SQLite keeps no filter of its own on the column.
    program = [row[1] for row in db.execute(
        "EXPLAIN SELECT * FROM nxm_progress WHERE execution_id = ?", ("b",))]
    assert "Ne" not in program and "Eq" not in program


def test_point_lookup_goes_through_the_primary_key(db):
    # nxm_progress runs this statement for a lookup (ext/connection.c, NXM_SQL_PROGRESS_ONE); the
    # primary key of the rowid table nxm_executions is its automatic unique index.
    value(db, "SELECT nxm_wal_append('a', '1', NULL, 2)")
    plan = db.execute("EXPLAIN QUERY PLAN SELECT * FROM nxm_executions AS e "
                      "WHERE e.execution_id = ?", ("a",)).fetchall()
    assert plan[0][-1] == "SEARCH e USING INDEX sqlite_autoindex_nxm_executions_1 (execution_id=?)"


def test_empty_on_a_database_without_nxm_tables(db):
    assert rows(db) == []
    assert rows(db, "SELECT * FROM nxm_progress WHERE execution_id = 'x'") == []


def test_two_cursors_at_once(db):
    for name in ["a", "b"]:
        value(db, "SELECT nxm_wal_append(?, '1', NULL, 2)", name)
    pairs = db.execute("SELECT p.execution_id, q.execution_id FROM nxm_progress AS p, "
                       "nxm_progress AS q ORDER BY 1, 2").fetchall()
    assert pairs == [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]


def test_it_is_read_only(db):
    value(db, "SELECT nxm_wal_append('a', '1', NULL, 2)")
    with pytest.raises(Exception, match="nxm_progress may not be modified|read-only|"
                                        "cannot modify"):
        db.execute("DELETE FROM nxm_progress")
    with pytest.raises(Exception, match="no such module|eponymous"):
        db.execute("CREATE VIRTUAL TABLE p2 USING nxm_progress")


def test_a_lookup_with_another_collation_is_answered_by_sqlite(db):
    value(db, "SELECT nxm_wal_append('Acme', '1', NULL, 2)")
    assert db.execute("SELECT execution_id FROM nxm_progress "
                      "WHERE execution_id = 'ACME' COLLATE NOCASE").fetchall() == [("Acme",)]
    assert db.execute("SELECT execution_id FROM nxm_progress "
                      "WHERE execution_id = 'ACME'").fetchall() == []
