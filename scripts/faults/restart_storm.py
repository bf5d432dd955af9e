#!/usr/bin/python3
"""restart_storm.py - every writer killed mid-transaction, then a dozen processes reopening at once.

  restart_storm.py --dir DIR --rounds N [--writers W] [--openers K] [--seed S]

Each round, on one database kept across rounds: W writers (writer.py, mode storm) make a few acknowledged
appends, then one of them holds a large uncommitted transaction whose pages have spilled into the -wal
while the others wait for the write lock. As soon as a transaction is held, every writer is SIGKILLed;
the -shm is left behind as it was, so the next opener must run WAL recovery. Then K opener processes
(opener.py) are released at the same moment: each must open the database, read, append and acknowledge
within its busy_timeout. Finally common.check_database() holds the database to every acknowledged append
(all rounds) and requires every task of the held transactions to be absent.
One JSON line of figures goes to stdout; exit status 1 on any damage or failed opener.
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

HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"
COUNTED = ("lost", "duplicated", "wrong_payload", "backwards", "inconsistent", "recover_mismatch",
           "corrupt", "half_written_present")


def kill_writers_mid_transaction(directory, path, round_number, writers, seed, errors_log):
    logs = [directory / f"storm-{round_number}-{w}.log" for w in range(writers)]
    processes = [subprocess.Popen([PYTHON, str(HERE / "writer.py"), "--db", str(path), "--ack", str(log),
                                   "--id", str(w), "--round", str(round_number), "--seed", str(seed),
                                   "--mode", "storm"], stderr=errors_log)
                 for w, log in enumerate(logs)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(common.read_log(log)[1] for log in logs) or all(p.poll() is not None for p in processes):
            break
        time.sleep(0.005)
    wal_bytes = Path(str(path) + "-wal").stat().st_size if Path(str(path) + "-wal").exists() else 0
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
    killed = errors = 0
    for process in processes:
        process.wait()
        killed += process.returncode == -signal.SIGKILL
        errors += process.returncode != -signal.SIGKILL
    acked, held = common.collect_logs(logs)
    return killed, errors, acked, held, wal_bytes


def release_openers(directory, path, round_number, openers, errors_log):
    logs = [directory / f"opener-{round_number}-{i}.log" for i in range(openers)]
    processes = [subprocess.Popen([PYTHON, str(HERE / "opener.py"), "--db", str(path), "--ack", str(log),
                                   "--id", str(i), "--round", str(round_number)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors_log, text=True)
                 for i, log in enumerate(logs)]
    time.sleep(0.3)  # let every interpreter start and block on stdin
    for process in processes:
        process.stdin.write("g")
        process.stdin.flush()
    started, slowest = 0, 0
    for process in processes:
        out, _ = process.communicate(timeout=120)
        if process.returncode == 0 and out.startswith("ok "):
            started += 1
            slowest = max(slowest, int(out.split()[1]))
    return started, slowest, common.collect_logs(logs)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--openers", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "storm.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    random.seed(args.seed)
    figures = {"driver": "restart_storm", "rounds": 0, "writers_killed": 0, "held_transactions": 0,
               "held_appends": 0, "openers": 0, "openers_started": 0, "slowest_opener_ms": 0,
               "max_wal_bytes_at_kill": 0, "writer_errors": 0, "acked": 0, **{key: 0 for key in COUNTED}}
    all_acked, last_completed, problems = [], {}, []
    started = time.monotonic()
    with open(directory / "storm-errors.log", "a") as errors_log:
        for round_number in range(args.rounds):
            killed, errors, acked, held, wal_bytes = kill_writers_mid_transaction(
                directory, path, round_number, args.writers, args.seed, errors_log)
            opened, slowest, opener_acked = release_openers(directory, path, round_number, args.openers,
                                                            errors_log)
            all_acked.extend(acked + opener_acked)
            found = common.check_database(path, all_acked, held, last_completed)
            figures["rounds"] += 1
            figures["writers_killed"] += killed
            figures["writer_errors"] += errors
            figures["held_transactions"] += 1 if held else 0
            figures["held_appends"] += len(held)
            figures["openers"] += args.openers
            figures["openers_started"] += opened
            figures["slowest_opener_ms"] = max(figures["slowest_opener_ms"], slowest)
            figures["max_wal_bytes_at_kill"] = max(figures["max_wal_bytes_at_kill"], wal_bytes)
            figures["acked"] += len(acked) + len(opener_acked)
            for key in COUNTED:
                figures[key] += found[key]
            problems.extend(found["problems"][:3])
    figures["seconds"] = round(time.monotonic() - started, 1)
    for problem in problems[:10]:
        print(f"restart_storm: {problem}", file=sys.stderr)
    print(json.dumps(figures))
    bad = (any(figures[key] for key in COUNTED) or figures["writer_errors"]
           or figures["openers_started"] != figures["openers"] or figures["held_transactions"] != args.rounds)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
