"""test_bad_input.py - the bad-input catalogue: every nxm function and both virtual tables against hostile arguments.

Each case runs one statement on a copy of a small populated database (forked_case.py, in a child process, so a
crash fails one case) and asserts
  * the exact error text and SQLite error name,
  * that the database is unchanged: the same full dump (row for row) and the same file bytes after closing,
  * that no transaction was left open.
A second group lists the hostile inputs nxm accepts on purpose, with the value it stores or returns.
Run with: /usr/bin/python3 -m pytest tests/test_bad_input.py   (needs `make` first: build/nxm.so)
"""

import json
import shutil
import sqlite3
import threading

import pytest

from forked_case import connect, run_case

APPEND_USAGE = ("takes 2 to 7 arguments (execution_id, result [, completed [, total [, brand "
                "[, model [, task_id]]]]])")
PENDING_USAGE = "nxm_pending: takes an execution_id argument: SELECT task_id FROM nxm_pending('execution id')"
BIG = 4 * 1024 * 1024


def deep(levels, inner="1"):
    return "[" * levels + inner + "]" * levels


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """e1: planned a, b, c with a result for a; e2: no plan, 2 of 5; done: 1 of 1."""
    path = tmp_path_factory.mktemp("bad_input") / "template.db"
    conn = connect(str(path))
    for sql in ["SELECT nxm_wal_begin('e1', '[\"a\",\"b\",\"c\"]')",
                "SELECT nxm_wal_append('e1', '{\"answer\":1}', NULL, NULL, 'Acme', 'gpt', 'a')",
                "SELECT nxm_wal_append('e2', '[1]', NULL, 5)",
                "SELECT nxm_wal_append('e2', '[2]')",
                "SELECT nxm_wal_append('done', '\"x\"', 1, 1)"]:
        conn.execute(sql).fetchall()
    conn.close()
    return path


@pytest.fixture
def db(template, tmp_path):
    path = tmp_path / "case.db"
    shutil.copyfile(template, path)
    return path


# (id, sql, params, error name, exact message[, options]); options: setup (committed first, on another
# connection), limit (SQLITE_LIMIT_LENGTH), uri ("ro"), pragmas (statements run first on the same connection),
# in_transaction (the caller's own transaction is open around the call, and must stay open).
A = "nxm_wal_append: "
CASES = [
    # nxm_wal_append: execution_id
    ("append-id-integer", "SELECT nxm_wal_append(7, '1', 0, 1)", (), "SQLITE_MISMATCH",
     A + "execution_id must be text, not an integer"),
    ("append-id-null", "SELECT nxm_wal_append(NULL, '1', 0, 1)", (), "SQLITE_MISMATCH",
     A + "execution_id must be text, not NULL"),
    ("append-id-blob", "SELECT nxm_wal_append(?, '1', 0, 1)", (b"e1",), "SQLITE_MISMATCH",
     A + "execution_id must be text, not a blob"),
    ("append-id-empty", "SELECT nxm_wal_append('', '1', 0, 1)", (), "SQLITE_MISMATCH",
     A + "execution_id must not be empty"),
    ("append-id-over-cap", "SELECT nxm_wal_append(?, '1', 0, 1)", ("x" * 1025,), "SQLITE_TOOBIG",
     A + "execution_id is 1025 bytes; the limit is 1024"),
    ("append-id-megabytes", "SELECT nxm_wal_append(?, '1', 0, 1)", ("x" * BIG,), "SQLITE_TOOBIG",
     A + f"execution_id is {BIG} bytes; the limit is 1024"),
    ("append-id-nul", "SELECT nxm_wal_append(?, '1', 0, 1)", ("e1\x00tail",), "SQLITE_MISMATCH",
     A + "execution_id contains a NUL byte"),
    ("append-id-invalid-utf8", "SELECT nxm_wal_append(CAST(x'65ff31' AS TEXT), '1', 0, 1)", (),
     "SQLITE_MISMATCH", A + "execution_id is not valid UTF-8"),
    # nxm_wal_append: result
    ("append-result-real", "SELECT nxm_wal_append('e2', 1.5)", (), "SQLITE_MISMATCH",
     A + "result must be text, not a real"),
    ("append-result-null", "SELECT nxm_wal_append('e2', NULL)", (), "SQLITE_MISMATCH",
     A + "result must be text, not NULL"),
    ("append-result-empty", "SELECT nxm_wal_append('e2', '')", (), "SQLITE_MISMATCH",
     A + "result must not be empty"),
    ("append-result-truncated-json", "SELECT nxm_wal_append('e2', '{\"a\":')", (), "SQLITE_MISMATCH",
     A + "result is not valid JSON (error at byte 5 of 5)"),
    ("append-result-nan", "SELECT nxm_wal_append('e2', 'NaN')", (), "SQLITE_MISMATCH",
     A + "result is not valid JSON (error at byte 0 of 3)"),
    ("append-result-infinity", "SELECT nxm_wal_append('e2', '[1, Infinity]')", (), "SQLITE_MISMATCH",
     A + "result is not valid JSON (error at byte 4 of 13)"),
    ("append-result-nul-byte", "SELECT nxm_wal_append('e2', ?)", ('"a\x00b"',), "SQLITE_MISMATCH",
     A + "result contains a NUL byte"),
    ("append-result-deeper-than-sqlite-json", "SELECT nxm_wal_append('e2', ?)", (deep(2500),),
     "SQLITE_MISMATCH", A + "result is nested deeper than 2000 levels"),
    ("append-result-invalid-utf8", "SELECT nxm_wal_append('e2', CAST(x'22ff22' AS TEXT))", (),
     "SQLITE_MISMATCH", A + "result is not valid UTF-8"),
    ("append-result-beyond-length-limit", "SELECT nxm_wal_append('e2', ?)", ('"' + "y" * 5000 + '"',),
     "SQLITE_TOOBIG", "string or blob too big", {"limit": 4096}),
    # nxm_wal_append: counts
    ("append-completed-real", "SELECT nxm_wal_append('e2', '1', 1.5)", (), "SQLITE_MISMATCH",
     A + "completed must be a non-negative whole number, not a real with a fraction"),
    ("append-completed-text", "SELECT nxm_wal_append('e2', '1', '3')", (), "SQLITE_MISMATCH",
     A + "completed must be a non-negative whole number, not text"),
    ("append-completed-negative", "SELECT nxm_wal_append('e2', '1', -1)", (), "SQLITE_MISMATCH",
     A + "completed must not be negative (got -1)"),
    ("append-completed-overflows-64-bits", "SELECT nxm_wal_append('e2', '1', 99999999999999999999)", (),
     "SQLITE_MISMATCH", A + "completed must be a non-negative whole number, not a real out of range (1e+20)"),
    ("append-total-negative", "SELECT nxm_wal_append('e2', '1', NULL, -9223372036854775808)", (),
     "SQLITE_MISMATCH", A + "total must not be negative (got -9223372036854775808)"),
    ("append-completed-exceeds-total", "SELECT nxm_wal_append('e2', '1', 7, 5)", (), "SQLITE_CONSTRAINT",
     A + "completed (7) exceeds total (5)"),
    ("append-recorded-exceeds-total", "SELECT nxm_wal_append('done', '1')", (), "SQLITE_CONSTRAINT",
     A + "completed (2, the number of results recorded) exceeds total (1)"),
    ("append-unknown-execution-without-total", "SELECT nxm_wal_append('new', '1')", (), "SQLITE_CONSTRAINT",
     A + "total is required for the first append of execution 'new' "
     "(pass it as the 4th argument, or call nxm_wal_begin first)"),
    # nxm_wal_append: labels, task id, arity
    ("append-brand-integer", "SELECT nxm_wal_append('e2', '1', NULL, NULL, 5)", (), "SQLITE_MISMATCH",
     A + "brand must be text, not an integer"),
    ("append-model-over-cap", "SELECT nxm_wal_append('e2', '1', NULL, NULL, 'b', ?)", ("m" * 1025,),
     "SQLITE_TOOBIG", A + "model is 1025 bytes; the limit is 1024"),
    ("append-task-id-empty", "SELECT nxm_wal_append('e1', '1', NULL, NULL, NULL, NULL, '')", (),
     "SQLITE_MISMATCH", A + "task_id must not be empty"),
    ("append-task-id-blob", "SELECT nxm_wal_append('e1', '1', NULL, NULL, NULL, NULL, x'61')", (),
     "SQLITE_MISMATCH", A + "task_id must be text, not a blob"),
    ("append-one-argument", "SELECT nxm_wal_append('e1')", (), "SQLITE_MISUSE", A + APPEND_USAGE + ", got 1"),
    ("append-eight-arguments", "SELECT nxm_wal_append('e1', '1', 0, 1, 'b', 'm', 't', 'x')", (),
     "SQLITE_MISUSE", A + APPEND_USAGE + ", got 8"),
    # nxm_wal_append: where it is called from
    ("append-query-only", "SELECT nxm_wal_append('e2', '1')", (), "SQLITE_READONLY",
     A + "attempt to write a readonly database", {"pragmas": ["PRAGMA query_only = ON"]}),
    ("append-query-only-in-deferred-transaction", "SELECT nxm_wal_append('e2', '1')", (), "SQLITE_READONLY",
     A + "attempt to write a readonly database",
     {"pragmas": ["BEGIN", "SELECT count(*) FROM nxm_results", "PRAGMA query_only = ON"], "in_transaction": True}),
    ("append-read-only-open", "SELECT nxm_wal_append('e2', '1')", (), "SQLITE_READONLY",
     A + "the database is read-only (opened with mode=ro or without write permission)", {"uri": "ro"}),
    ("append-inside-insert", "INSERT INTO side VALUES (nxm_wal_append('e2', '1'))", (), "SQLITE_MISUSE",
     A + "cannot run inside INSERT, UPDATE, DELETE or a trigger; call it from a SELECT",
     {"setup": ["CREATE TABLE side (x)"]}),
    ("append-from-trigger", "INSERT INTO side VALUES (1)", (), "SQLITE_ERROR",
     "unsafe use of nxm_wal_append()",
     {"setup": ["CREATE TABLE side (x); CREATE TRIGGER side_append AFTER INSERT ON side "
                "BEGIN SELECT nxm_wal_append('e2', '1'); END"]}),
    ("append-from-view", "SELECT * FROM side_view", (), "SQLITE_ERROR", "unsafe use of nxm_wal_append()",
     {"setup": ["CREATE VIEW side_view AS SELECT nxm_wal_append('e2', '1')"]}),
    # nxm_wal_begin
    ("begin-tasks-object", "SELECT nxm_wal_begin('e3', '{\"a\":1}')", (), "SQLITE_MISMATCH",
     "nxm_wal_begin: tasks must be a JSON array of task id strings"),
    ("begin-tasks-null", "SELECT nxm_wal_begin('e3', NULL)", (), "SQLITE_MISMATCH",
     "nxm_wal_begin: tasks must be text, not NULL"),
    ("begin-tasks-invalid-json", "SELECT nxm_wal_begin('e3', '[\"a\",')", (), "SQLITE_MISMATCH",
     "nxm_wal_begin: tasks is not valid JSON (error at byte 5 of 5)"),
    ("begin-task-not-string", "SELECT nxm_wal_begin('e3', '[\"a\", 2]')", (), "SQLITE_MISMATCH",
     "nxm_wal_begin: tasks[1] must be a string"),
    ("begin-task-duplicate", "SELECT nxm_wal_begin('e3', '[\"a\", \"b\", \"a\"]')", (), "SQLITE_CONSTRAINT",
     "nxm_wal_begin: tasks[2] repeats the task id 'a'"),
    ("begin-task-empty", "SELECT nxm_wal_begin('e3', '[\"a\", \"\"]')", (), "SQLITE_MISMATCH",
     "nxm_wal_begin: tasks[1] must not be empty"),
    ("begin-task-over-cap", "SELECT nxm_wal_begin('e3', ?)", (json.dumps(["x" * 1025]),), "SQLITE_TOOBIG",
     "nxm_wal_begin: tasks[0] is 1025 bytes; the limit is 1024"),
    ("begin-task-escaped-nul", "SELECT nxm_wal_begin('e3', '[\"a\\u0000b\"]')", (), "SQLITE_MISMATCH",
     "nxm_wal_begin: tasks[0] contains a NUL character"),
    ("begin-tasks-nested-past-cjson", "SELECT nxm_wal_begin('e3', ?)", (deep(1500, '"a"'),), "SQLITE_MISMATCH",
     "nxm_wal_begin: tasks[0] must be a string"),
    ("begin-different-plan", "SELECT nxm_wal_begin('e1', '[\"a\", \"c\", \"b\"]')", (), "SQLITE_CONSTRAINT",
     "nxm_wal_begin: execution 'e1' already has a different plan (3 tasks; they differ from tasks[1] on)"),
    ("begin-tasks-integer", "SELECT nxm_wal_begin('e3', 42)", (), "SQLITE_MISMATCH",
     "nxm_wal_begin: tasks must be text, not an integer"),
    ("begin-one-argument", "SELECT nxm_wal_begin('e3')", (), "SQLITE_MISUSE",
     "nxm_wal_begin: takes 2 arguments (execution_id, tasks), got 1"),
    ("begin-inside-update", "UPDATE side SET x = nxm_wal_begin('e3', '[\"a\"]')", (), "SQLITE_MISUSE",
     "nxm_wal_begin: cannot run inside INSERT, UPDATE, DELETE or a trigger; call it from a SELECT",
     {"setup": ["CREATE TABLE side (x); INSERT INTO side VALUES (1)"]}),
    # nxm_recover
    ("recover-id-null", "SELECT nxm_recover(NULL)", (), "SQLITE_MISMATCH",
     "nxm_recover: execution_id must be text, not NULL"),
    ("recover-id-over-cap", "SELECT nxm_recover(?)", ("x" * 1025,), "SQLITE_TOOBIG",
     "nxm_recover: execution_id is 1025 bytes; the limit is 1024"),
    ("recover-hours-text", "SELECT nxm_recover('e1', '24')", (), "SQLITE_MISMATCH",
     "nxm_recover: max_age_hours must be a number of hours, not text"),
    ("recover-hours-negative", "SELECT nxm_recover('e1', -1)", (), "SQLITE_MISMATCH",
     "nxm_recover: max_age_hours must be between 0 and 1e9 hours (got -1)"),
    ("recover-hours-infinite", "SELECT nxm_recover('e1', 1e999)", (), "SQLITE_MISMATCH",
     "nxm_recover: max_age_hours must be between 0 and 1e9 hours (got Inf)"),
    ("recover-no-arguments", "SELECT nxm_recover()", (), "SQLITE_MISUSE",
     "nxm_recover: takes 1 or 2 arguments (execution_id [, max_age_hours]), got 0"),
    ("recover-beyond-length-limit", "SELECT nxm_recover('e2')", (), "SQLITE_TOOBIG",
     "nxm_recover: the document would be larger than SQLITE_LIMIT_LENGTH",
     {"setup": [("SELECT nxm_wal_append('e2', ?)", ('"' + "z" * 5000 + '"',))], "limit": 4096}),
    ("recover-under-small-length-limit", "SELECT nxm_recover('e1')", (), "SQLITE_TOOBIG",
     "nxm_recover: the document would be larger than SQLITE_LIMIT_LENGTH", {"limit": 100}),
    ("recover-from-view", "SELECT * FROM side_view", (), "SQLITE_ERROR", "unsafe use of nxm_recover()",
     {"setup": ["CREATE VIEW side_view AS SELECT nxm_recover('e1')"]}),
    # nxm_cleanup, nxm_ttl, nxm_version
    ("cleanup-hours-text", "SELECT nxm_cleanup('x')", (), "SQLITE_MISMATCH",
     "nxm_cleanup: max_age_hours must be a number of hours, not text"),
    ("cleanup-hours-negative", "SELECT nxm_cleanup(-0.5)", (), "SQLITE_MISMATCH",
     "nxm_cleanup: max_age_hours must be between 0 and 1e9 hours (got -0.5)"),
    ("cleanup-query-only-in-deferred-transaction", "SELECT nxm_cleanup(0)", (), "SQLITE_READONLY",
     "nxm_cleanup: attempt to write a readonly database",
     {"pragmas": ["BEGIN", "PRAGMA query_only = ON"], "in_transaction": True}),
    ("cleanup-two-arguments", "SELECT nxm_cleanup(1, 2)", (), "SQLITE_MISUSE",
     "nxm_cleanup: takes 0 or 1 argument ([max_age_hours]), got 2"),
    ("cleanup-from-trigger", "INSERT INTO side VALUES (1)", (), "SQLITE_ERROR", "unsafe use of nxm_cleanup()",
     {"setup": ["CREATE TABLE side (x); CREATE TRIGGER side_sweep AFTER INSERT ON side "
                "BEGIN SELECT nxm_cleanup(0); END"]}),
    ("ttl-blob", "SELECT nxm_ttl(x'00')", (), "SQLITE_MISMATCH", "nxm_ttl: hours must be a number of hours, not a blob"),
    ("ttl-too-large", "SELECT nxm_ttl(1e10)", (), "SQLITE_MISMATCH",
     "nxm_ttl: hours must be between 0 and 1e9 hours (got 1e+10)"),
    ("ttl-two-arguments", "SELECT nxm_ttl(1, 2)", (), "SQLITE_MISUSE",
     "nxm_ttl: takes 0 or 1 argument ([hours]), got 2"),
    ("version-with-argument", "SELECT nxm_version(1)", (), "SQLITE_ERROR",
     "wrong number of arguments to function nxm_version()"),
    # nxm_pending
    ("pending-without-argument", "SELECT task_id FROM nxm_pending", (), "SQLITE_ERROR", PENDING_USAGE),
    ("pending-integer", "SELECT task_id FROM nxm_pending(1)", (), "SQLITE_ERROR",
     "nxm_pending: execution_id must be non-empty text"),
    ("pending-null", "SELECT task_id FROM nxm_pending(NULL)", (), "SQLITE_ERROR",
     "nxm_pending: execution_id must be non-empty text"),
    ("pending-empty", "SELECT task_id FROM nxm_pending('')", (), "SQLITE_ERROR",
     "nxm_pending: execution_id must be non-empty text"),
    ("pending-two-arguments", "SELECT task_id FROM nxm_pending('e1', 'e2')", (), "SQLITE_ERROR",
     "too many arguments on nxm_pending() - max 1"),
    ("pending-insert", "INSERT INTO nxm_pending (task_id) VALUES ('z')", (), "SQLITE_ERROR",
     "table nxm_pending may not be modified"),
    # nxm_progress
    ("progress-insert", "INSERT INTO nxm_progress (execution_id) VALUES ('e9')", (), "SQLITE_ERROR",
     "table nxm_progress may not be modified"),
    ("progress-update", "UPDATE nxm_progress SET completed = 3", (), "SQLITE_ERROR",
     "table nxm_progress may not be modified"),
    ("progress-delete", "DELETE FROM nxm_progress", (), "SQLITE_ERROR", "table nxm_progress may not be modified"),
    ("progress-drop", "DROP TABLE nxm_progress", (), "SQLITE_ERROR", "table nxm_progress may not be dropped"),
    ("progress-create-virtual-table", "CREATE VIRTUAL TABLE mine USING nxm_progress", (), "SQLITE_ERROR",
     "no such module: nxm_progress"),
]


def _case(entry):
    name, sql, params, error_name, message, *rest = entry
    return pytest.param(sql, params, error_name, message, rest[0] if rest else {}, id=name)


@pytest.mark.parametrize("sql, params, error_name, message, options", [_case(c) for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(db, sql, params, error_name, message, options):
    uri = f"file:{db}?mode=ro" if options.get("uri") == "ro" else None
    outcome = run_case(db, sql, params, setup=options.get("setup", ()), limit=options.get("limit"), uri=uri,
                       pragmas=options.get("pragmas", ()))
    assert outcome.crashed is None, f"the statement crashed the process ({outcome.crashed})"
    assert outcome.harness_error is None, outcome.harness_error
    assert (outcome.error_name, outcome.message) == (error_name, message)
    assert outcome.dump_unchanged, "a refused call changed the rows or the schema"
    assert outcome.bytes_unchanged, "a refused call changed the database file"
    # A call made in autocommit mode leaves no transaction; one made in the caller's transaction leaves it open.
    assert outcome.in_transaction == options.get("in_transaction", False)


def test_the_catalogue_covers_every_function_and_both_virtual_tables():
    names = {case[0].split("-")[0] for case in CASES}
    assert names == {"append", "begin", "recover", "cleanup", "ttl", "version", "pending", "progress"}
    assert len(CASES) >= 40


def test_a_call_in_a_transaction_that_read_before_another_writer_committed_is_refused(db):
    reader, writer = connect(str(db)), connect(str(db))
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM nxm_results").fetchone() == (4,)
    assert writer.execute("SELECT nxm_wal_append('e2', '[3]')").fetchone() == (3,)
    with pytest.raises(sqlite3.OperationalError) as refused:
        reader.execute("SELECT nxm_wal_append('e2', '[4]')")
    assert (refused.value.sqlite_errorname, str(refused.value)) == (
        "SQLITE_BUSY", "nxm_wal_append: another connection is writing and this transaction has already read; "
                       "start it with BEGIN IMMEDIATE")
    assert reader.in_transaction
    reader.execute("ROLLBACK")
    assert reader.execute("SELECT result FROM nxm_results WHERE execution_id = 'e2' ORDER BY seq").fetchall() == [
        ("[1]",), ("[2]",), ("[3]",)]
    reader.close()
    writer.close()


@pytest.mark.parametrize("columns", ["execution_id", "execution_id, completed", "execution_id, updated_at"])
def test_a_write_driven_by_a_scan_of_nxm_executions_calls_once_per_row(tmp_path, columns):
    """The scan must not meet the rows its own appends just rewrote (a Halloween problem): three executions give
    three calls, whichever columns make SQLite pick the table or an index for the scan."""
    conn = connect(str(tmp_path / "scan.db"))
    for name in ("x1", "x2", "x3"):
        conn.execute("SELECT nxm_wal_append(?, '[0]', 0, 100)", (name,)).fetchall()
    deadline = threading.Timer(5.0, conn.interrupt)
    deadline.start()
    try:
        rows = conn.execute(f"SELECT {columns}, nxm_wal_append(execution_id, ?, NULL, NULL, NULL, NULL, 'scan') "
                            "FROM nxm_executions", ('"' + "s" * 100_000 + '"',)).fetchall()
    except sqlite3.Error as error:
        if "interrupted" in str(error):
            pytest.fail("the scan had not ended after 5 s: it meets again the rows its appends rewrote")
        assert str(error).startswith("nxm_wal_append: "), error
        return
    finally:
        deadline.cancel()
    calls = conn.execute("SELECT count(*) FROM nxm_results WHERE task_id = 'scan'").fetchone()[0]
    conn.close()
    assert sorted(row[0] for row in rows) == ["x1", "x2", "x3"], f"{len(rows)} calls for 3 rows"
    assert calls == 3


def test_plan_over_the_task_cap_is_refused_before_any_write(db):
    tasks = json.dumps([f"t{i}" for i in range(1_000_001)])
    outcome = run_case(db, "SELECT nxm_wal_begin('huge', ?)", (tasks,))
    assert (outcome.error_name, outcome.message) == ("SQLITE_TOOBIG",
                                                     "nxm_wal_begin: tasks has more than 1000000 entries")
    assert outcome.unchanged and not outcome.in_transaction


def test_plan_text_over_the_byte_cap_is_refused_before_parsing(db):
    tasks = '["' + "x" * (64 * 1024 * 1024) + '"]'
    outcome = run_case(db, "SELECT nxm_wal_begin('huge', ?)", (tasks,))
    assert (outcome.error_name, outcome.message) == (
        "SQLITE_TOOBIG", f"nxm_wal_begin: tasks is {len(tasks)} bytes; the limit is 67108864")
    assert outcome.unchanged and not outcome.in_transaction


def test_a_failed_call_inside_a_transaction_undoes_only_itself(db):
    conn = connect(str(db))
    conn.execute("BEGIN")
    assert conn.execute("SELECT nxm_wal_append('e2', '[3]')").fetchone() == (3,)
    with pytest.raises(sqlite3.IntegrityError, match=r"^nxm_wal_append: completed \(9\) exceeds total \(5\)$"):
        conn.execute("SELECT nxm_wal_append('e2', '[4]', 9)")
    assert conn.in_transaction
    conn.execute("COMMIT")
    assert conn.execute("SELECT result FROM nxm_results WHERE execution_id = 'e2' ORDER BY seq").fetchall() == [
        ("[1]",), ("[2]",), ("[3]",)]
    conn.close()


# Hostile inputs that are valid and kept: (id, result text as given, what nxm_recover gives back).
ACCEPTED_RESULTS = [
    ("duplicate-keys-kept-verbatim", '{"a":1,"a":2}'),
    ("lone-surrogate-escape-kept", '"\\ud800"'),
    ("escaped-nul-kept", '"a\\u0000b"'),
    ("number-beyond-double-kept", "[1e999]"),
    ("huge-integer-kept", "123456789012345678901234567890"),
    ("nesting-at-cjson-limit-kept", deep(1000)),
    ("nesting-at-sqlite-limit-kept", deep(2000)),
]


@pytest.mark.parametrize("result", [pytest.param(r, id=name) for name, r in ACCEPTED_RESULTS])
def test_valid_but_hostile_json_is_stored_and_recovered_verbatim(db, result):
    conn = connect(str(db))
    assert conn.execute("SELECT nxm_wal_append('e2', ?)", (result,)).fetchone() == (3,)
    document = conn.execute("SELECT nxm_recover('e2')").fetchone()[0]
    conn.close()
    assert document.startswith('{"execution_id":"e2","results":[[1],[2],' + result + '],"completed":3,')


def test_counts_at_the_top_of_64_bits_are_accepted(db):
    conn = connect(str(db))
    top = 9223372036854775807
    assert conn.execute("SELECT nxm_wal_append('big', '1', ?, ?)", (top, top)).fetchone() == (top,)
    assert conn.execute("SELECT completed, total, percent FROM nxm_progress WHERE execution_id = 'big'").fetchone() \
        == (top, top, 100.0)
    conn.close()


def test_whole_number_reals_are_taken_as_counts(db):
    conn = connect(str(db))
    assert conn.execute("SELECT nxm_wal_append('e2', '[3]', 3.0, 5.0)").fetchone() == (3,)
    assert conn.execute("SELECT completed, total FROM nxm_executions WHERE execution_id = 'e2'").fetchone() == (3, 5)
    conn.close()


def test_a_low_length_limit_leaves_small_writes_working(db):
    """SQLITE_LIMIT_LENGTH caps values, not nxm's own bookkeeping: a 30-byte append works under a 1000-byte limit."""
    conn = connect(str(db))
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)
    try:
        assert conn.execute("SELECT nxm_wal_append('e2', '[3]')").fetchone() == (3,)
    finally:
        in_transaction = conn.in_transaction
        conn.close()
    assert not in_transaction


def test_unknown_executions_read_as_nothing(db):
    conn = connect(str(db))
    assert conn.execute("SELECT nxm_recover('nobody')").fetchone() == (None,)
    assert conn.execute("SELECT task_id FROM nxm_pending('nobody')").fetchall() == []
    assert conn.execute("SELECT * FROM nxm_progress WHERE execution_id = 'nobody'").fetchall() == []
    assert conn.execute("SELECT * FROM nxm_progress WHERE execution_id = 7").fetchall() == []
    conn.close()
