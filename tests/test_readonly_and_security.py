"""Read-only connections read but never write; functions that write or reveal results refuse to run
from a schema planted in an untrusted database."""
import os
import sqlite3
import stat

import pytest

from conftest import connect, value


def make_database(path):
    db = connect(path)
    value(db, "SELECT nxm_wal_begin('e1', '[\"a\",\"b\"]')")
    value(db, "SELECT nxm_wal_append('e1', '{\"r\":1}', NULL, NULL, 'B', 'M', 'a')")
    db.close()


def test_read_only_connection_recovers_and_lists_but_refuses_writes(db_path):
    make_database(db_path)
    ro = connect(f"file:{db_path}?mode=ro", uri=True)
    assert '"results":[{"r":1}]' in value(ro, "SELECT nxm_recover('e1')")
    assert value(ro, "SELECT completed FROM nxm_progress WHERE execution_id = 'e1'") == 1
    assert [t for (t,) in ro.execute("SELECT task_id FROM nxm_pending('e1')")] == ["b"]
    for call, name in [("nxm_wal_append('e1', '1')", "nxm_wal_append"),
                       ("nxm_wal_begin('e2', '[\"x\"]')", "nxm_wal_begin"),
                       ("nxm_cleanup(0)", "nxm_cleanup"), ("nxm_ttl(3)", "nxm_ttl")]:
        with pytest.raises(sqlite3.OperationalError) as error:
            value(ro, f"SELECT {call}")
        assert str(error.value) == (f"{name}: the database is read-only (opened with mode=ro or "
                                    "without write permission)")
        assert error.value.sqlite_errorname == "SQLITE_READONLY"


def test_read_only_connection_on_a_database_without_nxm_tables(db_path):
    sqlite3.connect(db_path).execute("CREATE TABLE other(x)").connection.commit()
    ro = connect(f"file:{db_path}?mode=ro", uri=True)
    assert value(ro, "SELECT nxm_recover('e1')") is None
    assert ro.execute("SELECT * FROM nxm_progress").fetchall() == []
    assert value(ro, "SELECT nxm_ttl()") == 24.0


def test_immutable_reader_of_a_wal_database_in_a_read_only_directory(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = str(folder / "nxm.db")
    make_database(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
    try:
        reader = connect(f"file:{path}?immutable=1", uri=True)
        assert value(reader, "SELECT completed FROM nxm_progress") == 1
        assert '"pending":["b"]' in value(reader, "SELECT nxm_recover('e1')")
    finally:
        os.chmod(folder, stat.S_IRWXU)


@pytest.mark.parametrize("call", [
    "nxm_wal_append('e1', '{\"evil\":1}')",
    "nxm_wal_begin('x', '[\"a\"]')",
    "nxm_cleanup(0)",
    "nxm_recover('e1')",
    "nxm_ttl(0)",
])
def test_functions_cannot_be_called_from_a_planted_view_or_trigger(db_path, call):
    make_database(db_path)
    # Someone else plants a view and a trigger in the file (without the extension loaded).
    plain = sqlite3.connect(db_path)
    plain.execute(f"CREATE VIEW innocent AS SELECT {call} AS x")
    plain.execute("CREATE TABLE notes(x)")
    plain.execute(f"CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN SELECT {call}; END")
    plain.commit()
    plain.close()
    db = connect(db_path)
    function = call.split("(")[0]
    with pytest.raises(sqlite3.OperationalError, match=rf"unsafe use of {function}\(\)"):
        db.execute("SELECT * FROM innocent").fetchall()
    with pytest.raises(sqlite3.OperationalError, match=rf"unsafe use of {function}\(\)"):
        db.execute("INSERT INTO notes VALUES (1)")
    assert value(db, "SELECT count(*) FROM nxm_results") == 1
    assert value(db, "SELECT count(*) FROM nxm_executions") == 1


def test_a_trigger_planted_on_an_nxm_table_makes_nxm_refuse_the_database(db_path):
    make_database(db_path)
    plain = sqlite3.connect(db_path)
    plain.execute("CREATE TABLE stolen(x)")
    plain.execute("CREATE TRIGGER copy_results AFTER INSERT ON nxm_results "
                  "BEGIN INSERT INTO stolen VALUES (new.result); END")
    plain.commit()
    plain.close()
    db = connect(db_path)
    with pytest.raises(sqlite3.OperationalError,
                       match="nxm_wal_append: the nxm_ tables, indexes or triggers in this database "
                             "differ from nxm's schema"):
        value(db, "SELECT nxm_wal_append('e1', '2')")
    assert value(db, "SELECT count(*) FROM stolen") == 0


def test_a_newer_schema_version_is_refused(db_path):
    make_database(db_path)
    plain = sqlite3.connect(db_path)
    current = plain.execute("SELECT value FROM nxm_meta WHERE key = 'schema_version'").fetchone()[0]
    plain.execute("UPDATE nxm_meta SET value = ? WHERE key = 'schema_version'", (current + 1,))
    plain.commit()
    plain.close()
    db = connect(db_path)
    version = value(db, "SELECT nxm_version()")
    with pytest.raises(sqlite3.OperationalError,
                       match=f"nxm_wal_append: this database has nxm schema version {current + 1}; nxm {version} "
                             f"understands versions up to {current}, refusing to write to it"):
        value(db, "SELECT nxm_wal_append('e1', '2')")
