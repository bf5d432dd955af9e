"""test_minimum_sqlite.py: the minimum SQLite in ext/version.h is what the code needs, no more, no less.

No older SQLite can be built here, so the check reads the code instead:
  * C API: every sqlite3_* routine ext/*.c calls is looked up in the system's sqlite3ext.h, whose
    "Version X and later" comments say when each routine joined the extension API;
  * constants: every SQLITE_* name ext/*.c uses must be in the table below with the release that added
    it (a new one fails the test until it is added);
  * SQL: the SQL nxm runs (ext/*.c) and ships (sql/*.sql) is searched for features newer than 3.8.
The newest requirement found must equal NXM_MIN_SQLITE_VERSION. The load-time check itself is exercised
in test_static_link.py.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQLITE3EXT_H = Path("/usr/include/sqlite3ext.h")
VERSION_H = (ROOT / "ext" / "version.h").read_text()
MIN_SQLITE = re.search(r'#define NXM_MIN_SQLITE_VERSION "([^"]+)"', VERSION_H).group(1)
MIN_SQLITE_NUMBER = int(re.search(r"#define NXM_MIN_SQLITE_VERSION_NUMBER (\d+)", VERSION_H).group(1))
BEFORE_3_7_16 = (3, 7, 15)  # sqlite3ext.h routines listed before its first version comment

CONSTANTS = {  # SQLITE_* names used by ext/*.c: the release that added them
    "SQLITE_DIRECTONLY": (3, 30, 0), "SQLITE_INNOCUOUS": (3, 31, 0), "SQLITE_SUBTYPE": (3, 30, 0),
    "SQLITE_RESULT_SUBTYPE": (3, 45, 0), "SQLITE_TXN_NONE": (3, 34, 0), "SQLITE_TXN_READ": (3, 34, 0),
    "SQLITE_TXN_WRITE": (3, 34, 0), "SQLITE_PREPARE_PERSISTENT": (3, 20, 0),
    "SQLITE_FCNTL_VFS_POINTER": (3, 15, 0), "SQLITE_INDEX_SCAN_UNIQUE": (3, 9, 0),
    "SQLITE_DETERMINISTIC": (3, 8, 3), "SQLITE_CONSTRAINT_CHECK": (3, 7, 16),
    "SQLITE_CONSTRAINT_UNIQUE": (3, 7, 16), "SQLITE_VTAB_INNOCUOUS": (3, 31, 0),
    "SQLITE_VTAB_DIRECTONLY": (3, 31, 0), "SQLITE_INDEX_CONSTRAINT_LIMIT": (3, 38, 0),
    "SQLITE_INDEX_CONSTRAINT_OFFSET": (3, 38, 0), "SQLITE_INDEX_CONSTRAINT_IS": (3, 21, 0),
    "SQLITE_INDEX_CONSTRAINT_ISNULL": (3, 21, 0), "SQLITE_INDEX_CONSTRAINT_ISNOTNULL": (3, 21, 0),
    **{name: (3, 0, 0) for name in (  # as old as the extension API
        "SQLITE_OK", "SQLITE_ERROR", "SQLITE_INTERNAL", "SQLITE_BUSY", "SQLITE_NOMEM", "SQLITE_READONLY",
        "SQLITE_TOOBIG", "SQLITE_CONSTRAINT", "SQLITE_MISMATCH", "SQLITE_MISUSE", "SQLITE_ROW",
        "SQLITE_DONE", "SQLITE_INTEGER", "SQLITE_FLOAT", "SQLITE_TEXT", "SQLITE_BLOB", "SQLITE_NULL",
        "SQLITE_UTF8", "SQLITE_STATIC", "SQLITE_TRANSIENT", "SQLITE_OPEN_READWRITE",
        "SQLITE_OPEN_CREATE", "SQLITE_OPEN_READONLY", "SQLITE_INDEX_CONSTRAINT_EQ",
        "SQLITE_EXTENSION_INIT1", "SQLITE_EXTENSION_INIT2", "SQLITE_EXTENSION_INIT3", "SQLITE_CORE",
        "SQLITE_ABORT", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_CORRUPT", "SQLITE_RANGE",
        "SQLITE_LIMIT_LENGTH")},
}

SQL_FEATURES = [  # (what, pattern, release that made it available in every build)
    ("JSON functions built in", r"\bjson(_[a-z_]+)?\s*\(", (3, 38, 0)),
    ("-> and ->> operators", r"->>?", (3, 38, 0)),
    ("unixepoch()", r"\bunixepoch\s*\(", (3, 38, 0)),
    ("format()", r"\bformat\s*\(", (3, 38, 0)),
    ("STRICT tables", r"\)\s*STRICT\b", (3, 37, 0)),
    ("RETURNING", r"\bRETURNING\b", (3, 35, 0)),
    ("MATERIALIZED hints", r"\bMATERIALIZED\b", (3, 35, 0)),
    ("DROP COLUMN", r"\bDROP\s+COLUMN\b", (3, 35, 0)),
    ("sqlite_schema", r"\bsqlite_schema\b", (3, 33, 0)),
    ("iif()", r"\biif\s*\(", (3, 32, 0)),
    ("FILTER on aggregates", r"\bFILTER\s*\(\s*WHERE\b", (3, 30, 0)),
    ("NULLS FIRST/LAST", r"\bNULLS\s+(FIRST|LAST)\b", (3, 30, 0)),
    ("upsert", r"\bON\s+CONFLICT\b[^;]*?\bDO\s+(UPDATE|NOTHING)\b", (3, 24, 0)),
    ("window functions", r"\bOVER\s*\(", (3, 25, 0)),
    ("RIGHT and FULL JOIN", r"\b(RIGHT|FULL)\s+(OUTER\s+)?JOIN\b", (3, 39, 0)),
    ("IS [NOT] DISTINCT FROM", r"\bIS\s+(NOT\s+)?DISTINCT\s+FROM\b", (3, 39, 0)),
    ("unhex()", r"\bunhex\s*\(", (3, 41, 0)),
    ("json_error_position()", r"\bjson_error_position\s*\(", (3, 42, 0)),
    ("octet_length(), timediff()", r"\b(octet_length|timediff)\s*\(", (3, 43, 0)),
    ("ORDER BY inside an aggregate", r"\b(json_group_array|json_group_object|group_concat|string_agg)"
                                     r"\s*\([^()]*\bORDER\s+BY\b", (3, 44, 0)),
    ("concat(), string_agg()", r"\b(concat|concat_ws|string_agg)\s*\(", (3, 44, 0)),
    ("jsonb", r"\bjsonb", (3, 45, 0)),
]


def version_text(version):
    return ".".join(str(part) for part in version)


def without_c_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def c_sources():
    return {path.name: without_c_comments(path.read_text()) for path in sorted((ROOT / "ext").glob("*.[ch]"))}


def api_versions():
    """sqlite3_name -> the release that added it to the extension API, from sqlite3ext.h."""
    lines = SQLITE3EXT_H.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if re.match(r"#define sqlite3_\w+\s+sqlite3_api->", line))
    current, versions = BEFORE_3_7_16, {}
    for line in lines[first:]:
        marker = re.search(r"/\* Version (\d+)\.(\d+)\.(\d+) and later \*/", line)
        if marker:
            current = tuple(int(part) for part in marker.groups())
        define = re.match(r"#define (sqlite3_\w+)\s+sqlite3_api->", line)
        if define:
            versions[define.group(1)] = current
    return versions


def requirements():
    """[(release, what)] for everything nxm uses that is newer than the extension API itself."""
    found = []
    api = api_versions()
    sources = c_sources()
    code = "\n".join(sources.values())
    for name in sorted(set(re.findall(r"\b(sqlite3_[a-z0-9_]+)\s*\(", code))):
        if name in api:
            found.append((api[name], name + "()"))
    unknown = sorted(set(re.findall(r"\bSQLITE_[A-Z0-9_]+\b", code)) - set(CONSTANTS))
    assert unknown == [], f"add these to CONSTANTS with the SQLite release that added them: {unknown}"
    # A name the code only uses behind `#ifdef NAME` is optional: older headers simply lack it.
    optional = set(re.findall(r"#ifdef (SQLITE_[A-Z0-9_]+)", code))
    for name in set(re.findall(r"\bSQLITE_[A-Z0-9_]+\b", code)) - optional:
        found.append((CONSTANTS[name], name))

    sql_texts = {path.name: re.sub(r"--[^\n]*", " ", path.read_text())
                 for path in sorted((ROOT / "sql").glob("*.sql"))}
    sql_texts.update({name: " ".join(re.findall(r'"((?:[^"\\]|\\.)*)"', text))
                      for name, text in sources.items()})
    for what, pattern, release in SQL_FEATURES:
        for name, text in sql_texts.items():
            if re.search(pattern, text, flags=re.I):
                found.append((release, f"{what} ({name})"))
    return found


def test_every_routine_of_the_extension_api_is_known():
    api = api_versions()
    assert api["sqlite3_txn_state"] == (3, 34, 0)
    assert api["sqlite3_str_new"] == (3, 24, 0)  # as sqlite3ext.h files it
    assert api["sqlite3_result_subtype"] == (3, 9, 0)
    assert api["sqlite3_create_function_v2"] == BEFORE_3_7_16


def test_declared_minimum_is_exactly_what_the_code_needs():
    found = requirements()
    newest = max(release for release, _ in found)
    needs = sorted({what for release, what in found if release == newest})
    assert version_text(newest) == MIN_SQLITE, (
        f"the code needs SQLite {version_text(newest)} ({', '.join(needs)}), "
        f"ext/version.h says {MIN_SQLITE}")
    major, minor, patch = newest
    assert MIN_SQLITE_NUMBER == major * 1000000 + minor * 1000 + patch
