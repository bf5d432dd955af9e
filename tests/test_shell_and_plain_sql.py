"""The stock sqlite3 shell: loading nxm, and a database that stays usable without the extension."""
import json
import os
import re
import subprocess

from conftest import EXTENSION, ROOT, SQL_DIR, connect, shell, value


def test_the_readme_round_trip_in_the_shell(db_path):
    code, out, err = shell(db_path, f".load {EXTENSION}",
                           "select nxm_wal_append('e1','{\"a\":1}',1,2,'品牌 A','DeepSeek')",
                           "select nxm_recover('e1')")
    assert (code, err) == (0, "")
    first, second = out.splitlines()
    assert first == "1"
    doc = json.loads(second)
    assert list(doc) == ["execution_id", "results", "completed", "total", "brand", "model",
                         "timestamp", "last_updated"]
    assert (doc["results"], doc["brand"], doc["model"]) == ([{"a": 1}], "品牌 A", "DeepSeek")


def test_a_plain_shell_reads_the_rows_and_the_file_passes_integrity_check(db_path):
    shell(db_path, f".load {EXTENSION}", "select nxm_wal_append('e1','{\"a\":1}',1,2,'b','m')")
    code, out, err = shell(db_path, "PRAGMA integrity_check",
                           "SELECT execution_id, result FROM nxm_results")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["ok", 'e1|{"a":1}']


def test_plain_sql_recovery_matches_nxm_recover(db_path):
    db = connect(db_path)
    value(db, "SELECT nxm_wal_begin('e1', '[\"a\",\"b\",\"c\"]')")
    value(db, "SELECT nxm_wal_append('e1', '{\"x\":[1,2]}', NULL, NULL, 'B', 'M', 'b')")
    value(db, "SELECT nxm_wal_append('e1', '\"free text\"')")
    expected = json.loads(value(db, "SELECT nxm_recover('e1')"))
    db.close()
    code, out, err = shell(db_path, "-cmd", ".parameter set :execution_id 'e1'",
                           f".read {os.path.join(SQL_DIR, 'recover.sql')}")
    assert (code, err) == (0, "")
    plain = json.loads(out)
    for field in ["execution_id", "results", "completed", "total", "brand", "model", "pending",
                  "last_updated"]:
        assert plain[field] == expected[field], field
    assert abs(plain["timestamp"] - expected["timestamp"]) < 0.001


def test_deleting_an_execution_by_hand_deletes_its_results_and_plan(db_path):
    db = connect(db_path)
    value(db, "SELECT nxm_wal_begin('e1', '[\"a\",\"b\"]')")
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, NULL, NULL, NULL, 'a')")
    value(db, "SELECT nxm_wal_append('e2', '1', NULL, 3)")
    db.close()
    code, out, err = shell(db_path, "-cmd", ".parameter set :execution_id 'e1'",
                           f".read {os.path.join(SQL_DIR, 'delete_execution.sql')}",
                           "SELECT count(*) FROM nxm_results", "SELECT count(*) FROM nxm_tasks",
                           "SELECT group_concat(execution_id) FROM nxm_executions")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["1", "0", "e2"]


def test_plain_sql_progress_in_a_stock_shell_shows_what_nxm_progress_shows(db_path):
    db = connect(db_path)
    value(db, "SELECT nxm_wal_append('e1', '1', 1, 4, 'B', 'M')")
    value(db, "SELECT nxm_wal_begin('e2', '[\"a\",\"b\"]')")
    value(db, "SELECT nxm_wal_append('e2', '1', NULL, NULL, NULL, NULL, 'b')")
    value(db, "SELECT nxm_wal_append('old', '1', NULL, 1)")
    db.execute("UPDATE nxm_executions SET updated_at = updated_at - 90000 WHERE execution_id = 'old'")
    code, expected, err = shell("-csv", db_path, f".load {EXTENSION}", "SELECT * FROM nxm_progress")
    assert (code, err) == (0, "")
    code, out, err = shell("-csv", db_path, f".read {os.path.join(SQL_DIR, 'progress.sql')}")
    assert (code, err) == (0, "")
    assert out == expected
    assert out.splitlines()[0].startswith("e1,running,1,4,25.0,,B,M,")


def test_the_shell_closes_cleanly_after_statements_were_cached(db_path):
    # nxm caches prepared statements; sqlite3_close() (which the shell uses) must still succeed.
    code, out, err = shell(db_path, f".load {EXTENSION}",
                           "select nxm_wal_append('e1','1',NULL,9)", "select nxm_wal_append('e1','2')",
                           "select count(*) from nxm_progress", "select nxm_recover('e1') is not null")
    assert (code, out.split(), err) == (0, ["1", "2", "1", "1"], "")


def test_the_shared_object_uses_the_hosts_sqlite_and_exports_only_its_entry_point():
    library = EXTENSION + ".so"
    needed = subprocess.run(["readelf", "-d", library], capture_output=True, text=True).stdout
    assert "libsqlite3" not in needed
    dynamic = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True,
                             text=True).stdout
    exported = sorted(line.split()[-1] for line in dynamic.splitlines()
                      if re.search(r" [TDBR] ", line))
    assert exported == ["sqlite3_nxm_init"]
    undefined = subprocess.run(["nm", "-D", "--undefined-only", library], capture_output=True,
                               text=True).stdout
    assert not re.search(r"\bsqlite3_", undefined)  # every SQLite call goes through the API table


def test_the_same_sources_compile_into_an_application_that_links_sqlite(tmp_path):
    program = tmp_path / "app.c"
    program.write_text(r'''
#include <stdio.h>
#include <sqlite3.h>
int sqlite3_nxm_init(sqlite3 *, char **, const void *);
int main(void) {
  sqlite3_auto_extension((void (*)(void))sqlite3_nxm_init);
  sqlite3 *db; sqlite3_stmt *s;
  sqlite3_open(":memory:", &db);
  sqlite3_prepare_v2(db, "SELECT nxm_wal_append('e', '[1]', NULL, 3)", -1, &s, 0);
  if (sqlite3_step(s) != SQLITE_ROW) { printf("error %s\n", sqlite3_errmsg(db)); return 1; }
  printf("%d\n", sqlite3_column_int(s, 0));
  sqlite3_finalize(s);
  return sqlite3_close(db);
}
''')
    sources = [os.path.join(ROOT, "ext", f) for f in sorted(os.listdir(os.path.join(ROOT, "ext")))
               if f.endswith(".c")]
    binary = tmp_path / "app"
    build = subprocess.run(["cc", "-std=c11", "-DSQLITE_CORE", f"-I{ROOT}/build", f"-I{ROOT}/ext",
                            str(program), *sources, "-o", str(binary), "-lsqlite3", "-lcjson"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(binary)], capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (0, "1\n")


def test_loading_the_extension_twice_into_one_connection_keeps_working(db_path):
    db = connect(db_path)
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 3)")
    assert db.execute("SELECT count(*) FROM nxm_progress").fetchone() == (1,)
    db.enable_load_extension(True)
    db.load_extension(EXTENSION)  # the first registration's state is dropped here
    assert value(db, "SELECT nxm_wal_append('e1', '2')") == 2
    assert db.execute("SELECT completed FROM nxm_progress").fetchone() == (2,)
    db.close()
    code, out, err = shell(db_path, f".load {EXTENSION}", "select count(*) from nxm_progress",
                           f".load {EXTENSION}", "select nxm_wal_append('e1', '3')")
    assert (code, out.split(), err) == (0, ["1", "3"], "")
