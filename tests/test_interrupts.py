"""A call cut short by sqlite3_interrupt() or a progress handler leaves no half-written append and no
transaction of nxm's open to hold the write lock. An interrupt that lands after nxm's commit, while
the caller's SELECT finishes, reports an error for an append that is stored: the row is whole, and a
task_id makes the retry harmless."""
import sqlite3
import threading

from conftest import connect, dump, value


def test_an_interrupt_at_any_step_of_an_append_writes_nothing_and_ends_the_transaction(db, db_path):
    value(db, "SELECT nxm_wal_begin('e', json_array('a', 'b', 'c'))")
    other = connect(db_path, timeout=0)
    interrupted = 0
    for after in range(1, 2000, 7):
        before = dump(db_path)
        calls = {"n": 0}

        def handler():
            calls["n"] += 1
            if calls["n"] == after:
                db.interrupt()  # stays in force until the outer SELECT ends
            return 0

        db.set_progress_handler(handler, 1)
        try:
            value(db, "SELECT nxm_wal_append('e', '\"x\"', NULL, NULL, 'B', 'M', 'b')")
            succeeded = True
        except sqlite3.OperationalError as error:
            assert str(error) == "interrupted" or str(error).startswith("nxm_wal_append: ")
            succeeded = False
        finally:
            db.set_progress_handler(None, 1)
        assert not db.in_transaction
        if succeeded:
            break
        interrupted += 1
        if dump(db_path) != before:
            # Interrupted after nxm's commit, while the caller's SELECT finished: stored whole.
            row = db.execute("SELECT completed, recorded, done FROM nxm_executions").fetchone()
            assert row == (1, 1, 1)
            assert value(db, "SELECT result FROM nxm_results WHERE task_id = 'b'") == '"x"'
            break
        # The write lock is free: another connection writes without waiting.
        value(other, "SELECT nxm_ttl(24)")
    assert interrupted > 10
    assert [t for (t,) in db.execute("SELECT task_id FROM nxm_pending('e')")] == ["a", "c"]


def consistent(db):
    """The summary row agrees with the result rows."""
    recorded, completed = db.execute("SELECT recorded, completed FROM nxm_executions").fetchone()
    return recorded == completed == value(db, "SELECT count(*) FROM nxm_results")


def test_a_progress_handler_that_refuses_every_step_leaves_no_transaction_open(db, db_path):
    value(db, "SELECT nxm_wal_append('e', '1', NULL, 500)")
    for after in range(1, 400, 5):
        calls = {"n": 0}

        def handler():
            calls["n"] += 1
            return 1 if calls["n"] >= after else 0

        db.set_progress_handler(handler, 1)
        try:
            value(db, "SELECT nxm_wal_append('e', '2')")
            db.set_progress_handler(None, 1)
            break
        except sqlite3.OperationalError:
            pass
        finally:
            db.set_progress_handler(None, 1)
        assert not db.in_transaction
        assert consistent(db)
    assert value(connect(db_path, timeout=0), "SELECT nxm_ttl(24)") == 24


def test_interrupts_from_another_thread_never_leave_a_half_written_execution(db_path):
    db = connect(db_path)
    value(db, "SELECT nxm_wal_append('e', '0', NULL, 1000000)")
    stop = threading.Event()

    def interrupter():
        while not stop.is_set():
            db.interrupt()

    thread = threading.Thread(target=interrupter)
    thread.start()
    acknowledged = 1
    try:
        for i in range(300):
            try:
                value(db, "SELECT nxm_wal_append('e', ?)", str(i))
                acknowledged += 1
            except sqlite3.OperationalError:
                assert not db.in_transaction
    finally:
        stop.set()
        thread.join()
    check = connect(db_path)
    assert value(check, "SELECT count(*) FROM nxm_results") >= acknowledged
    assert consistent(check)
    assert value(check, "PRAGMA integrity_check") == "ok"
