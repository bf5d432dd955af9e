"""python_sqlite3.py: the nxm round trip through Python's standard sqlite3 module.

Usage: /usr/bin/python3 tests/clients/python_sqlite3.py EXTENSION DATABASE
  EXTENSION  the shared object without its suffix, e.g. build/nxm
  DATABASE   a database file to create

Prints one "key<TAB>value" line per observation; tests/test_clients.py compares them with what every
client must see. NULL prints as NULL. The Python must be able to load extensions (Debian's can; many
pyenv and python.org builds cannot, see the README).
"""

import sqlite3
import sys

RESULTS = [
    ("t1", '{"n":1,"answer":"Café"}', 4),
    ("t2", '{"n":2,"answer":"品牌 A"}', 4),
    ("t3", '{"n":3,"answer":null}', None),
    ("t2", '{"n":22,"answer":"Ωmega"}', None),  # same task again: replaces, not counted twice
]
BRAND, MODEL = "Café Nordlys", "gpt-4o-mini"


def show(key, value):
    print(f"{key}\t{'NULL' if value is None else value}")


def one(conn, sql, *params):
    return conn.execute(sql, params).fetchone()[0]


def main(extension, database):
    # isolation_level=None: autocommit, so each append commits on its own, as nxm expects.
    conn = sqlite3.connect(database, timeout=10, isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(extension)
    conn.enable_load_extension(False)

    show("sqlite", sqlite3.sqlite_version)
    show("version", one(conn, "SELECT nxm_version()"))
    append = "SELECT nxm_wal_append(?, ?, NULL, ?, ?, ?, ?)"
    for task_id, result, total in RESULTS:
        show("append", one(conn, append, "exec-1", result, total, BRAND, MODEL, task_id))
    show("journal_mode", one(conn, "PRAGMA journal_mode"))
    show("recover", one(conn, "SELECT nxm_recover(?)", "exec-1"))

    row = conn.execute("SELECT state, completed, total, percent, pending, brand, model "
                       "FROM nxm_progress WHERE execution_id = ?", ("exec-1",)).fetchone()
    for name, value in zip(("state", "completed", "total", "percent", "pending", "brand", "model"), row):
        show("progress." + name, value)

    try:
        conn.execute(append, ("exec-1", '{"n":', None, BRAND, MODEL, "t4"))
    except sqlite3.Error as error:
        show("error", error)
        show("error_code", error.sqlite_errorname)

    show("append", one(conn, append, "exec-1", '{"n":4,"answer":[1,2]}', None, BRAND, MODEL, "t4"))
    show("final.state", one(conn, "SELECT state FROM nxm_progress WHERE execution_id = 'exec-1'"))
    show("final.recover", one(conn, "SELECT nxm_recover('exec-1')"))

    show("append", one(conn, "SELECT nxm_wal_append('exec-2', '{\"n\":1}', 1, 2)"))
    conn.execute("UPDATE nxm_executions SET updated_at = updated_at - 7200 WHERE execution_id = 'exec-1'")
    show("cleanup", one(conn, "SELECT nxm_cleanup(1)"))
    show("remaining", one(conn, "SELECT group_concat(execution_id) FROM nxm_progress"))
    show("results_left", one(conn, "SELECT count(*) FROM nxm_results"))
    show("cleanup", one(conn, "SELECT nxm_cleanup()"))
    conn.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
