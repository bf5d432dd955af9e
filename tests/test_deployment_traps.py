"""test_deployment_traps.py - the ways a deployment corrupts or loses an SQLite database, and what nxm says about them.

Covered here, where a test can set the trap up:
  * a connection opened before fork() and used in the child (gunicorn --preload, Celery prefork): nxm refuses it
    with a message naming fork(); a connection opened in the child works;
  * a read-only reader of a WAL database whose directory it cannot write, so it cannot create the -shm file:
    a clear message naming -shm and the immutable=1 way out; with the -shm present, reading works;
  * deleting the -wal file by hand loses committed results (shown, so the README can say it with a figure).
Not testable here and documented in the README instead: network and FUSE filesystems (WAL needs shared memory
on one host), and trusted_schema=OFF for databases from elsewhere (test_untrusted_db.py checks nxm works with it).
Run with: /usr/bin/python3 -m pytest tests/test_deployment_traps.py   (needs `make` first: build/nxm.so)
"""

import json
import os
import shutil
import sqlite3
import tempfile

import pytest

from forked_case import connect, in_child

NOBODY = 65534


def attempt(conn, sql):
    try:
        return {"rows": [list(r) for r in conn.execute(sql).fetchall()]}
    except sqlite3.Error as error:
        return {"error": getattr(error, "sqlite_errorname", None), "message": str(error)}


# fork()

def test_a_connection_inherited_across_fork_is_refused_in_the_child(tmp_path):
    path = str(tmp_path / "fork.db")
    parent = connect(path)
    assert parent.execute("SELECT nxm_wal_append('e1', '[1]', NULL, 4)").fetchone() == (1,)
    parent_pid = os.getpid()

    def child():
        return {"pid": os.getpid(), **attempt(parent, "SELECT nxm_wal_append('e1', '[2]')")}

    outcome = in_child(child)
    assert "crashed" not in outcome
    assert outcome.get("error") == "SQLITE_MISUSE", outcome
    assert outcome["message"] == (
        f"nxm_wal_append: this connection was opened in process {parent_pid} and is used in process "
        f"{outcome['pid']} after fork(); open a new connection in the child")
    assert parent.execute("SELECT count(*) FROM nxm_results").fetchone() == (1,)
    assert parent.execute("SELECT nxm_wal_append('e1', '[3]')").fetchone() == (2,)
    parent.close()


def test_a_connection_opened_in_the_child_after_fork_works(tmp_path):
    path = str(tmp_path / "fork.db")
    parent = connect(path)
    parent.execute("SELECT nxm_wal_append('e1', '[1]', NULL, 4)").fetchall()

    def child():
        own = connect(path)
        try:
            return attempt(own, "SELECT nxm_wal_append('e1', '[2]')")
        finally:
            own.close()

    assert in_child(child) == {"rows": [[2]]}
    assert parent.execute("SELECT result FROM nxm_results ORDER BY seq").fetchall() == [("[1]",), ("[2]",)]
    parent.close()


# A reader that cannot create the -shm file.

@pytest.fixture
def wal_in_read_only_directory():
    """A WAL database, cleanly closed (no -wal or -shm left), in a directory only root can write."""
    if os.geteuid() == 0 and not os.stat("/").st_mode & 0o001:
        # Seen in a chroot whose root directory was made with mktemp (mode 700): no other user can
        # reach any file, so the unprivileged reader these tests need cannot exist there.
        pytest.skip("/ is not searchable by other users on this system")
    directory = tempfile.mkdtemp(prefix="nxm-ro-")
    os.chmod(directory, 0o755)
    path = os.path.join(directory, "results.db")
    writer = connect(path)
    writer.execute("SELECT nxm_wal_append('e1', '[1]', NULL, 2)").fetchall()
    assert writer.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    writer.close()
    os.chmod(path, 0o644)
    yield path
    os.chmod(directory, 0o755)  # a non-root run made it read-only for the reader
    shutil.rmtree(directory)


def _as_unprivileged_reader(work):
    def run():
        if os.geteuid() == 0:
            # The reader must still be able to load nxm: a checkout under /root (mode 700) is out of
            # its reach, so it loads a copy placed beside the database.
            import forked_case
            copy = os.path.join(os.path.dirname(run.path), "nxm.so")
            shutil.copyfile(forked_case.EXT + ".so", copy)
            os.chmod(copy, 0o755)
            forked_case.EXT = copy[:-3]
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        else:
            os.chmod(os.path.dirname(run.path), 0o555)
        return work()
    return run


def test_a_reader_that_cannot_create_the_shm_file_gets_a_clear_message(wal_in_read_only_directory):
    path = wal_in_read_only_directory

    def read():
        conn = connect(f"file:{path}?mode=ro", uri=True)
        return [attempt(conn, "SELECT nxm_recover('e1')"), attempt(conn, "SELECT state FROM nxm_progress")]

    run = _as_unprivileged_reader(read)
    run.path = path
    outcome = in_child(run)
    assert isinstance(outcome, list), outcome
    for answer, name in zip(outcome, ["nxm_recover", "nxm_progress"]):
        # SQLite refuses before nxm runs (reading the schema needs the -shm), with its own code for
        # exactly this trap; when the refusal comes from inside an nxm call, nxm adds the way out.
        assert answer.get("error") in ("SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY",
                                       "SQLITE_CANTOPEN"), answer
        if answer["message"].startswith(f"{name}: "):
            assert "-shm" in answer["message"] and "immutable=1" in answer["message"], answer


def test_the_same_reader_works_while_a_writer_keeps_the_shm_file(wal_in_read_only_directory):
    path = wal_in_read_only_directory
    writer = connect(path)
    writer.execute("SELECT nxm_wal_append('e1', '[2]')").fetchall()
    assert os.path.exists(path + "-shm")

    def read():
        conn = connect(f"file:{path}?mode=ro", uri=True)
        return attempt(conn, "SELECT completed, total FROM nxm_progress")

    run = _as_unprivileged_reader(read)
    run.path = path
    assert in_child(run) == {"rows": [[2, 2]]}
    writer.close()


def test_immutable_readers_need_no_shm_file(wal_in_read_only_directory):
    path = wal_in_read_only_directory

    def read():
        conn = connect(f"file:{path}?immutable=1", uri=True)
        return attempt(conn, "SELECT json_extract(nxm_recover('e1'), '$.results')")

    run = _as_unprivileged_reader(read)
    run.path = path
    assert in_child(run) == {"rows": [["[[1]]"]]}


# Deleting -wal by hand.

def test_deleting_the_wal_file_by_hand_loses_committed_results(tmp_path):
    """Committed appends live in the -wal file until a checkpoint copies them into the main file. A copy of the
    main file alone (what `rm results.db-wal` leaves) has none of the 10 results appended since the last one."""
    path = str(tmp_path / "results.db")
    writer = connect(path)
    writer.execute("SELECT nxm_wal_append('e1', '[0]', NULL, 20)").fetchall()
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    for i in range(1, 11):
        writer.execute("SELECT nxm_wal_append('e1', ?)", (f"[{i}]",)).fetchall()
    shutil.copyfile(path, str(tmp_path / "without-wal.db"))

    survivor = connect(str(tmp_path / "without-wal.db"))
    assert survivor.execute("SELECT count(*) FROM nxm_results").fetchone() == (1,)
    assert writer.execute("SELECT count(*) FROM nxm_results").fetchone() == (11,)
    survivor.close()
    writer.close()
