"""forked_case.py - runs one SQL statement against a database file in a forked child and reports what happened.

Used by the hostile-input tests (test_bad_input.py, test_untrusted_db.py, test_deployment_traps.py). Running each
case in its own process means a crash in the extension fails that one case with the signal's name instead of
killing the whole pytest run, and every case starts from a fresh connection.

A case is: optional setup statements (run and committed first, on their own connection), then the statement
under test on a new connection. The child records the statement's rows or error (class, SQLite error name,
message), whether a transaction was left open, and the database before and after the statement both as a
full dump (iterdump, every table and schema object) and as the SHA-256 of the file after a clean close.
"""

import hashlib
import json
import os
import signal
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXT = str(ROOT / "build" / "nxm")


def connect(path, uri=False, isolation_level=None, load=True):
    conn = sqlite3.connect(path, uri=uri, isolation_level=isolation_level)
    if load:
        conn.enable_load_extension(True)
        conn.load_extension(EXT)
        conn.enable_load_extension(False)
    return conn


def dump(path):
    """Every schema object and row of the database, as SQL text; read without the extension."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def file_hash(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Outcome:
    rows: list = None
    error_type: str = None
    error_name: str = None
    message: str = None
    in_transaction: bool = False
    dump_unchanged: bool = None
    bytes_unchanged: bool = None
    crashed: str = None
    harness_error: str = None
    extra: dict = field(default_factory=dict)

    @property
    def unchanged(self):
        return self.dump_unchanged and self.bytes_unchanged


def _run_child(db, sql, params, setup, limit, uri, pragmas, probe, compare):
    if setup:
        conn = connect(db)
        for statement in setup:
            if isinstance(statement, tuple):
                conn.execute(*statement).fetchall()
            else:
                conn.executescript(statement)
        conn.close()
    before_dump, before_hash = (dump(db), file_hash(db)) if compare else (None, None)

    out = {}
    conn = connect(uri or db, uri=bool(uri))
    for pragma in pragmas:
        conn.execute(pragma).fetchall()
    if limit is not None:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limit)
    try:
        out["rows"] = [list(row) for row in conn.execute(sql, params).fetchall()]
    except sqlite3.Error as error:
        out["error_type"] = type(error).__name__
        out["error_name"] = getattr(error, "sqlite_errorname", None)
        out["message"] = str(error)
    except MemoryError:  # how Python's sqlite3 reports SQLITE_NOMEM
        out["error_type"], out["error_name"], out["message"] = "MemoryError", "SQLITE_NOMEM", "out of memory"
    out["in_transaction"] = conn.in_transaction
    if probe is not None:
        out["extra"] = probe(conn)
    conn.close()

    if compare:
        out["dump_unchanged"] = dump(db) == before_dump
        out["bytes_unchanged"] = file_hash(db) == before_hash
    return out


def in_child(work):
    """Runs work() in a forked child; returns what it returned (made JSON-able), {"harness_error": ...}
    when it raised, or {"crashed": ...} naming the signal or exit status when the child died."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            result = work()
        except BaseException as error:  # report anything, never return into pytest's loop
            result = {"harness_error": repr(error)}
        with os.fdopen(write_end, "w") as pipe:
            json.dump(result, pipe, default=repr)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"crashed": signal.Signals(os.WTERMSIG(status)).name}
    if not text:  # a sanitizer reports and exits with its own status
        return {"crashed": f"exit status {os.WEXITSTATUS(status)}"}
    return json.loads(text)


def run_case(db, sql, params=(), setup=(), limit=None, uri=None, pragmas=(), probe=None, compare=True):
    """Runs the case in a child process; returns an Outcome (crashed names the signal if the child died).
    compare=False skips the before/after dump, for files too damaged to dump."""
    return Outcome(**in_child(
        lambda: _run_child(str(db), sql, params, setup, limit, uri, pragmas, probe, compare)))
