#!/usr/bin/python3
"""run_bench.py: runs every nxm benchmark and prints one table (what `make bench` runs).

    /usr/bin/python3 scripts/bench/run_bench.py [--quick] [--bin build/bench] [--extension build/nxm.so]
                                                 [--dir /var/tmp]

Each C program (built by `make bench` into build/bench/) prints ROW and NOTE lines (see bench_util.h);
item 3 runs here, in Python (bench_original.py). The databases go to a fresh directory under --dir,
which must be on the disk under test: durable figures mean nothing on tmpfs.

The machine these figures come from is shared and noisy, so every figure is taken side by side with its
baseline in the same run, interleaved chunk by chunk, and only the ratios are meant to be compared.
"""

import argparse
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import bench_original  # noqa: E402

PROGRAMS = [
    ("bench_append", "1, 2"),
    ("bench_durable", "4"),
    ("bench_recover", "5"),
    ("bench_maintenance", "6, 7"),
    ("bench_concurrency", "8"),
]
COLUMNS = ["#", "measurement", "nxm", "baseline", "ratio", "target", "verdict", "what bounds it / detail"]


def filesystem_of(path):
    """(mount point, device, type) of the file system holding path, from /proc/mounts."""
    path = os.path.realpath(path)
    best = ("/", "?", "?")
    with open("/proc/mounts") as f:
        for line in f:
            device, mount, kind = line.split()[:3]
            if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best[0]):
                best = (mount, device, kind)
    return best


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def run_program(path, args):
    """Runs one benchmark program; returns its ROW and NOTE lines as lists of fields."""
    done = subprocess.run([path] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"run_bench: {os.path.basename(path)} failed with status {done.returncode}")
    rows, notes = [], []
    for line in done.stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == "ROW":
            rows.append(fields[1:])
        elif fields[0] == "NOTE":
            notes.append(fields[1:])
    return rows, notes


def print_table(rows):
    cells = [COLUMNS] + [row + [""] * (len(COLUMNS) - len(row)) for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    def line(r):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        print(line(r))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the work: a smoke run")
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bench"))
    parser.add_argument("--extension", default=os.path.join(ROOT, "build", "nxm.so"))
    parser.add_argument("--dir", default="/var/tmp", help="parent of the work directory (a real disk)")
    options = parser.parse_args()

    mount, device, kind = filesystem_of(options.dir)
    if kind in ("tmpfs", "ramfs"):
        raise SystemExit(f"run_bench: {options.dir} is on {kind}; give --dir on a real disk")
    work = tempfile.mkdtemp(prefix="nxm-bench-", dir=options.dir)
    extension = os.path.abspath(options.extension)
    started = time.monotonic()
    load_before = load_average()

    print(f"nxm benchmark ({'quick smoke run' if options.quick else 'full run'}), "
          f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}, "
          f"SQLite {sqlite3.sqlite_version} (system library), extension {extension}")
    print(f"databases in {work}: {kind} on {device} (mounted at {mount})")
    print(f"load average at start: {load_before}. This machine is shared: other jobs (test suites, "
          f"fuzzers) run at the same time, so absolute figures drift; each figure is measured side by "
          f"side with its baseline in the same run, interleaved chunk by chunk, and the ratio is what "
          f"counts.")
    print(flush=True)

    rows, notes = [], []
    quick = ["quick"] if options.quick else []
    try:
        for name, items in PROGRAMS:
            begin = time.monotonic()
            sys.stderr.write(f"run_bench: items {items} ({name}) ...\n")
            r, n = run_program(os.path.join(options.bin, name), [work, extension] + quick)
            rows += r
            notes += n
            sys.stderr.write(f"run_bench: items {items} took {time.monotonic() - begin:.0f} s\n")
            if name == "bench_append":
                begin = time.monotonic()
                sys.stderr.write("run_bench: item 3 (bench_original.py) ...\n")
                r, n = bench_original.run(work, os.path.splitext(extension)[0], options.quick)
                rows += r
                notes += n
                sys.stderr.write(f"run_bench: item 3 took {time.monotonic() - begin:.0f} s\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    order = {str(i): i for i in range(1, 9)}
    rows.sort(key=lambda r: order.get(r[0], 99))
    print_table(rows)
    print()
    print("ratio: nxm / baseline for times (lower is better); baseline / nxm for item 3 (a speedup) "
          "and nxm / baseline for rates in items 4 and 8 (higher is better).")
    for item, text in sorted(notes, key=lambda n: order.get(n[0], 99)):
        print(f"item {item}: {text}")
    missed = [r for r in rows if r[6] == "MISSED"]
    print()
    print(f"{len(rows)} rows, {sum(r[6] == 'ok' for r in rows)} targets met, {len(missed)} missed"
          + (": " + "; ".join(f"{r[0]} {r[1]}" for r in missed) if missed else "") + ".")
    print(f"run time {time.monotonic() - started:.0f} s; load average {load_before} at start, "
          f"{load_average()} at the end.")
    if options.quick:
        print("quick smoke run: one repetition of a tenth of the work, so the verdicts above are noise; "
              "`make bench` gives the figures that count.")


if __name__ == "__main__":
    main()
