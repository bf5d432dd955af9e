#!/usr/bin/python3
"""opener.py - one process of a restart storm: waits for the go signal on stdin, then opens the database
(waiting out WAL recovery behind busy_timeout), reads nxm_recover and nxm_progress, appends one result and
logs it as acknowledged.

  opener.py --db PATH --ack PATH --id N --round R

Prints "ok <milliseconds from go to the acknowledged append>"; exit status 1 with the error on stderr.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--ack", required=True)
    parser.add_argument("--id", type=int, required=True)
    parser.add_argument("--round", type=int, required=True)
    args = parser.parse_args()
    fd = os.open(args.ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdin.read(1)  # the go signal: every opener starts at the same moment
    started = time.monotonic()
    try:
        db = common.connect(args.db, timeout=30.0)
        db.execute("SELECT nxm_recover('shared-a')").fetchone()
        db.execute("SELECT count(*) FROM nxm_progress").fetchone()
        task = f"opener-{args.id}-r{args.round}"
        result = f'{{"opener":{args.id}}}'
        completed = db.execute("SELECT nxm_wal_append('storm-openers', ?, NULL, ?, NULL, NULL, ?)",
                               (result, common.TOTAL, task)).fetchone()[0]
        common.acknowledge(fd, [{"e": "storm-openers", "t": task, "p": result, "c": completed}])
        db.close()
    except Exception as error:
        print(f"opener {args.id}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"ok {1000 * (time.monotonic() - started):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
