#!/usr/bin/python3
"""kill_loop.py - writers SIGKILLed at random moments, and the database checked after every round.

  kill_loop.py --dir DIR --kills N [--writers W] [--seed S] [--epoch R] [--ack-too-early]

Each round starts W writer processes (writer.py, mode mixed: shared and own executions, single appends
and BEGIN IMMEDIATE transactions), waits until each has acknowledged something, then SIGKILLs each one at
its own random moment within the next 250 ms. After every round, common.check_database() holds the
database to every append acknowledged since the start of the epoch: integrity_check ok, each present
exactly once with its payload, completed never below an acknowledged count nor below the previous
round's, nxm_recover equal to the rows. A new database is started every R rounds (default 50) so that a
check stays bounded. One JSON line of figures goes to stdout; exit status 1 on any damage or error.
--ack-too-early is the self-check: writers acknowledge transactions before COMMIT, so some
acknowledged appends must be found lost (exit status 1 when none is).
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

WRITER = str(Path(__file__).resolve().parent / "writer.py")
PYTHON = "/usr/bin/python3"
COUNTED = ("lost", "duplicated", "wrong_payload", "backwards", "inconsistent", "recover_mismatch",
           "corrupt")


def fresh_database(directory, epoch):
    path = directory / f"kill-{epoch}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def run_round(directory, path, round_number, writers, seed, rng, errors_log, too_early):
    logs, processes = [], []
    for writer in range(writers):
        log = directory / f"ack-{round_number}-{writer}.log"
        log.unlink(missing_ok=True)
        logs.append(log)
        processes.append(subprocess.Popen(
            [PYTHON, WRITER, "--db", str(path), "--ack", str(log), "--id", str(writer),
             "--round", str(round_number), "--seed", str(seed)] + (["--ack-too-early"] if too_early else []),
            stderr=errors_log))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(
            (log.exists() and log.stat().st_size > 0) or p.poll() is not None
            for log, p in zip(logs, processes)):
        time.sleep(0.005)
    start = time.monotonic()
    for when, process in sorted(((rng.uniform(0, 0.25), p) for p in processes), key=lambda x: x[0]):
        time.sleep(max(0.0, start + when - time.monotonic()))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
    kills = errors = 0
    for process in processes:
        process.wait()
        if process.returncode == -signal.SIGKILL:
            kills += 1
        else:
            errors += 1
    return kills, errors, common.collect_logs(logs)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--kills", type=int, required=True)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epoch", type=int, default=50)
    parser.add_argument("--ack-too-early", action="store_true")
    args = parser.parse_args()
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    figures = {"driver": "kill_loop", "kills": 0, "rounds": 0, "acked": 0, "writer_errors": 0,
               **{key: 0 for key in COUNTED}}
    started = time.monotonic()
    path, epoch_acked, last_completed, problems = None, [], {}, []
    with open(directory / "writer-errors.log", "a") as errors_log:
        while figures["kills"] < args.kills:
            if figures["rounds"] % args.epoch == 0:
                path = fresh_database(directory, figures["rounds"] // args.epoch)
                epoch_acked, last_completed = [], {}
            kills, errors, acked = run_round(directory, path, figures["rounds"], args.writers,
                                             args.seed, rng, errors_log, args.ack_too_early)
            figures["rounds"] += 1
            figures["kills"] += kills
            figures["writer_errors"] += errors
            figures["acked"] += len(acked)
            epoch_acked.extend(acked)
            found = common.check_database(path, epoch_acked, (), last_completed)
            for key in COUNTED:
                figures[key] += found[key]
            problems.extend(found["problems"][:3])
    figures["seconds"] = round(time.monotonic() - started, 1)
    if args.ack_too_early:
        print(json.dumps({**figures, "driver": "kill_loop_self_check"}))
        return 0 if figures["lost"] > 0 and not figures["writer_errors"] else 1
    for problem in problems[:10]:
        print(f"kill_loop: {problem}", file=sys.stderr)
    if figures["writer_errors"]:
        print(f"kill_loop: writer errors, see {directory / 'writer-errors.log'}", file=sys.stderr)
    print(json.dumps(figures))
    return 1 if figures["writer_errors"] or any(figures[key] for key in COUNTED) else 0


if __name__ == "__main__":
    sys.exit(main())
