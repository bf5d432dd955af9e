"""test_clients.py: nxm seen from every client that loads it, and from its install and release archive.

Each client in tests/clients/ loads build/nxm.so through its own API and runs the same round trip
(append, recover, nxm_progress, cleanup, one refused append); it prints "key<TAB>value" lines and every
client must print the same values, listed once below in EXPECTED:
  sqlite3 shell     tests/clients/shell_roundtrip.sql         Debian: sqlite3
  Python sqlite3    tests/clients/python_sqlite3.py           Debian: python3 (/usr/bin/python3)
  APSW              tests/clients/python_apsw.py              Debian: python3-apsw
  better-sqlite3    tests/clients/node/roundtrip.js           npm: better-sqlite3@^12 on Node 20
  Tcl               tests/clients/tcl_roundtrip.tcl           Debian: tcl, libsqlite3-tcl
A client whose runtime is absent is skipped with the reason; with NXM_REQUIRE_CLIENTS=1 (set by
`make clients-test`, which CI runs) a missing client fails instead.

Also: `make dist` output unpacks, verifies and loads in a clean folder; `make install DESTDIR=...` lays
the files where the README says, and `make uninstall` takes them away.
Run with: make clients-test   (or /usr/bin/python3 -m pytest tests/test_clients.py after `make`)
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIENTS_DIR = ROOT / "tests" / "clients"
NODE_DIR = CLIENTS_DIR / "node"
EXT = ROOT / "build" / "nxm"
PY = "/usr/bin/python3"
VERSION_H = (ROOT / "ext" / "version.h").read_text()
VERSION = re.search(r'#define NXM_VERSION "([^"]+)"', VERSION_H).group(1)
MIN_SQLITE = re.search(r'#define NXM_MIN_SQLITE_VERSION "([^"]+)"', VERSION_H).group(1)
SQL_FILES = sorted(path.name for path in (ROOT / "sql").glob("*.sql"))

BRAND, MODEL = "Café Nordlys", "gpt-4o-mini"
RECOVERED = {
    "execution_id": "exec-1",
    "results": [{"n": 1, "answer": "Café"}, {"n": 22, "answer": "Ωmega"}, {"n": 3, "answer": None}],
    "completed": 3,
    "total": 4,
    "brand": BRAND,
    "model": MODEL,
}
REFUSED = "nxm_wal_append: result is not valid JSON (error at byte 5 of 5)"
EXPECTED = [
    ("version", VERSION),
    ("append", 1), ("append", 2), ("append", 3),
    ("append", 3),  # t2 again: its result replaced, not counted twice
    ("journal_mode", "wal"),
    ("recover", RECOVERED),
    ("progress.state", "running"), ("progress.completed", 3), ("progress.total", 4),
    ("progress.percent", 75.0), ("progress.pending", None),
    ("progress.brand", BRAND), ("progress.model", MODEL),
    ("error", REFUSED), ("error_code", "SQLITE_MISMATCH"),
    ("append", 4), ("final.state", "complete"), ("final.recover", None),
    ("append", 1),  # exec-2
    ("cleanup", 1), ("remaining", "exec-2"), ("results_left", 1),
    ("cleanup", 0),
]
RESULT_CODES = {20: "SQLITE_MISMATCH"}  # clients that report the number (Tcl's errorcode)


def version_tuple(text):
    return tuple(int(part) for part in text.split("."))


def require(available, reason):
    """Skips when a client's runtime is absent, or fails when CI said every client must be there."""
    if available:
        return
    if os.environ.get("NXM_REQUIRE_CLIENTS") == "1":
        pytest.fail(f"{reason} (NXM_REQUIRE_CLIENTS=1: every client must be installed)", pytrace=False)
    pytest.skip(reason)


def runs(command, **kwargs):
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60, **kwargs).returncode == 0
    except OSError:
        return False


def have_shell():
    require(shutil.which("sqlite3"), "the sqlite3 shell is not installed (Debian: sqlite3)")


def have_python_sqlite3():
    require(os.access(PY, os.X_OK), f"{PY} is missing (Debian: python3)")
    require(runs([PY, "-c", "import sqlite3, sys; "
                            "sys.exit(not hasattr(sqlite3.Connection, 'enable_load_extension'))"]),
            f"{PY}'s sqlite3 module was built without extension loading")


def have_apsw():
    require(os.access(PY, os.X_OK) and runs([PY, "-c", "import apsw"]),
            "APSW is not installed (Debian: python3-apsw)")


def have_node():
    require(shutil.which("node"), "Node is not installed (Node 20, e.g. Debian/NodeSource: nodejs)")
    require((NODE_DIR / "node_modules" / "better-sqlite3" / "package.json").is_file(),
            "better-sqlite3 is not installed: run `make clients-deps`")


def have_tcl():
    require(shutil.which("tclsh"), "Tcl is not installed (Debian: tcl)")
    require(runs(["tclsh"], input="package require sqlite3\n"),
            "Tcl cannot `package require sqlite3` (Debian: libsqlite3-tcl)")


# name: (check, command given the database path). Every command receives EXT without its suffix.
CLIENTS = {
    "sqlite3-shell": (have_shell, lambda db: ["sqlite3", "-cmd", f".load {EXT}", str(db)]),
    "python-sqlite3": (have_python_sqlite3,
                       lambda db: [PY, str(CLIENTS_DIR / "python_sqlite3.py"), str(EXT), str(db)]),
    "apsw": (have_apsw, lambda db: [PY, str(CLIENTS_DIR / "python_apsw.py"), str(EXT), str(db)]),
    "better-sqlite3": (have_node,
                       lambda db: ["node", str(NODE_DIR / "roundtrip.js"), str(EXT), str(db)]),
    "tcl": (have_tcl, lambda db: ["tclsh", str(CLIENTS_DIR / "tcl_roundtrip.tcl"), str(EXT), str(db)]),
}


@pytest.fixture(scope="session", autouse=True)
def extension_built():
    if not Path(str(EXT) + ".so").is_file():
        pytest.fail(f"{EXT}.so is missing: run `make` in {ROOT} before these tests", pytrace=False)


def parse_value(key, text):
    if text == "NULL":
        return None
    if key in ("recover", "final.recover"):
        return json.loads(text)
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return RESULT_CODES.get(value, value) if key == "error_code" else value
    return text


def check_recovered(recovered, started, finished):
    """The two time fields vary; check they are the time of the latest append, then drop them."""
    recovered = dict(recovered)
    timestamp = recovered.pop("timestamp")
    last_updated = recovered.pop("last_updated")
    assert started - 1 <= timestamp <= finished + 1
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    assert last_updated == moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return recovered


def run_client(name, tmp_path):
    check, command = CLIENTS[name]
    check()
    database = tmp_path / f"{name}.db"
    script = (CLIENTS_DIR / "shell_roundtrip.sql").read_text() if name == "sqlite3-shell" else None
    started = time.time()
    done = subprocess.run(command(database), input=script, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    finished = time.time()
    observed = []
    for line in done.stdout.splitlines():
        key, _, text = line.partition("\t")
        value = parse_value(key, text)
        if key == "recover" and isinstance(value, dict):
            value = check_recovered(value, started, finished)
        observed.append((key, value))
    return done, observed


@pytest.mark.parametrize("name", list(CLIENTS))
def test_client_round_trip_sees_the_same_values(name, tmp_path):
    done, observed = run_client(name, tmp_path)
    expected = list(EXPECTED)
    if name == "sqlite3-shell":
        # The shell cannot catch an error: it reports it on stderr, carries on, and exits 1.
        expected = [item for item in expected if item[0] not in ("error", "error_code")]
        assert done.returncode == 1, done.stderr
        assert re.fullmatch(r"Runtime error near line \d+: " + re.escape(REFUSED) + r" \(20\)\n",
                            done.stderr), done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
    if name == "apsw":
        # APSW puts the exception's class name in front of SQLite's message.
        expected = [("error", "MismatchError: " + REFUSED) if key == "error" else (key, value)
                    for key, value in expected]

    assert observed[0][0] == "sqlite"
    assert version_tuple(observed[0][1]) >= version_tuple(MIN_SQLITE)
    assert observed[1:] == expected


def test_better_sqlite3_counts_bind_as_numbers_or_bigints_but_not_fractions(tmp_path):
    """better-sqlite3 binds every JavaScript number as a REAL: 4 arrives as 4.0, 4n as the integer 4."""
    have_node()
    script = ("const Database = require('better-sqlite3');"
              "const db = new Database(process.argv[1]); db.loadExtension(process.argv[2]);"
              "const append = db.prepare('SELECT nxm_wal_append(?, ?, ?, ?)').pluck();"
              "console.log(append.get('e', '{}', null, 4), append.get('e', '{}', 2n, 4n));"
              "try { append.get('e', '{}', null, 4.5); } catch (error) {"
              " console.log(error.code + ': ' + error.message); }")
    done = subprocess.run(["node", "-e", script, str(tmp_path / "n.db"), str(EXT)], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=60)
    assert done.stderr == ""
    assert done.stdout == ("1 2\nSQLITE_MISMATCH: nxm_wal_append: total must be a non-negative whole number, "
                           "not a real with a fraction\n")


def test_shell_records_a_plan_and_lists_what_is_pending(tmp_path):
    """The operator's view of a plan: nxm_wal_begin, one result, then nxm_pending and the progress row."""
    have_shell()
    script = """
.mode tabs
SELECT nxm_wal_begin('p1', '["a","b","c"]');
SELECT nxm_wal_append('p1', '{"n":2}', NULL, NULL, NULL, NULL, 'b');
SELECT group_concat(task_id) FROM nxm_pending('p1');
SELECT state, completed, total, pending FROM nxm_progress WHERE execution_id = 'p1';
SELECT json_extract(nxm_recover('p1'), '$.pending');
"""
    done = subprocess.run(["sqlite3", "-bail", "-cmd", f".load {EXT}", str(tmp_path / "p.db")],
                          input=script, capture_output=True, text=True, timeout=60)
    assert done.stderr == ""
    assert done.stdout == '3\n1\na,c\nrunning\t1\t3\t2\n["a","c"]\n'


WRITER = """
import json, sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
conn.enable_load_extension(True)
conn.load_extension(sys.argv[2])
tasks = [f"Acme|gpt-4o-mini|q{i}" for i in range(int(sys.argv[3]))]
conn.execute("SELECT nxm_wal_begin('live', ?)", (json.dumps(tasks),)).fetchone()
print("planned", flush=True)
for task in tasks:
    conn.execute("SELECT nxm_wal_append('live', ?, NULL, NULL, 'Acme', 'gpt-4o-mini', ?)",
                 (json.dumps({"task": task}), task)).fetchone()
    time.sleep(0.002)  # pace it, so the shells look in while it runs
"""

# The README's "inspect a live database" queries, with and without the extension.
INSPECT_WITH_NXM = """.timeout 5000
.mode tabs
SELECT state, completed, total, pending FROM nxm_progress WHERE execution_id = 'live';
SELECT count(*) FROM nxm_pending('live');
"""
INSPECT_PLAIN = """.timeout 5000
.mode tabs
SELECT e.completed, e.total, json_array_length((SELECT json_group_array(json(r.result))
         FROM nxm_results AS r WHERE r.execution_id = e.execution_id))
  FROM nxm_executions AS e WHERE e.execution_id = 'live';
"""


def test_shell_inspects_a_live_database_while_a_writer_appends(tmp_path):
    """Read-only shells, with nxm and with plain SQL, see consistent snapshots and never stall the writer."""
    have_shell()
    have_python_sqlite3()
    database, tasks = tmp_path / "live.db", 400
    writer = subprocess.Popen([PY, "-c", WRITER, str(database), str(EXT), str(tasks)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "planned\n"
        seen = []
        while writer.poll() is None and len(seen) < 200:
            with_nxm = subprocess.run(["sqlite3", "-readonly", "-cmd", f".load {EXT}", str(database)],
                                      input=INSPECT_WITH_NXM, capture_output=True, text=True, timeout=60)
            plain = subprocess.run(["sqlite3", "-readonly", str(database)], input=INSPECT_PLAIN,
                                   capture_output=True, text=True, timeout=60)
            assert (with_nxm.returncode, with_nxm.stderr, plain.returncode, plain.stderr) == (0, "", 0, "")
            state, completed, total, pending, still_pending = with_nxm.stdout.split()
            assert state in ("running", "complete") and total == str(tasks)
            assert int(completed) + int(pending) == tasks
            assert int(still_pending) <= int(pending)  # the next statement, a later snapshot
            plain_completed, plain_total, results = plain.stdout.split()
            assert plain_total == str(tasks) and plain_completed == results  # one snapshot per statement
            seen.append(int(completed))
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert seen == sorted(seen)  # progress only moves forward
    assert any(0 < completed < tasks for completed in seen)  # and was seen mid-run
    final = subprocess.run(["sqlite3", "-readonly", "-cmd", f".load {EXT}", str(database)],
                           input=INSPECT_WITH_NXM, capture_output=True, text=True, timeout=60)
    assert final.stdout == f"complete\t{tasks}\t{tasks}\t0\n0\n"


# ---- install and release ---------------------------------------------------------------------------

def make(*arguments):
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *arguments],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def platform():
    return f"{os.uname().sysname.lower()}-{os.uname().machine}"


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_and_append(shared_object, cwd):
    """Loads `shared_object` (no suffix) in a fresh /usr/bin/python3 run in `cwd`; returns its answers."""
    program = ("import sqlite3, sys\n"
               "conn = sqlite3.connect('clean.db', isolation_level=None)\n"
               "conn.enable_load_extension(True)\n"
               "conn.load_extension(sys.argv[1])\n"
               "print(conn.execute('SELECT nxm_version()').fetchone()[0])\n"
               "print(conn.execute(\"SELECT nxm_wal_append('d', '[1]', NULL, 2)\").fetchone()[0])\n"
               "print(conn.execute(\"SELECT json_extract(nxm_recover('d'), '$.results')\").fetchone()[0])\n")
    done = subprocess.run([PY, "-c", program, str(shared_object)], cwd=cwd, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def schema_of(database):
    done = subprocess.run(["sqlite3", str(database),
                           "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_dist_archive_unpacks_verifies_and_loads_in_a_clean_folder(tmp_path):
    have_python_sqlite3()
    have_shell()
    out = tmp_path / "out"
    make("dist", f"DIST_DIR={out}")
    name = f"nxm-{VERSION}-{platform()}"
    archive = out / f"{name}.tar.gz"

    # The checksum beside the archive is sha256sum's format and matches.
    assert (out / f"{name}.tar.gz.sha256").read_text() == f"{sha256(archive)}  {name}.tar.gz\n"

    # Exactly the shared object, sql/, the README (and LICENSE when there is one), with checksums.
    shipped = {"nxm.so", "README.md"} | {f"sql/{file}" for file in SQL_FILES} | (
        {"LICENSE"} if (ROOT / "LICENSE").exists() else set())
    with tarfile.open(archive) as tar:
        members = sorted(member.name for member in tar.getmembers())
        assert members == sorted({name, f"{name}/sql", f"{name}/SHA256SUMS"}
                                 | {f"{name}/{file}" for file in shipped})
        assert {member.mtime for member in tar.getmembers()} == {0}
        assert {(member.uid, member.gid) for member in tar.getmembers()} == {(0, 0)}
        clean = tmp_path / "clean"
        clean.mkdir()
        tar.extractall(clean)
    unpacked = clean / name
    sums = {}
    for line in (unpacked / "SHA256SUMS").read_text().splitlines():
        digest, _, file = line.partition("  ")
        sums[file] = digest
    assert set(sums) == shipped
    assert sums == {file: sha256(unpacked / file) for file in sums}
    for file in SQL_FILES:
        assert (unpacked / "sql" / file).read_bytes() == (ROOT / "sql" / file).read_bytes()

    # Loads from the clean folder, reports the version of ext/version.h, and works.
    assert load_and_append(unpacked / "nxm", clean) == [VERSION, "1", "[[1]]"]

    # The shipped schema, run by a stock shell, builds the same tables the extension builds.
    by_hand = clean / "by_hand.db"
    subprocess.run(["sqlite3", str(by_hand)], input=(unpacked / "sql" / "schema.sql").read_text(),
                   check=True, capture_output=True, text=True, timeout=60)
    assert schema_of(by_hand) == schema_of(clean / "clean.db")

    # Needs nothing beyond the C library and cJSON (Debian: libcjson1).
    dynamic = subprocess.run(["readelf", "-d", str(unpacked / "nxm.so")], capture_output=True, text=True,
                             check=True).stdout
    assert sorted(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)) == [
        "libc.so.6", "libcjson.so.1"]

    # The same inputs give the same archive, byte for byte.
    again = tmp_path / "again"
    make("dist", f"DIST_DIR={again}")
    assert sha256(again / f"{name}.tar.gz") == sha256(archive)


INSTALLED = {  # path under PREFIX: mode
    "lib/sqlite3/nxm.so": 0o755,
    "share/doc/nxm/README.md": 0o644,
    **{f"share/nxm/{file}": 0o644 for file in SQL_FILES},
}


def files_under(root):
    return {path.relative_to(root).as_posix(): path.stat().st_mode & 0o777
            for path in root.rglob("*") if path.is_file()}


def test_install_lays_files_where_the_readme_says_and_uninstall_removes_them(tmp_path):
    have_python_sqlite3()
    stage = tmp_path / "stage"
    make("install", f"DESTDIR={stage}")
    assert files_under(stage) == {f"usr/local/{path}": mode for path, mode in INSTALLED.items()}
    assert "/usr/local/lib/sqlite3/nxm" in (ROOT / "README.md").read_text()
    assert load_and_append(stage / "usr/local/lib/sqlite3/nxm", tmp_path) == [VERSION, "1", "[[1]]"]

    make("uninstall", f"DESTDIR={stage}")
    assert files_under(stage) == {}
    for leaf in ("lib/sqlite3", "share/nxm", "share/doc/nxm"):
        assert not (stage / "usr/local" / leaf).exists()


def test_install_honours_prefix_and_libdir(tmp_path):
    stage = tmp_path / "stage"
    make("install", f"DESTDIR={stage}", "PREFIX=/opt/nxm", "LIBDIR=/opt/nxm/lib64")
    assert files_under(stage) == {
        "opt/nxm/" + (path.replace("lib/sqlite3/", "lib64/")): mode for path, mode in INSTALLED.items()}
    assert (stage / "opt/nxm/lib64/nxm.so").read_bytes() == (ROOT / "build" / "nxm.so").read_bytes()
