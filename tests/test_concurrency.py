"""Several processes and threads, each with its own connection and a busy timeout, append at once:
no "database is locked", no row lost, completed never goes backwards."""
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, connect, value

WRITER = os.path.join(ROOT, "tests", "writer_process.py")


def start_writer(db_path, execution_id, prefix, count, threads, *extra):
    return subprocess.Popen([sys.executable, WRITER, db_path, execution_id, prefix, str(count),
                             str(threads), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def acks(output):
    found = []
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        assert kind == "ack", line
        task, completed = rest.split()
        found.append((task, int(completed)))
    return found


def test_processes_and_threads_append_to_shared_and_own_executions(db_path):
    writers = [start_writer(db_path, "shared", f"p{p}", 60, 3) for p in range(3)]
    writers += [start_writer(db_path, f"own{p}", f"o{p}", 60, 2) for p in range(2)]
    outputs = [w.communicate(timeout=300) for w in writers]
    for w, (out, err) in zip(writers, outputs):
        assert w.returncode == 0, out + err
    acknowledged = [acks(out) for out, _ in outputs]

    db = connect(db_path)
    shared = {t for t, _ in sum(acknowledged[:3], [])}
    assert len(shared) == 3 * 60 * 3
    stored = {t for (t,) in db.execute("SELECT task_id FROM nxm_results WHERE execution_id = 'shared'")}
    assert stored == shared
    assert value(db, "SELECT completed FROM nxm_executions WHERE execution_id = 'shared'") == len(shared)
    for p in range(2):
        assert value(db, "SELECT count(*) FROM nxm_results WHERE execution_id = ?", f"own{p}") == 120
    # Every thread saw completed only grow, and the values handed out for 'shared' are all distinct:
    # each append counted exactly once.
    for found in acknowledged[:3]:
        per_thread = {}
        for task, completed in found:
            per_thread.setdefault(task.rsplit("-", 1)[0], []).append(completed)
        for series in per_thread.values():
            assert series == sorted(series) and len(set(series)) == len(series)
    handed_out = [c for found in acknowledged[:3] for _, c in found]
    assert sorted(handed_out) == list(range(1, len(shared) + 1))
    assert value(db, "PRAGMA integrity_check") == "ok"


def test_dozens_of_first_callers_on_a_fresh_file_create_one_schema(db_path):
    start_at = time.time() + 1.5
    writers = [start_writer(db_path, "e", f"w{p}", 3, 1, "--start-at", str(start_at))
               for p in range(24)]
    for w in writers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, out + err
    db = connect(db_path)
    assert value(db, "SELECT count(*) FROM nxm_results") == 72
    assert value(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'nxm%'") == 9
    assert value(db, "SELECT count(*) FROM nxm_meta") == 2
    assert value(db, "PRAGMA journal_mode") == "wal"


def test_appends_inside_callers_begin_immediate_under_contention(db_path):
    writers = [start_writer(db_path, "e", f"b{p}", 50, 2, "--immediate-batch", "7") for p in range(3)]
    for w in writers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, out + err
        assert len(acks(out)) == 100
    db = connect(db_path)
    assert value(db, "SELECT count(*) FROM nxm_results") == 300
    assert value(db, "SELECT completed FROM nxm_executions") == 300


def test_threads_in_one_process(db_path):
    errors = []

    def work(thread):
        conn = connect(db_path)
        try:
            for i in range(40):
                conn.execute("SELECT nxm_wal_append('e', '1', NULL, 1000, NULL, NULL, ?)",
                             (f"{thread}-{i}",)).fetchone()
        except sqlite3.Error as error:
            errors.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert value(connect(db_path), "SELECT recorded FROM nxm_executions") == 240


def test_a_deferred_transaction_that_read_first_gets_an_actionable_error(db_path):
    first, second = connect(db_path, timeout=0.2), connect(db_path, timeout=0.2)
    value(first, "SELECT nxm_wal_append('e', '1', NULL, 10)")
    first.execute("BEGIN")
    value(first, "SELECT count(*) FROM nxm_results")  # the transaction now holds a read snapshot
    value(second, "SELECT nxm_wal_append('e', '2')")  # another writer commits after it
    with pytest.raises(sqlite3.OperationalError,
                       match="nxm_wal_append: another connection is writing and this transaction "
                             "has already read; start it with BEGIN IMMEDIATE"):
        value(first, "SELECT nxm_wal_append('e', '3')")
    first.execute("ROLLBACK")
    assert value(first, "SELECT nxm_wal_append('e', '3')") == 3


def test_a_deferred_transaction_that_has_not_read_works_under_contention(db_path):
    value(connect(db_path), "SELECT nxm_wal_append('e', '0', NULL, 100000)")
    other = start_writer(db_path, "other", "o", 300, 2)
    first = connect(db_path)
    for i in range(60):
        first.execute("BEGIN")  # deferred: nxm takes the write lock before it reads anything
        value(first, "SELECT nxm_wal_append('e', ?)", str(i))
        first.execute("COMMIT")
    out, err = other.communicate(timeout=300)
    assert other.returncode == 0, out + err
    assert value(first, "SELECT recorded FROM nxm_executions WHERE execution_id = 'e'") == 61


def test_an_unfinished_cursor_on_nxm_pending_refuses_writes_with_what_to_do(db):
    value(db, "SELECT nxm_wal_begin('e', '[\"a\",\"b\"]')")
    cursor = db.execute("SELECT task_id FROM nxm_pending('e')")
    assert cursor.fetchone() == ("a",)
    with pytest.raises(sqlite3.Error, match="nxm_wal_append: cannot write while nxm_progress or "
                                            "nxm_pending is being read on the same connection; "
                                            "read their rows to the end first"):
        value(db, "SELECT nxm_wal_append('e', '1', NULL, NULL, NULL, NULL, 'a')")
    assert cursor.fetchall() == [("b",)]
    assert value(db, "SELECT nxm_wal_append('e', '1', NULL, NULL, NULL, NULL, 'a')") == 1


def test_a_scan_of_nxm_progress_cannot_feed_appends_to_itself(db):
    value(db, "SELECT nxm_wal_append('a', '1', NULL, 1000000)")
    value(db, "SELECT nxm_wal_append('b', '1', NULL, 1000000)")
    with pytest.raises(sqlite3.Error, match="cannot write while nxm_progress"):
        db.execute("SELECT nxm_wal_append(execution_id, '2') FROM nxm_progress").fetchall()
    assert value(db, "SELECT count(*) FROM nxm_results") == 2


def test_inside_insert_it_fails_with_what_to_do(db):
    db.execute("CREATE TABLE log(x)")
    with pytest.raises(sqlite3.Error, match="nxm_wal_append: cannot run inside INSERT, UPDATE, "
                                            "DELETE or a trigger; call it from a SELECT"):
        db.execute("INSERT INTO log SELECT nxm_wal_append('e', '1', NULL, 5)")
    db.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.Error, match="nxm_wal_append: cannot run inside INSERT"):
        db.execute("INSERT INTO log SELECT nxm_wal_append('e', '1', NULL, 5)")
    db.execute("ROLLBACK")
    assert value(db, "SELECT count(*) FROM log") == 0


def test_a_select_with_from_appends_each_row(db):
    db.execute("CREATE TABLE staging(id, payload)")
    db.executemany("INSERT INTO staging VALUES (?, ?)", [(i, f'{{"i":{i}}}') for i in range(5)])
    got = [r[0] for r in db.execute("SELECT nxm_wal_append('e', payload, NULL, 5) FROM staging "
                                    "ORDER BY id")]
    assert got == [1, 2, 3, 4, 5]
