#!/usr/bin/python3
"""load.py - several processes x threads appending as fast as they can, with a reader, a cleaner, a
checkpointer and, for a while, a reader holding one long transaction.

  load.py --dir DIR --seconds S [--processes P] [--threads T] [--long-reader-seconds L]
          [--checkpoint truncate|passive] [--journal-size-limit BYTES]
  load.py --worker ...   (internal: one appending process)

Appenders: P processes x T threads, one connection each (busy_timeout 10 s, autocommit), appending to a
shared execution and to their own with task ids; every exception counts as an error that surfaced.
In this process: a reader polls nxm_progress every 20 ms and checks that no execution's completed ever
drops; a cleaner calls nxm_cleanup() every 0.5 s after ageing one throw-away execution, so each sweep
deletes something; a checkpointer runs PRAGMA wal_checkpoint(TRUNCATE) every 0.5 s with a busy_timeout of
only 100 ms (so it never holds the write lock long while it waits for readers) and samples the -wal size
every 20 ms. From S/3 on, one more connection holds BEGIN + a read for L seconds: no checkpoint can reset
the -wal past its snapshot, so the -wal grows while it lasts (reported apart, as is the largest -wal seen
without it, leaving 2 s after it for a checkpoint to truncate), and must shrink to nothing at the end.
At the end every acknowledged append is looked up. One JSON line of figures; exit status 1 on any error,
loss or drop of completed, or when the -wal is not back to 0 bytes after the last checkpoint. An append
that waited out its whole busy_timeout ("database is locked", SQLITE_BUSY) is counted as busy_timeouts,
not as an error: SQLite's write lock is not a queue, so under saturation one writer can lose every retry.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def worker(args):
    """One appending process: T threads until the deadline, then the acknowledged tasks as JSON."""
    deadline = time.time() + args.seconds
    acked, errors, lock = [], [], threading.Lock()

    def appender(thread):
        try:
            db = common.connect(args.db, timeout=10.0)
        except Exception as error:
            with lock:
                errors.append(repr(error))
            return
        n = 0
        while time.time() < deadline:
            execution = "shared" if n % 2 else f"own-{args.process}-{thread}"
            task = f"p{args.process}-t{thread}-n{n}"
            try:
                db.execute("SELECT nxm_wal_append(?, ?, NULL, ?, NULL, NULL, ?)",
                           (execution, f'{{"n":{n}}}', common.TOTAL, task)).fetchone()
                with lock:
                    acked.append((execution, task))
            except Exception as error:
                with lock:
                    errors.append(f"{time.time():.3f} {error!r}")
            n += 1
        db.close()

    threads = [threading.Thread(target=appender, args=(t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump({"acked": acked, "errors": errors}, sys.stdout)


class Watchers:
    """The reader, cleaner, checkpointer and long reader, as threads of the driver."""

    def __init__(self, path, seconds, long_reader_seconds, checkpoint="truncate", size_limit=None):
        self.path, self.seconds, self.long_reader_seconds = path, seconds, long_reader_seconds
        self.checkpoint, self.size_limit = checkpoint.upper(), size_limit
        self.events = {}
        self.stop = threading.Event()
        self.long_reader_active = threading.Event()
        self.figures = {"progress_polls": 0, "progress_backwards": 0, "cleanups": 0, "cleaned": 0,
                        "checkpoints": 0, "checkpoints_busy": 0, "wal_max_bytes": 0,
                        "wal_max_bytes_during_long_reader": 0, "wal_max_bytes_without_long_reader": 0,
                        "watcher_errors": 0}
        self.long_reader_done = threading.Event()
        self.errors = []
        self.settled = float("inf")

    def guarded(self, body):
        def run():
            try:
                body()
            except Exception as error:
                self.figures["watcher_errors"] += 1
                self.errors.append(f"{body.__name__}: {error!r}")
        return threading.Thread(target=run)

    def reader(self):
        db = common.connect(self.path)
        seen = {}
        while not self.stop.is_set():
            for execution, completed in db.execute("SELECT execution_id, completed FROM nxm_progress"):
                if completed < seen.get(execution, 0):
                    self.figures["progress_backwards"] += 1
                seen[execution] = completed
            self.figures["progress_polls"] += 1
            time.sleep(0.02)

    def cleaner(self):
        db = common.connect(self.path)
        n = 0
        while not self.stop.is_set():
            execution = f"throwaway-{n}"
            db.execute("SELECT nxm_wal_append(?, '{}', NULL, 1)", (execution,)).fetchone()
            db.execute("UPDATE nxm_executions SET updated_at = updated_at - 2 * 86400 "
                       "WHERE execution_id = ?", (execution,))
            self.figures["cleaned"] += db.execute("SELECT nxm_cleanup()").fetchone()[0]
            self.figures["cleanups"] += 1
            n += 1
            self.stop.wait(0.5)

    def checkpointer(self):
        db = common.connect(self.path, timeout=0.1)
        if self.size_limit is not None:
            db.execute(f"PRAGMA journal_size_limit = {int(self.size_limit)}")
        wal = Path(str(self.path) + "-wal")
        next_checkpoint = 0.0
        while not self.stop.is_set():
            size = wal.stat().st_size if wal.exists() else 0
            self.figures["wal_max_bytes"] = max(self.figures["wal_max_bytes"], size)
            if self.long_reader_active.is_set():
                self.figures["wal_max_bytes_during_long_reader"] = max(
                    self.figures["wal_max_bytes_during_long_reader"], size)
            elif not self.long_reader_done.is_set() or time.monotonic() > self.settled:
                self.figures["wal_max_bytes_without_long_reader"] = max(
                    self.figures["wal_max_bytes_without_long_reader"], size)
            if time.monotonic() >= next_checkpoint:
                busy = db.execute(f"PRAGMA wal_checkpoint({self.checkpoint})").fetchone()[0]
                self.figures["checkpoints"] += 1
                self.figures["checkpoints_busy"] += busy
                next_checkpoint = time.monotonic() + 0.5
            time.sleep(0.02)

    def long_reader(self):
        db = common.connect(self.path)
        if self.stop.wait(self.seconds / 3):
            return
        db.execute("BEGIN")
        db.execute("SELECT count(*) FROM nxm_results").fetchone()
        self.events["long_reader_start"] = time.time()
        self.long_reader_active.set()
        self.stop.wait(self.long_reader_seconds)
        db.execute("COMMIT")
        self.events["long_reader_end"] = time.time()
        self.settled = time.monotonic() + 2.0  # time for a checkpoint to reset the grown -wal
        self.long_reader_done.set()
        self.long_reader_active.clear()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir")
    parser.add_argument("--db")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--long-reader-seconds", type=float, default=5.0)
    parser.add_argument("--checkpoint", choices=["truncate", "passive"], default="truncate")
    parser.add_argument("--journal-size-limit", type=int)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--process", type=int, default=0)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "load.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    common.connect(path).execute("SELECT nxm_wal_append('shared', '{}', NULL, ?, NULL, NULL, 'seed')",
                                 (common.TOTAL,)).fetchone()
    watchers = Watchers(path, args.seconds, args.long_reader_seconds, args.checkpoint,
                        args.journal_size_limit)
    threads = [watchers.guarded(body) for body in
               (watchers.reader, watchers.cleaner, watchers.checkpointer, watchers.long_reader)]
    for t in threads:
        t.start()
    started, started_wall = time.monotonic(), time.time()
    processes = [subprocess.Popen([sys.executable, __file__, "--worker", "--db", str(path), "--seconds",
                                   str(args.seconds), "--threads", str(args.threads), "--process", str(p)],
                                  stdout=subprocess.PIPE, text=True)
                 for p in range(args.processes)]
    reports = [json.loads(p.communicate()[0] or '{"acked": [], "errors": ["no report"]}') for p in processes]
    elapsed = time.monotonic() - started
    watchers.stop.set()
    for t in threads:
        t.join()

    db = common.connect(path)
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    wal = Path(str(path) + "-wal")
    acked = [tuple(a) for r in reports for a in r["acked"]]
    present = set(db.execute("SELECT execution_id, task_id FROM nxm_results"))
    errors = [e for r in reports for e in r["errors"]] + watchers.errors
    # SQLite's write lock has no queue: a writer can lose every retry to the others for its whole
    # busy_timeout and get SQLITE_BUSY. That error is clear and loses nothing; it is counted apart.
    busy = [e for e in errors if e.endswith("database is locked')")]
    errors = [e for e in errors if e not in busy]
    figures = {"driver": "load", "processes": args.processes, "threads": args.threads,
               "seconds": round(elapsed, 1), "appends": len(acked),
               "appends_per_second": round(len(acked) / elapsed), "errors": len(errors),
               "busy_timeouts": len(busy),
               "lost": sum(1 for a in acked if a not in present),
               "integrity": db.execute("PRAGMA integrity_check").fetchone()[0],
               "long_reader_seconds": args.long_reader_seconds, **watchers.figures,
               "wal_bytes_after_final_checkpoint": wal.stat().st_size if wal.exists() else 0,
               "final_checkpoint_busy": busy, "checkpoint": args.checkpoint,
               **{k: round(v - started_wall, 1) for k, v in watchers.events.items()}}
    for error in (errors + busy)[:5]:
        stamp, _, text = error.partition(" ")
        try:
            print(f"load: at {float(stamp) - started_wall:.1f} s: {text}", file=sys.stderr)
        except ValueError:
            print(f"load: {error}", file=sys.stderr)
    print(json.dumps(figures))
    bad = (figures["errors"] or figures["lost"] or figures["integrity"] != "ok" or
           figures["progress_backwards"] or figures["wal_bytes_after_final_checkpoint"] or
           figures["cleaned"] < figures["cleanups"] - 1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
