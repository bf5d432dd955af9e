#!/usr/bin/python3
"""A writer process for the concurrency and kill tests: appends results with nxm_wal_append and prints
"ack <task_id> <completed>" after each call has returned, so the parent knows what was acknowledged.

usage: writer_process.py DB EXECUTION_ID PREFIX COUNT THREADS [--start-at UNIX_TIME] [--total N]
                         [--immediate-batch K]
Each thread uses its own connection with a busy timeout, in autocommit mode. With --immediate-batch K,
the appends go K at a time inside the caller's BEGIN IMMEDIATE ... COMMIT, and are acknowledged after
the COMMIT returns. Errors are printed as "error <message>" and make the exit status 1.
"""
import argparse
import os
import sqlite3
import sys
import threading
import time

EXTENSION = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "nxm")
print_lock = threading.Lock()
failures = []


def say(line):
    with print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def connect(path):
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.enable_load_extension(True)
    conn.load_extension(EXTENSION)
    return conn


def work(args, thread):
    conn = connect(args.db)
    batch = []
    try:
        for i in range(args.count):
            task = f"{args.prefix}-{thread}-{i}"
            if args.immediate_batch and not batch:
                conn.execute("BEGIN IMMEDIATE")
            completed = conn.execute(
                "SELECT nxm_wal_append(?, ?, NULL, ?, 'brand', 'model', ?)",
                (args.execution_id, f'{{"task":"{task}","n":{i}}}', args.total, task)).fetchone()[0]
            if args.immediate_batch:
                batch.append((task, completed))
                if len(batch) == args.immediate_batch or i == args.count - 1:
                    conn.execute("COMMIT")
                    for done, count in batch:
                        say(f"ack {done} {count}")
                    batch = []
            else:
                say(f"ack {task} {completed}")
    except sqlite3.Error as error:
        failures.append(str(error))
        say(f"error {error}")
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("execution_id")
    parser.add_argument("prefix")
    parser.add_argument("count", type=int)
    parser.add_argument("threads", type=int)
    parser.add_argument("--start-at", type=float, default=0)
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--immediate-batch", type=int, default=0)
    args = parser.parse_args()
    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))
    threads = [threading.Thread(target=work, args=(args, t)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
