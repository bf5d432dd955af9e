"""Shared fixtures: where the built extension is, and connections that load it.

The suite must run under an interpreter whose sqlite3 module can load extensions (Debian's
/usr/bin/python3 can; a pyenv or conda build often cannot). That is checked once, up front, with a
message that says what to do.
"""
import json
import os
import sqlite3
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSION = os.path.join(ROOT, "build", "nxm")
SQL_DIR = os.path.join(ROOT, "sql")


def pytest_configure(config):
    probe = sqlite3.connect(":memory:")
    if not hasattr(probe, "enable_load_extension"):
        pytest.exit(
            f"{sys.executable} has a sqlite3 module built without extension loading; "
            "run the tests with /usr/bin/python3 (make test does)",
            returncode=2,
        )
    probe.close()
    if not os.path.exists(EXTENSION + ".so"):
        pytest.exit(f"{EXTENSION}.so is missing: run make first", returncode=2)


def connect(path, *, load=True, timeout=30.0, uri=False):
    """A connection in autocommit mode (isolation_level=None) with a busy timeout, nxm loaded."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, uri=uri,
                           check_same_thread=False)
    if load:
        conn.enable_load_extension(True)
        conn.load_extension(EXTENSION)
        conn.enable_load_extension(False)
    return conn


def driver_figures(done, name):
    """The figures a fault driver printed: its last line of JSON."""
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{name} printed no figures (exit {done.returncode}):\n{done.stderr}"
    return json.loads(lines[-1])


def value(conn, sql, *params):
    return conn.execute(sql, params).fetchone()[0]


def dump(path):
    """Every row of every table, as plain SQL text: what 'unchanged' is compared against."""
    conn = sqlite3.connect(path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def shell(*args, input=None, cwd=None):
    """Runs the stock sqlite3 shell (in `cwd`); returns (returncode, stdout, stderr)."""
    done = subprocess.run(["sqlite3", *args], input=input, capture_output=True, text=True,
                          timeout=120, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "nxm.db")


@pytest.fixture
def db(db_path):
    conn = connect(db_path)
    yield conn
    conn.close()
