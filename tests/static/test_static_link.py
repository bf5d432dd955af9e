"""test_static_link.py: nxm compiled into a program, and its minimum-SQLite check seen from outside.

  * build/static_roundtrip: ext/*.c built with -DSQLITE_CORE into tests/static/static_roundtrip.c,
    linked with the system SQLite, registered by sqlite3_auto_extension; runs its round trip.
  * build/static_roundtrip_pretend_X.Y.Z: the same program reporting SQLite X.Y.Z; below the minimum
    the connection must not open, with nxm's message; at the minimum everything works.
  * build/pretend_sqlite_X.Y.Z.so in LD_PRELOAD: the shell's `.load build/nxm` must fail the same way.
Run with: make static-test   (or /usr/bin/python3 -m pytest tests/static after `make`)
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
VERSION_H = (ROOT / "ext" / "version.h").read_text()
VERSION = re.search(r'#define NXM_VERSION "([^"]+)"', VERSION_H).group(1)
MIN_SQLITE = re.search(r'#define NXM_MIN_SQLITE_VERSION "([^"]+)"', VERSION_H).group(1)
BELOW_MIN = "3.37.2"  # the last release before 3.38.0
REFUSAL = f"nxm {VERSION} needs SQLite {MIN_SQLITE} or newer; this process runs SQLite {BELOW_MIN}"
ROUND_TRIP_CHECKS = 15  # the expect() calls in static_roundtrip.c


def build(target):
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), f"build/{target}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return BUILD / target


def run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=60, **kwargs)


def test_linked_in_program_runs_the_round_trip(tmp_path):
    done = run([str(build("static_roundtrip")), str(tmp_path / "static.db")])
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert not [line for line in lines if line.startswith("FAIL")]
    assert lines[0].startswith("ok   running SQLite 3.")
    assert sum(line.startswith("ok   SELECT") or line.startswith("ok   UPDATE")
               or line.startswith("ok   PRAGMA") for line in lines) == ROUND_TRIP_CHECKS
    assert lines[-1] == "all checks passed"


def test_linked_in_program_refuses_to_open_under_an_older_sqlite(tmp_path):
    done = run([str(build(f"static_roundtrip_pretend_{BELOW_MIN}")), str(tmp_path / "old.db")])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == (f"ok   open under SQLite {BELOW_MIN}: automatic extension loading failed: "
                           f"{REFUSAL}\nall checks passed\n")


def test_linked_in_program_works_at_exactly_the_minimum(tmp_path):
    done = run([str(build(f"static_roundtrip_pretend_{MIN_SQLITE}")), str(tmp_path / "min.db")])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == f"ok   running SQLite {MIN_SQLITE}"
    assert done.stdout.endswith("all checks passed\n")


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell is not installed")
def test_shared_object_refuses_to_load_under_an_older_sqlite():
    preload = build(f"pretend_sqlite_{BELOW_MIN}.so")
    done = run(["sqlite3", ":memory:", f".load {BUILD / 'nxm'}", "SELECT nxm_version()"],
               env={"LD_PRELOAD": str(preload), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"Error: error during initialization: {REFUSAL}\n"


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell is not installed")
def test_shared_object_loads_at_exactly_the_minimum():
    preload = build(f"pretend_sqlite_{MIN_SQLITE}.so")
    done = run(["sqlite3", ":memory:", f".load {BUILD / 'nxm'}", "SELECT sqlite_version(), nxm_version()"],
               env={"LD_PRELOAD": str(preload), "PATH": "/usr/bin:/bin"})
    assert done.stderr == ""
    assert done.stdout == f"{MIN_SQLITE}|{VERSION}\n"
