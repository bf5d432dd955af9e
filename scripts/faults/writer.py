#!/usr/bin/python3
"""writer.py - one writer process for the kill loop and the restart storm: appends until it is killed,
logging every acknowledged append (see common.py).

  writer.py --db PATH --ack PATH --id N --round R [--seed S] [--mode mixed|storm] [--max N]
            [--ack-too-early]

mixed: single appends and BEGIN IMMEDIATE transactions of 2-5 appends, to the shared executions
shared-a / shared-b and to the writer's own execution own-N; acknowledged after the statement, or after
COMMIT, returned.
storm: a few acknowledged appends, then one large transaction (cache_size tiny, so its pages spill into
the -wal before COMMIT) that is logged as holding and left uncommitted while the process sleeps, waiting
for its SIGKILL.
--ack-too-early logs each append of a transaction before its COMMIT: the self-check that the kill loop
sees a loss when acknowledgements run ahead of durability.
Exit status 0 after --max appends; 1 with the error on stderr if any statement fails.
"""

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def payload(writer, round_number, n, rng):
    return json.dumps({"w": writer, "r": round_number, "n": n, "pad": "x" * rng.randrange(0, 600)},
                      separators=(",", ":"))


def append(db, execution, task, result):
    return db.execute("SELECT nxm_wal_append(?, ?, NULL, ?, 'brand', 'model', ?)",
                      (execution, result, common.TOTAL, task)).fetchone()[0]


def run_mixed(db, args, fd, rng):
    n = 0
    while args.max == 0 or n < args.max:
        in_transaction = rng.random() < 0.3
        count = rng.randrange(2, 6) if in_transaction else 1
        records = []
        if in_transaction:
            db.execute("BEGIN IMMEDIATE")
        for _ in range(count):
            execution = rng.choice(["shared-a", "shared-b", f"own-{args.id}"])
            task = f"w{args.id}-r{args.round}-n{n}"
            result = payload(args.id, args.round, n, rng)
            completed = append(db, execution, task, result)
            records.append({"e": execution, "t": task, "p": result, "c": completed})
            n += 1
        if in_transaction and args.ack_too_early:
            common.acknowledge(fd, records)
            records = []
            time.sleep(0.05)  # a window for the kill to land in
        if in_transaction:
            db.execute("COMMIT")
        if records:
            common.acknowledge(fd, records)


def run_storm(db, args, fd, rng):
    n = 0
    for _ in range(rng.randrange(1, 5)):
        execution = rng.choice(["shared-a", f"own-{args.id}"])
        task = f"w{args.id}-r{args.round}-n{n}"
        result = payload(args.id, args.round, n, rng)
        completed = append(db, execution, task, result)
        common.acknowledge(fd, [{"e": execution, "t": task, "p": result, "c": completed}])
        n += 1
    db.execute("PRAGMA cache_size = 8")
    db.execute("BEGIN IMMEDIATE")
    held = []
    for _ in range(60):
        task = f"w{args.id}-r{args.round}-n{n}-held"
        append(db, rng.choice(["shared-a", f"own-{args.id}"]), task,
               json.dumps({"held": n, "pad": "h" * 3000}))
        held.append(task)
        n += 1
    common.acknowledge(fd, [{"holding": held}])
    time.sleep(60)  # the driver kills us here, mid-transaction
    db.execute("COMMIT")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--ack", required=True)
    parser.add_argument("--id", type=int, required=True)
    parser.add_argument("--round", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=["mixed", "storm"], default="mixed")
    parser.add_argument("--max", type=int, default=0)
    parser.add_argument("--ack-too-early", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed * 1000 + args.id)
    fd = os.open(args.ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        db = common.connect(args.db, timeout=30.0)
        (run_storm if args.mode == "storm" else run_mixed)(db, args, fd, rng)
    except Exception as error:  # every failure is reported: the driver counts errors that surface
        print(f"writer {args.id}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
