"""All or nothing: every bad input gets an error naming the function and the argument, and the
database is left exactly as it was (compared as a full SQL dump)."""
import sqlite3

import pytest

from conftest import dump, value

APPEND_CASES = [
    ("nxm_wal_append(NULL, '1', NULL, 5)", "nxm_wal_append: execution_id must be text, not NULL"),
    ("nxm_wal_append('', '1', NULL, 5)", "nxm_wal_append: execution_id must not be empty"),
    ("nxm_wal_append(42, '1', NULL, 5)", "nxm_wal_append: execution_id must be text, not an integer"),
    ("nxm_wal_append(x'6531', '1', NULL, 5)", "nxm_wal_append: execution_id must be text, not a blob"),
    ("nxm_wal_append('e1', '{\"a\":1', NULL, 5)",
     "nxm_wal_append: result is not valid JSON (error at byte 6 of 6)"),
    ("nxm_wal_append('e1', '{\"a\" 1}', NULL, 5)",
     "nxm_wal_append: result is not valid JSON (error at byte 5 of 7)"),
    ("nxm_wal_append('e1', '01', NULL, 5)",
     "nxm_wal_append: result is not valid JSON (RFC 8259, as json() reads it)"),
    ("nxm_wal_append('e1', 'NaN', NULL, 5)",
     "nxm_wal_append: result is not valid JSON (error at byte 0 of 3)"),
    ("nxm_wal_append('e1', NULL, NULL, 5)", "nxm_wal_append: result must be text, not NULL"),
    ("nxm_wal_append('e1', 7, NULL, 5)", "nxm_wal_append: result must be text, not an integer"),
    ("nxm_wal_append('e1', '1', -1, 5)", "nxm_wal_append: completed must not be negative (got -1)"),
    ("nxm_wal_append('e1', '1', 1.5, 5)",
     "nxm_wal_append: completed must be a non-negative whole number, not a real with a fraction"),
    ("nxm_wal_append('e1', '1', '3', 5)",
     "nxm_wal_append: completed must be a non-negative whole number, not text"),
    ("nxm_wal_append('e1', '1', 1e300, 5)",
     "nxm_wal_append: completed must be a non-negative whole number, not a real out of range "
     "(1e+300)"),
    ("nxm_wal_append(CAST(x'65ff31' AS TEXT), '1', NULL, 5)",
     "nxm_wal_append: execution_id is not valid UTF-8"),
    ("nxm_wal_append('e1', CAST(x'22eda08022' AS TEXT), NULL, 5)",
     "nxm_wal_append: result is not valid UTF-8"),
    ("nxm_wal_append('e1', '1', NULL, -5)", "nxm_wal_append: total must not be negative (got -5)"),
    ("nxm_wal_append('e1', '1', NULL, -2.0)", "nxm_wal_append: total must not be negative (got -2)"),
    ("nxm_wal_append('e1', '1', 7, 5)", "nxm_wal_append: completed (7) exceeds total (5)"),
    ("nxm_wal_append('e1', '1')",
     "nxm_wal_append: total is required for the first append of execution 'e1' (pass it as the "
     "4th argument, or call nxm_wal_begin first)"),
    ("nxm_wal_append('e1', '1', NULL, 0)",
     "nxm_wal_append: completed (1, the number of results recorded) exceeds total (0)"),
    ("nxm_wal_append('e1', '1', NULL, 5, 3)", "nxm_wal_append: brand must be text, not an integer"),
    ("nxm_wal_append('e1', '1', NULL, 5, 'b', '')", "nxm_wal_append: model must not be empty"),
    ("nxm_wal_append('e1', '1', NULL, 5, 'b', 'm', 9)",
     "nxm_wal_append: task_id must be text, not an integer"),
    ("nxm_wal_append('e1')",
     "nxm_wal_append: takes 2 to 7 arguments (execution_id, result [, completed [, total [, brand "
     "[, model [, task_id]]]]]), got 1"),
]

BEGIN_CASES = [
    ("nxm_wal_begin('e1', '{\"a\":1}')", "nxm_wal_begin: tasks must be a JSON array of task id strings"),
    ("nxm_wal_begin('e1', '[\"a\", 2]')", "nxm_wal_begin: tasks[1] must be a string"),
    ("nxm_wal_begin('e1', '[\"a\", \"\"]')", "nxm_wal_begin: tasks[1] must not be empty"),
    ("nxm_wal_begin('e1', '[\"a\", \"b\", \"a\"]')", "nxm_wal_begin: tasks[2] repeats the task id 'a'"),
    ("nxm_wal_begin('e1', '[\"a\",')", "nxm_wal_begin: tasks is not valid JSON (error at byte 5 of 5)"),
    ("nxm_wal_begin('e1', NULL)", "nxm_wal_begin: tasks must be text, not NULL"),
    ("nxm_wal_begin(NULL, '[]')", "nxm_wal_begin: execution_id must be text, not NULL"),
    ("nxm_wal_begin('e1')", "nxm_wal_begin: takes 2 arguments (execution_id, tasks), got 1"),
]

OTHER_CASES = [
    ("nxm_recover(NULL)", "nxm_recover: execution_id must be text, not NULL"),
    ("nxm_recover('')", "nxm_recover: execution_id must not be empty"),
    ("nxm_recover('e0', -2)", "nxm_recover: max_age_hours must be between 0 and 1e9 hours (got -2)"),
    ("nxm_recover('e0', 'x')", "nxm_recover: max_age_hours must be a number of hours, not text"),
    ("nxm_cleanup(-0.5)", "nxm_cleanup: max_age_hours must be between 0 and 1e9 hours (got -0.5)"),
    ("nxm_cleanup('1')", "nxm_cleanup: max_age_hours must be a number of hours, not text"),
    ("nxm_ttl(-1)", "nxm_ttl: hours must be between 0 and 1e9 hours (got -1)"),
]


@pytest.fixture
def seeded(db, db_path):
    """A database with one execution, a plan and results, so that 'unchanged' means something."""
    value(db, "SELECT nxm_wal_begin('e0', '[\"t1\",\"t2\",\"t3\"]')")
    value(db, "SELECT nxm_wal_append('e0', '{\"x\":1}', NULL, NULL, 'b', 'm', 't1')")
    return db, db_path


@pytest.mark.parametrize("call,message", APPEND_CASES + BEGIN_CASES + OTHER_CASES)
def test_bad_input_is_refused_with_a_clear_message_and_writes_nothing(seeded, call, message):
    db, path = seeded
    before = dump(path)
    with pytest.raises(sqlite3.Error) as error:
        db.execute(f"SELECT {call}").fetchall()
    assert str(error.value) == message
    assert dump(path) == before


def test_a_failed_append_on_a_fresh_database_leaves_no_tables(db, db_path):
    before = dump(db_path)
    with pytest.raises(sqlite3.Error):
        value(db, "SELECT nxm_wal_append('e1', '{', NULL, 5)")
    with pytest.raises(sqlite3.Error):
        value(db, "SELECT nxm_wal_append('e1', '1')")  # no total: refused under the lock
    assert dump(db_path) == before
    assert value(db, "SELECT count(*) FROM sqlite_schema") == 0


def test_a_different_plan_writes_nothing(seeded):
    db, path = seeded
    before = dump(path)
    with pytest.raises(sqlite3.Error, match="already has a different plan"):
        value(db, "SELECT nxm_wal_begin('e0', '[\"t1\"]')")
    assert dump(path) == before


def test_a_total_that_contradicts_the_plan_writes_nothing(db, db_path):
    value(db, "SELECT nxm_wal_begin('p', '[\"a\",\"b\",\"c\"]')")
    before = dump(db_path)
    with pytest.raises(sqlite3.IntegrityError,
                       match=r"nxm_wal_append: total \(1\) must be NULL or the size of execution "
                             r"'p''s plan \(3 tasks\)"):
        value(db, "SELECT nxm_wal_append('p', '1', NULL, 1, NULL, NULL, 'a')")
    assert dump(db_path) == before
    assert value(db, "SELECT nxm_wal_append('p', '1', NULL, 3, NULL, NULL, 'a')") == 1


def test_an_error_inside_the_callers_transaction_undoes_only_the_failed_call(db, db_path):
    db.execute("BEGIN IMMEDIATE")
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 5)")
    with pytest.raises(sqlite3.Error, match="exceeds total"):
        value(db, "SELECT nxm_wal_append('e1', '2', 9)")
    value(db, "SELECT nxm_wal_append('e1', '3')")
    db.execute("COMMIT")
    assert db.execute("SELECT result FROM nxm_results ORDER BY seq").fetchall() == [("1",), ("3",)]
    assert value(db, "SELECT completed FROM nxm_executions") == 2


def test_error_codes_are_sqlites(db):
    # A constraint is reported as SQLITE_CONSTRAINT, a type error as SQLITE_MISMATCH.
    with pytest.raises(sqlite3.IntegrityError):
        value(db, "SELECT nxm_wal_append('e1', '1', 7, 5)")
    with pytest.raises(sqlite3.Error) as error:
        value(db, "SELECT nxm_wal_append(NULL, '1', 7, 5)")
    assert error.value.sqlite_errorname == "SQLITE_MISMATCH"
