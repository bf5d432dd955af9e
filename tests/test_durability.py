"""An append whose statement has returned survives kill -9 of the writer at any moment, and a writer
killed mid-run resumes from nxm_recover: the original's acceptance cases as real tests."""
import json
import os
import random
import signal
import subprocess
import sys
import time

from conftest import ROOT, connect, value

WRITER = os.path.join(ROOT, "tests", "writer_process.py")


def run_and_kill(db_path, execution_id, prefix, after_acks, *extra, threads=2):
    """Starts a writer, SIGKILLs it once `after_acks` appends were acknowledged; returns them."""
    writer = subprocess.Popen([sys.executable, WRITER, db_path, execution_id, prefix, "100000",
                               str(threads), "--total", "10000000", *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    acknowledged = []
    for line in writer.stdout:
        kind, task, completed = line.split()
        assert kind == "ack", line
        acknowledged.append((task, int(completed)))
        if len(acknowledged) >= after_acks:
            break
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    # Lines already in the pipe were acknowledged too.
    for line in writer.stdout.read().splitlines():
        kind, task, completed = line.split()
        acknowledged.append((task, int(completed)))
    assert writer.returncode == -signal.SIGKILL
    return acknowledged


def test_every_acknowledged_append_survives_sigkill(db_path):
    random.seed(7)
    acknowledged = []
    for round_number in range(8):
        acknowledged += run_and_kill(db_path, "e1", f"r{round_number}", random.randint(1, 150))
        db = connect(db_path)
        assert value(db, "PRAGMA integrity_check") == "ok"
        stored = {t for (t,) in db.execute("SELECT task_id FROM nxm_results")}
        missing = {t for t, _ in acknowledged} - stored
        assert missing == set()
        # completed never went backwards: it is at least every value ever handed out.
        assert value(db, "SELECT completed FROM nxm_executions") >= max(c for _, c in acknowledged)
        # nxm_recover agrees with the rows.
        doc = json.loads(value(db, "SELECT nxm_recover('e1')"))
        assert len(doc["results"]) == value(db, "SELECT count(*) FROM nxm_results")
        db.close()


def test_acknowledged_commits_of_callers_transactions_survive_sigkill(db_path):
    acknowledged = run_and_kill(db_path, "e1", "tx", 60, "--immediate-batch", "5")
    db = connect(db_path)
    stored = {t for (t,) in db.execute("SELECT task_id FROM nxm_results")}
    assert {t for t, _ in acknowledged} <= stored
    # A transaction cut by the kill left nothing: results come in whole batches per thread.
    per_thread = {}
    for (t,) in db.execute("SELECT task_id FROM nxm_results"):
        per_thread.setdefault(t.rsplit("-", 1)[0], []).append(t)
    for tasks in per_thread.values():
        assert len(tasks) % 5 == 0
    assert value(db, "PRAGMA integrity_check") == "ok"


def test_write_read_restart_recover_the_original_acceptance_case(db_path):
    """Write results, kill the writer, restart: recover gives every acknowledged result, and the
    backend continues from there."""
    db = connect(db_path)
    value(db, "SELECT nxm_wal_begin('diag', json_array('a', 'b', 'c', 'd'))")
    db.close()
    writer = subprocess.Popen([sys.executable, "-c", f"""
import sqlite3, sys, time
conn = sqlite3.connect({db_path!r}, isolation_level=None, timeout=30)
conn.enable_load_extension(True)
conn.load_extension({os.path.join(ROOT, 'build', 'nxm')!r})
for task in ['a', 'b']:
    conn.execute("SELECT nxm_wal_append('diag', json_object('task', ?), NULL, NULL, 'Acme', 'gpt', ?)",
                 (task, task)).fetchone()
    print(task, flush=True)
time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "a"
    assert writer.stdout.readline().strip() == "b"
    writer.send_signal(signal.SIGKILL)
    writer.wait()

    db = connect(db_path)
    doc = json.loads(value(db, "SELECT nxm_recover('diag')"))
    assert doc["results"] == [{"task": "a"}, {"task": "b"}]
    assert (doc["completed"], doc["total"], doc["pending"]) == (2, 4, ["c", "d"])
    assert [t for (t,) in db.execute("SELECT task_id FROM nxm_pending('diag')")] == ["c", "d"]
    for task in ["c", "d"]:
        value(db, "SELECT nxm_wal_append('diag', json_object('task', ?), NULL, NULL, NULL, NULL, ?)",
              task, task)
    assert value(db, "SELECT nxm_recover('diag')") is None  # complete: nothing to resume
    assert value(db, "SELECT state FROM nxm_progress WHERE execution_id = 'diag'") == "complete"


def test_synchronous_full_is_what_sqlite_uses_unless_told_otherwise(db):
    # The durability claim for power loss rests on SQLite's default, synchronous=FULL, which nxm
    # never changes (see test_append.py); make sure the default here is what the README says.
    assert value(db, "PRAGMA synchronous") == 2
