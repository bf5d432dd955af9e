#!/usr/bin/python3
"""clock_steps.py - what a system clock stepped back, running fast, or stepped forward does to nxm.

  clock_steps.py --dir DIR

Every step is a fresh process run under Debian's faketime at an offset from the real clock ("-3h",
"+25h"), which is how a host whose clock was stepped looks to the next process that opens the database.
The TTL is the default 24 hours. Checks, each an assertion with its figures in the JSON line:
  back:    after a step back of 3 hours, appends to a live execution neither lose rows nor move its
           updated_at back; nxm_cleanup() and a new execution's sweep delete nothing live; an execution
           deleted before the step stays deleted (no rows, nxm_recover NULL).
  future:  an execution appended with the clock 5 hours fast is kept by cleanups at the real time and
           at +28 h, and deleted by the cleanup at +30 h: it expires once time has caught up.
  forward: a step forward of 25 hours, past the TTL, expires a running execution: nxm_recover returns
           NULL, nxm_progress says 'expired', the next new execution's sweep deletes it, and when the
           clock is set right again it is still gone. This is the documented behaviour, not a defect.
Exit status 1 when a check fails.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PYTHON = "/usr/bin/python3"
STEPS = {"count": 0}  # processes run at a faked time


def run_sql(db_path, statements):
    """Internal mode: runs each statement, returns the first column of its first row (or None)."""
    db = common.connect(db_path)
    answers = []
    for sql in statements:
        row = db.execute(sql).fetchone()
        answers.append(row[0] if row else None)
    db.close()
    return answers


def at(offset, db_path, *statements):
    """Runs the statements in a new process whose clock is `offset` from the real one (faketime)."""
    command = [PYTHON, __file__, "--run-sql", str(db_path), *statements]
    if offset:
        command = ["faketime", "-f", offset] + command
        STEPS["count"] += 1
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def fresh(directory, name):
    path = directory / name
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def append(execution, task, total=100):
    return f"SELECT nxm_wal_append('{execution}', '{{\"t\":\"{task}\"}}', NULL, {total}, NULL, NULL, '{task}')"


ROWS = "SELECT count(*) FROM nxm_results WHERE execution_id = '{}'"
EXISTS = "SELECT count(*) FROM nxm_executions WHERE execution_id = '{}'"
UPDATED = "SELECT updated_at FROM nxm_executions WHERE execution_id = '{}'"
STATE = "SELECT state FROM nxm_progress WHERE execution_id = '{}'"
RECOVER_NULL = "SELECT nxm_recover('{}') IS NULL"


def check_back(directory, checks):
    db = fresh(directory, "back.db")
    at("-30h", db, append("stale", "s1"))
    at(None, db, append("live", "l1"), append("live", "l2"))  # a new execution: its sweep deletes stale
    removed, = at(None, db, EXISTS.format("stale"))
    before, = at(None, db, UPDATED.format("live"))
    answers = at("-3h", db, append("live", "l3"), UPDATED.format("live"), "SELECT nxm_cleanup()",
                 append("new-after-step", "n1"), ROWS.format("live"), EXISTS.format("stale"),
                 ROWS.format("stale"), RECOVER_NULL.format("stale"), RECOVER_NULL.format("live"))
    completed, updated, cleaned, _, live_rows, stale_exists, stale_rows, stale_null, live_null = answers
    checks["back_stale_deleted_before_step"] = removed == 0
    checks["back_append_counts"] = completed == 3 and live_rows == 3
    checks["back_updated_at_not_moved_back"] = updated == before
    checks["back_cleanup_deletes_nothing_live"] = cleaned == 0 and at(None, db, EXISTS.format("live"))[0] == 1
    checks["back_deleted_stays_deleted"] = stale_exists == 0 and stale_rows == 0 and stale_null == 1
    checks["back_live_recoverable"] = live_null == 0
    return {"step_back_hours": 3, "cleaned_after_step_back": cleaned, "live_rows": live_rows}


def check_future(directory, checks):
    db = fresh(directory, "future.db")
    at("+5h", db, append("future", "f1"))
    now_cleaned, now_state = at(None, db, "SELECT nxm_cleanup()", STATE.format("future"))
    kept_at_28, = at("+28h", db, "SELECT nxm_cleanup()")
    exists_at_28, = at("+28h", db, EXISTS.format("future"))
    gone_at_30, exists_at_30 = at("+30h", db, "SELECT nxm_cleanup()", EXISTS.format("future"))
    checks["future_kept_at_real_time"] = now_cleaned == 0 and now_state == "running"
    checks["future_kept_until_ttl_after_its_time"] = kept_at_28 == 0 and exists_at_28 == 1
    checks["future_expires_once_time_catches_up"] = gone_at_30 == 1 and exists_at_30 == 0
    return {"future_offset_hours": 5, "expired_at_offset_hours": 30}


def check_forward(directory, checks):
    db = fresh(directory, "forward.db")
    at(None, db, append("running", "r1"), append("running", "r2"))
    recover_null, state = at("+25h", db, RECOVER_NULL.format("running"), STATE.format("running"))
    at("+25h", db, append("next-execution", "x1"))  # its sweep runs at the stepped time
    rows_after, exists_after, recover_after = at(None, db, ROWS.format("running"), EXISTS.format("running"),
                                                 RECOVER_NULL.format("running"))
    checks["forward_running_execution_reads_expired"] = recover_null == 1 and state == "expired"
    checks["forward_sweep_deletes_it"] = exists_after == 0 and rows_after == 0
    checks["forward_stays_deleted_when_clock_is_set_right"] = recover_after == 1
    return {"step_forward_hours": 25, "running_execution_deleted": exists_after == 0}


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--run-sql":
        print(json.dumps(run_sql(sys.argv[2], sys.argv[3:])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    checks = {}
    figures = {"driver": "clock_steps"}
    for check in (check_back, check_future, check_forward):
        figures.update(check(directory, checks))
    failed = [name for name, ok in checks.items() if not ok]
    figures.update({"steps": STEPS["count"], "checks": len(checks), "failed": failed})
    print(json.dumps(figures))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
