"""bench_original.py: item 3 of the benchmark, nxm against the original whole-list pickle rewrite.

Both sides run in this Python process, as the backend would: the same result dicts (2 KB of JSON
each) go to PickleLog.append (pickle_original.py) and to SELECT nxm_wal_append(...) through Python's
sqlite3 (json.dumps first, autocommit, synchronous=FULL: durable even against power loss; a second
nxm side with synchronous=NORMAL is given for context). The sides alternate append by append, so a
burst of load on this shared machine hits all of them.

Figures: total seconds for the whole execution, and bytes handed to write(2) (pickle: the file sizes;
nxm: wchar of /proc/self/io around its calls, WAL frames and checkpoints included).

At 10,000 results the pickle side would rewrite about 100 GB, so it is sampled: the list grows on every
append but the file is written only at the middle append of every stride of 100, and those writes,
timed, stand for their stride (the cost of a rewrite grows linearly inside a stride, so the middle one
is its average). The nxm sides run every append.
"""

import json
import os
import sqlite3
import time

from pickle_original import PickleLog

RESULT_BYTES = 2048
STRIDE = 100


def bytes_written():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def make_result(i):
    """A dict whose JSON text is exactly RESULT_BYTES bytes, distinct per i, like an AI answer."""
    base = {"task": f"t{i:08d}", "brand": f"Brand {i % 7}", "model": "model-1", "answer": ""}
    filler = ("The brand is well known in its home market; customers mention price, service and "
              "reliability first. Competitors answer with lower prices. ")
    room = RESULT_BYTES - len(json.dumps(base))
    base["answer"] = (filler * (room // len(filler) + 1))[i % 40:i % 40 + room]
    return base


class NxmSide:
    def __init__(self, path, extension, synchronous, execution_id, total):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.conn.enable_load_extension(True)
        self.conn.load_extension(extension)
        self.conn.execute(f"PRAGMA synchronous = {synchronous}")
        self.execution_id, self.total = execution_id, total
        self.seconds = 0.0
        self.bytes_written = 0

    def append(self, result):
        before = bytes_written()
        start = time.perf_counter()
        text = json.dumps(result)
        self.conn.execute("SELECT nxm_wal_append(?, ?, NULL, ?, ?, ?)",
                          (self.execution_id, text, self.total, result["brand"], result["model"]))
        self.seconds += time.perf_counter() - start
        self.bytes_written += bytes_written() - before

    def close(self):
        self.conn.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.unlink(self.path + suffix)


def run_once(directory, extension, count, sampled):
    """One execution of `count` results on every side; returns {side: (seconds, bytes)}."""
    results = [make_result(i) for i in range(count)]
    pickle_log = PickleLog(directory, f"bench-{count}", count)
    full = NxmSide(os.path.join(directory, "original_full.db"), extension, "FULL", f"bench-{count}", count)
    normal = NxmSide(os.path.join(directory, "original_normal.db"), extension, "NORMAL",
                     f"bench-{count}", count)
    pickle_seconds = 0.0
    for i, result in enumerate(results):
        write = not sampled or i % STRIDE == STRIDE // 2
        order = (i % 3)
        for side in range(3):
            which = (order + side) % 3
            if which == 0:
                start = time.perf_counter()
                pickle_log.append(result, result["brand"], result["model"], write=write)
                if write:
                    pickle_seconds += time.perf_counter() - start
            elif which == 1:
                full.append(result)
            else:
                normal.append(result)
    scale = STRIDE if sampled else 1
    figures = {
        "pickle": (pickle_seconds * scale, pickle_log.bytes_written * scale),
        "nxm FULL": (full.seconds, full.bytes_written),
        "nxm NORMAL": (normal.seconds, normal.bytes_written),
    }
    pickle_log.remove()
    full.close()
    normal.close()
    return figures


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def seconds_text(seconds):
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def bytes_text(count):
    return f"{count / 1e9:.2f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def run(directory, extension, quick=False):
    """Returns (rows, notes) in the format of the C programs (see bench_util.h)."""
    cases = [(100, 5, False), (1000, 3, False), (10000, 1, True)]
    if quick:
        cases = [(100, 1, False), (1000, 1, False), (10000, 1, True)]
    rows, speedups = [], {}
    for count, reps, sampled in cases:
        runs = [run_once(directory, extension, count, sampled) for _ in range(reps)]
        pickle_s = median([r["pickle"][0] for r in runs])
        pickle_bytes = runs[0]["pickle"][1]
        for side in ("nxm FULL", "nxm NORMAL"):
            seconds = median([r[side][0] for r in runs])
            speedup = median([r["pickle"][0] / r[side][0] for r in runs])
            speedups[(side, count)] = speedup
            if count == 1000:
                target, verdict = ">= 10x faster", "ok" if speedup >= 10 else "MISSED"
            elif count == 10000:
                target = "lead grows past 1,000"
                verdict = "ok" if speedup > speedups.get((side, 1000), float("inf")) else "MISSED"
            else:
                target, verdict = "(reference)", "-"
            label = (f"{count:,} results of 2 KB, sync={side.split()[1]}"
                     + (" (pickle sampled)" if sampled else ""))
            detail = (f"written: nxm {bytes_text(runs[0][side][1])}, pickle {bytes_text(pickle_bytes)}"
                      + ("; durable against power loss" if side == "nxm FULL"
                         else "; durable against a crash of the process, not of the machine"))
            rows.append(["3", label, seconds_text(seconds), f"pickle {seconds_text(pickle_s)}",
                         f"{speedup:.1f}", target, verdict, detail])
    notes = [["3", "ratio = pickle time / nxm time (a speedup: higher is better); both sides in one "
                   "Python process through the same result dicts, alternating append by append; "
                   f"median of {cases[0][1]}/{cases[1][1]}/{cases[2][1]} run(s) at 100/1,000/10,000; "
                   "at 10,000 the pickle rewrite is sampled every 100th append (see bench_original.py)"]]
    return rows, notes
