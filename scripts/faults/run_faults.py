#!/usr/bin/python3
"""run_faults.py - runs every fault driver and prints the table `make faults` and `make faults-short` show.

  run_faults.py --size short|long [--work DIR] [--only NAME,...]

short is the CI run (a few minutes; every kind of fault is injected); long is `make faults` (>= 1000
SIGKILLs and >= 1000 simulated power losses, every k of every I/O fault and failed allocation). Each
driver prints one JSON line of figures; this script turns them into one table row per kind of fault:
faults injected, acknowledged appends lost (must be 0), corrupt databases (must be 0), errors that reached
the caller with a clear message, other damage (summary rows off, nxm_recover disagreeing, completed going
back, deleted rows back), and a verdict. Self-check rows must show losses or leaks: they prove the checks
can fail. The figures are also written to build/faults/last-run.json. Exit status 1 when a row fails.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = ROOT / "build" / "faults"
SCRIPTS = ROOT / "scripts" / "faults"
PYTHON = "/usr/bin/python3"

SIZES = {
    "short": {"seeds": 1, "normal_stride": 3, "selfcheck_stride": 5, "asan_power_stride": 7,
              "oom_stride": 13, "oom_asan_stride": 41, "kills": 40, "storms": 3, "load_seconds": 15,
              "long_reader": 3, "asan_io_call": "append"},
    "long": {"seeds": 3, "normal_stride": 1, "selfcheck_stride": 1, "asan_power_stride": 3,
             "oom_stride": 1, "oom_asan_stride": 5, "kills": 1000, "storms": 30, "load_seconds": 120,
             "long_reader": 10, "asan_io_call": "all"},
}


def steps(size, work):
    """(name, command, accepted exit statuses): the exit status is part of each driver's verdict."""
    s = SIZES[size]
    d = lambda name: str(work / name)  # noqa: E731
    return [
        ("power_full", [BIN / "power_loss", "--dir", d("pf"), "--seeds", s["seeds"], "--expect", "clean"]),
        ("power_normal", [BIN / "power_loss", "--dir", d("pn"), "--sync", "normal", "--stride",
                          s["normal_stride"], "--expect", "tail-loss"]),
        ("selfcheck_sync_off", [BIN / "power_loss", "--dir", d("po"), "--sync", "off", "--stride",
                                s["selfcheck_stride"], "--expect", "losses"]),
        ("selfcheck_sync_noop", [BIN / "power_loss", "--dir", d("pz"), "--sync", "noop", "--stride",
                                 s["selfcheck_stride"], "--expect", "losses"]),
        ("power_full_asan", [BIN / "asan" / "power_loss", "--dir", d("pa"), "--stride",
                             s["asan_power_stride"], "--expect", "clean"]),
        ("io_faults", [BIN / "io_faults", "--dir", d("io"), "--expect", "clean"]),
        ("io_faults_asan", [BIN / "asan" / "io_faults", "--dir", d("ia"), "--call", s["asan_io_call"],
                            "--expect", "clean"]),
        ("oom", [BIN / "oom", "--dir", d("om"), "--stride", s["oom_stride"], "--expect", "clean"]),
        ("oom_asan", [BIN / "asan" / "oom", "--dir", d("oa"), "--stride", s["oom_asan_stride"],
                      "--expect", "clean"]),
        ("selfcheck_leak", [BIN / "asan" / "oom", "--dir", d("ol"), "--call", "recover", "--stride", 200,
                            "--leak-on-purpose"]),
        ("kill_loop", [PYTHON, SCRIPTS / "kill_loop.py", "--dir", d("kl"), "--kills", s["kills"]]),
        ("selfcheck_kill_ack_too_early", [PYTHON, SCRIPTS / "kill_loop.py", "--dir", d("ke"), "--kills", 16,
                                          "--ack-too-early"]),
        ("restart_storm", [PYTHON, SCRIPTS / "restart_storm.py", "--dir", d("rs"), "--rounds", s["storms"]]),
        ("load", [PYTHON, SCRIPTS / "load.py", "--dir", d("ld"), "--seconds", s["load_seconds"],
                  "--long-reader-seconds", s["long_reader"]]),
        ("clock_steps", [PYTHON, SCRIPTS / "clock_steps.py", "--dir", d("cs")]),
    ]


def run(name, command, log):
    started = time.monotonic()
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    seconds = time.monotonic() - started
    figures = {}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            figures = json.loads(line)
            break
    log.write(f"== {name}: exit {done.returncode}, {seconds:.1f} s\n{done.stdout}{done.stderr}\n")
    return {"name": name, "exit": done.returncode, "seconds": round(seconds, 1), "figures": figures,
            "stderr": done.stderr}


def row(kind, injected, lost, corrupt, clear, other, ok, note=""):
    return {"kind": kind, "injected": injected, "lost": lost, "corrupt": corrupt, "clear": clear,
            "other": other, "verdict": "ok" if ok else "FAIL", "note": note}


def sanitizer_quiet(result):
    """No report from AddressSanitizer or LeakSanitizer, and the driver printed its figures."""
    return bool(result["figures"]) and "Sanitizer" not in result["stderr"]


def rows_for(result):
    """Table rows of one driver's result."""
    name, f, ok = result["name"], result["figures"], result["exit"] == 0
    if not f and name != "selfcheck_leak":
        return [row(name, "-", "-", "-", "-", "-", False, "no figures (see the log)")]
    if name.startswith("power") or name.startswith("selfcheck_sync"):
        other = f["inconsistent"] + f["recover_mismatch"] + f["unusable"] + f["child_failures"]
        lost = f["lost"] + f["resurrected"]
        label = {"power_full": "power loss, synchronous=FULL (default)",
                 "power_full_asan": "power loss, FULL, under ASan",
                 "power_normal": "power loss, synchronous=NORMAL",
                 "selfcheck_sync_off": "self-check: synchronous=OFF",
                 "selfcheck_sync_noop": "self-check: syncs made no-ops"}[name]
        note = ""
        if name == "power_normal":
            note = (f"losses only among the newest acks: max {f['max_lost_in_one_crash']} in one crash, "
                    f"{f['crashes_with_loss']} crashes lost something")
        elif name.startswith("selfcheck"):
            note = "must lose appends: proves the check sees a loss"
        return [row(label, f["power_losses"], lost, f["corrupt"], "-", other + f["backwards"], ok, note)]
    if name.startswith("io_faults"):
        rows = []
        for kind, k in f["kinds"].items():
            if k["faults"] == 0:
                continue
            label = {"full": "disk full (SQLITE_FULL on write)"}.get(kind, f"I/O error on {kind}")
            if name.endswith("asan"):
                label += ", under ASan"
            rows.append(row(label, k["faults"], k["damaged"], 0, f"{k['clear_errors']}/{k['errors']}",
                            0, k["clear_errors"] == k["errors"] and k["damaged"] == 0))
        rows.append(row("validate before lock and write", f["validation_checks"], 0, 0, "-",
                        f["validation_failures"], f["validation_failures"] == 0,
                        "refused appends take no write lock, write nothing") if not name.endswith("asan")
                    else row("(ASan: no memory error)", "-", "-", "-", "-", "-", sanitizer_quiet(result)))
        return rows
    if name in ("oom", "oom_asan"):
        suffix = ", under ASan+LSan" if name == "oom_asan" else ""
        dropped = f["message_dropped"]
        failing = f["nomem"] + f["clean_errors"] + f["unclear_errors"] + dropped
        clean = not (f["unclear_errors"] or f["verify_failures"] or f["retry_failures"] or f["leaks"])
        return [row(f"out of memory: SQLite allocator{suffix}", f["failed_allocations"]["sqlite"],
                    f["verify_failures"], 0, f"{f['nomem'] + f['clean_errors']}/{failing}",
                    f["retry_failures"] + f["leaks"], clean and sanitizer_quiet(result),
                    f"{f['leaks']} leaks, {f['runs']} calls failed; {dropped} right code, message "
                    f"dropped by SQLite's own copy; {f['stranded']} left their transaction to the "
                    "next call"),
                row(f"out of memory: cJSON allocator{suffix}", f["failed_allocations"]["cjson"], "-", "-",
                    "-", "-", f["failed_allocations"]["cjson"] > 0,
                    "cJSON locates the error in bad JSON; judged in the row above")]
    if name == "selfcheck_leak":
        caught = "LeakSanitizer" in result["stderr"] and result["exit"] != 0
        return [row("self-check: a leak on purpose", f.get("runs", "-"), "-", "-", "-", "-", caught,
                    "LeakSanitizer must report it")]
    if name == "kill_loop":
        return [row("SIGKILL of writers (kill loop)", f["kills"], f["lost"] + f["duplicated"] + f["wrong_payload"],
                    f["corrupt"], "-", f["backwards"] + f["inconsistent"] + f["recover_mismatch"] +
                    f["writer_errors"], ok, f"{f['acked']} acked appends checked, {f['rounds']} rounds")]
    if name == "selfcheck_kill_ack_too_early":
        return [row("self-check: ack before COMMIT", f["kills"], f["lost"], f["corrupt"], "-", "-", ok,
                    "must lose appends")]
    if name == "restart_storm":
        return [row("restart storm (all killed mid-txn)", f["writers_killed"], f["lost"], f["corrupt"],
                    f"{f['openers_started']}/{f['openers']} openers",
                    f["half_written_present"] + f["backwards"] + f["inconsistent"] + f["recover_mismatch"],
                    ok, f"{f['held_appends']} half-written appends gone, slowest opener "
                        f"{f['slowest_opener_ms']} ms")]
    if name == "load":
        return [row(f"load {f['processes']}x{f['threads']}, {f['seconds']:.0f} s", f"{f['appends']} appends",
                    f["lost"], int(f["integrity"] != "ok"),
                    f"{f['errors']} errors, {f['busy_timeouts']} busy",
                    f["progress_backwards"], ok,
                    f"-wal max {f['wal_max_bytes_without_long_reader'] / 1e6:.1f} MB, "
                    f"{f['wal_max_bytes_during_long_reader'] / 1e6:.1f} MB with a {f['long_reader_seconds']:.0f} s "
                    f"reader, {f['wal_bytes_after_final_checkpoint']} B after")]
    if name == "clock_steps":
        return [row("clock steps (faketime)", f["steps"], 0, 0, "-", len(f["failed"]), ok,
                    f"{f['checks'] - len(f['failed'])}/{f['checks']} checks; a step past the TTL expires")]
    return [row(name, "-", "-", "-", "-", "-", ok)]


def print_table(rows):
    headers = ("fault", "injected", "acked lost", "corrupt", "clear errors", "other", "verdict", "")
    cells = [headers] + [tuple(str(r[k]) for k in ("kind", "injected", "lost", "corrupt", "clear", "other",
                                                   "verdict", "note")) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(headers) - 1)]
    for i, c in enumerate(cells):
        print("  ".join(c[j].ljust(widths[j]) for j in range(len(widths))) + "  " + c[-1])
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), required=True)
    parser.add_argument("--work")
    parser.add_argument("--only")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="nxm-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    started = time.monotonic()
    results = []
    with open(work / "run.log", "w") as log:
        for name, command in steps(args.size, work):
            if only and name not in only:
                continue
            print(f"faults: {name} ...", flush=True)
            results.append(run(name, command, log))
    rows = [r for result in results for r in rows_for(result)]
    seconds = time.monotonic() - started
    print(f"\nnxm fault harness, {args.size} run, {seconds / 60:.1f} min (log: {work / 'run.log'})\n")
    print_table(rows)
    failed = [r for r in rows if r["verdict"] != "ok"]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    (ROOT / "build" / "faults").mkdir(parents=True, exist_ok=True)
    (ROOT / "build" / "faults" / "last-run.json").write_text(json.dumps(
        {"size": args.size, "seconds": round(seconds, 1), "results": results, "rows": rows}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
