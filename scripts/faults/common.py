"""common.py - what the Python fault drivers share: connecting with nxm loaded, the acknowledgement logs
writers keep, and the check a database must pass after writers were killed.

An acknowledgement log holds one JSON object per line, written with one os.write() and fsync'd right after
the statement (or the COMMIT) returned: {"e": execution, "t": task_id, "p": result, "c": completed}. A
line {"holding": [task ids]} marks appends made inside a transaction that has not committed.
"""

import json
import os
import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
EXTENSION = str(ROOT / "build" / "nxm")
TOTAL = 1_000_000  # large, so that no execution is ever complete and nxm_recover always answers


def connect(path, timeout=10.0, extension=EXTENSION):
    """A connection in autocommit mode with nxm loaded and busy_timeout = timeout."""
    db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    db.enable_load_extension(True)
    db.load_extension(extension)
    db.enable_load_extension(False)
    return db


def acknowledge(fd, records):
    """Appends records to an acknowledgement log in one write, then fsyncs it."""
    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
    os.write(fd, data)
    os.fsync(fd)


def read_log(path):
    """Acknowledged records and held (uncommitted) task ids of one log. A torn last line is ignored."""
    acked, holding = [], []
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return acked, holding
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "holding" in record:
            holding.extend(record["holding"])
        else:
            acked.append(record)
    return acked, holding


def collect_logs(paths):
    """read_log over several logs, which are then removed: (every acked record, every held task id)."""
    acked, holding = [], []
    for path in paths:
        a, h = read_log(path)
        acked.extend(a)
        holding.extend(h)
        Path(path).unlink(missing_ok=True)
    return acked, holding


def check_database(path, acked, held=(), last_completed=None):
    """Holds the database at `path` to what was acknowledged. Returns a dict of counts (all 0 when fine).

    acked: records from read_log; held: task ids of transactions that never committed (must be absent);
    last_completed: {execution: completed} from the previous check, updated in place (must never drop).
    """
    found = {"corrupt": 0, "lost": 0, "duplicated": 0, "wrong_payload": 0, "backwards": 0,
             "inconsistent": 0, "recover_mismatch": 0, "half_written_present": 0, "problems": []}
    db = connect(path)
    try:
        verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            found["corrupt"] = 1
            found["problems"].append(f"integrity_check: {verdict}")
            return found
        best = {}
        for record in acked:
            rows = db.execute("SELECT result FROM nxm_results WHERE execution_id = ? AND task_id = ?",
                              (record["e"], record["t"])).fetchall()
            if not rows:
                found["lost"] += 1
                found["problems"].append(f"acknowledged {record['e']}/{record['t']} is missing")
            elif len(rows) > 1:
                found["duplicated"] += 1
            elif rows[0][0] != record["p"]:
                found["wrong_payload"] += 1
                found["problems"].append(f"{record['e']}/{record['t']} holds another payload")
            best[record["e"]] = max(best.get(record["e"], 0), record["c"])
        for task in held:
            if db.execute("SELECT count(*) FROM nxm_results WHERE task_id = ?", (task,)).fetchone()[0]:
                found["half_written_present"] += 1
                found["problems"].append(f"{task} of an uncommitted transaction is present")
        completed_now = dict(db.execute("SELECT execution_id, completed FROM nxm_executions"))
        for execution, completed in best.items():
            if completed_now.get(execution, -1) < completed:
                found["backwards"] += 1
                found["problems"].append(f"{execution}: completed {completed_now.get(execution)} "
                                         f"< acknowledged {completed}")
        if last_completed is not None:
            for execution, completed in last_completed.items():
                if completed_now.get(execution, -1) < completed:
                    found["backwards"] += 1
                    found["problems"].append(f"{execution}: completed went back from {completed}")
            last_completed.update(completed_now)
        found["inconsistent"] = db.execute(
            "SELECT count(*) FROM nxm_executions AS e WHERE e.completed > e.total OR e.recorded <> "
            "(SELECT count(*) FROM nxm_results AS r WHERE r.execution_id = e.execution_id)").fetchone()[0]
        found["inconsistent"] += db.execute(
            "SELECT count(*) FROM nxm_results AS r WHERE NOT EXISTS "
            "(SELECT 1 FROM nxm_executions AS e WHERE e.execution_id = r.execution_id)").fetchone()[0]
        for execution, completed, total in db.execute(
                "SELECT execution_id, completed, total FROM nxm_executions WHERE completed < total"):
            document = db.execute("SELECT nxm_recover(?)", (execution,)).fetchone()[0]
            rows = [r[0] for r in db.execute(
                "SELECT result FROM nxm_results WHERE execution_id = ? ORDER BY seq", (execution,))]
            if document is None:
                found["recover_mismatch"] += 1
                continue
            recovered = json.loads(document)
            if recovered["completed"] != completed or \
                    [json.dumps(r, separators=(",", ":")) for r in recovered["results"]] != \
                    [json.dumps(json.loads(r), separators=(",", ":")) for r in rows]:
                found["recover_mismatch"] += 1
                found["problems"].append(f"nxm_recover({execution}) disagrees with its rows")
    except sqlite3.DatabaseError as error:
        found["corrupt"] = 1
        found["problems"].append(f"reading the database failed: {error}")
    finally:
        db.close()
    return found


def damage(found):
    """The number of things wrong in a check_database() result."""
    return sum(v for k, v in found.items() if k != "problems")
