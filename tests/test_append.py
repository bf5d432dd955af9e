"""nxm_wal_append: one result, one row; the summary row follows the rules of the contract."""
import json

from conftest import value


def results(db, execution_id="e1"):
    return [json.loads(r) for (r,) in db.execute(
        "SELECT result FROM nxm_results WHERE execution_id = ? ORDER BY seq", (execution_id,))]


def summary(db, execution_id="e1"):
    return db.execute("SELECT completed, total, recorded, brand, model FROM nxm_executions "
                      "WHERE execution_id = ?", (execution_id,)).fetchone()


def test_first_append_creates_the_execution_and_returns_completed(db):
    assert value(db, "SELECT nxm_wal_append('e1', '{\"a\":1}', 1, 2, '品牌 A', 'DeepSeek')") == 1
    assert summary(db) == (1, 2, 1, "品牌 A", "DeepSeek")
    assert results(db) == [{"a": 1}]


def test_each_append_is_one_new_row_and_earlier_rows_are_not_rewritten(db):
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 3)")
    first = db.execute("SELECT seq, result, appended_at FROM nxm_results").fetchall()
    value(db, "SELECT nxm_wal_append('e1', '2')")
    value(db, "SELECT nxm_wal_append('e1', '3')")
    rows = db.execute("SELECT seq, result, appended_at FROM nxm_results ORDER BY seq").fetchall()
    assert rows[0] == first[0]
    assert [r[1] for r in rows] == ["1", "2", "3"]


def test_completed_defaults_to_the_number_of_results_recorded(db):
    assert value(db, "SELECT nxm_wal_append('e1', '1', NULL, 5)") == 1
    assert value(db, "SELECT nxm_wal_append('e1', '2')") == 2
    assert value(db, "SELECT nxm_wal_append('e1', '3', NULL)") == 3


def test_completed_never_moves_backwards(db):
    assert value(db, "SELECT nxm_wal_append('e1', '1', 4, 10)") == 4
    assert value(db, "SELECT nxm_wal_append('e1', '2', 2)") == 4
    assert value(db, "SELECT nxm_wal_append('e1', '3')") == 4
    assert value(db, "SELECT nxm_wal_append('e1', '4', 7)") == 7
    assert summary(db)[0] == 7


def test_total_when_given_replaces_the_stored_total(db):
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 10)")
    value(db, "SELECT nxm_wal_append('e1', '2', NULL, 4)")
    assert summary(db)[1] == 4


def test_brand_and_model_of_the_execution_are_those_of_the_latest_append(db):
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 3, 'Acme', 'gpt')")
    value(db, "SELECT nxm_wal_append('e1', '2', NULL, NULL, 'Globex', 'claude')")
    assert summary(db)[3:] == ("Globex", "claude")
    assert db.execute("SELECT brand, model FROM nxm_results ORDER BY seq").fetchall() == [
        ("Acme", "gpt"), ("Globex", "claude")]
    # An append that names no brand keeps the execution's brand.
    value(db, "SELECT nxm_wal_append('e1', '3')")
    assert summary(db)[3:] == ("Globex", "claude")


def test_a_task_id_makes_the_append_idempotent(db):
    assert value(db, "SELECT nxm_wal_append('e1', '{\"v\":1}', NULL, 3, 'b', 'm', 't1')") == 1
    assert value(db, "SELECT nxm_wal_append('e1', '{\"v\":2}', NULL, NULL, 'b', 'm', 't2')") == 2
    assert value(db, "SELECT nxm_wal_append('e1', '{\"v\":3}', NULL, NULL, 'b', 'm', 't1')") == 2
    # The replaced result keeps its place: order is that of the first append.
    assert results(db) == [{"v": 3}, {"v": 2}]
    assert summary(db)[2] == 2


def test_the_same_task_id_in_two_executions_is_two_tasks(db):
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 1, NULL, NULL, 't')")
    value(db, "SELECT nxm_wal_append('e2', '2', NULL, 1, NULL, NULL, 't')")
    assert value(db, "SELECT count(*) FROM nxm_results") == 2


def test_the_first_append_takes_its_total_from_nxm_wal_begin(db):
    assert value(db, "SELECT nxm_wal_begin('e1', '[\"a\",\"b\",\"c\"]')") == 3
    assert value(db, "SELECT nxm_wal_append('e1', '1', NULL, NULL, NULL, NULL, 'a')") == 1
    assert summary(db)[:3] == (1, 3, 1)


def test_any_json_value_is_a_result(db):
    for text in ['"text"', '42', '-1.5e3', 'true', 'null', '[]', '{"nested":{"deep":[1,2,{}]}}']:
        value(db, "SELECT nxm_wal_append('e1', ?, NULL, 100)", text)
    assert results(db) == ["text", 42, -1500.0, True, None, [], {"nested": {"deep": [1, 2, {}]}}]


def test_the_database_is_switched_to_wal_at_the_first_write(db):
    assert value(db, "PRAGMA journal_mode") == "delete"
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 1)")
    assert value(db, "PRAGMA journal_mode") == "wal"


def test_the_extension_never_changes_synchronous(db):
    db.execute("PRAGMA synchronous = FULL")
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 2)")
    assert value(db, "PRAGMA synchronous") == 2
    db.execute("PRAGMA synchronous = NORMAL")
    value(db, "SELECT nxm_wal_append('e1', '2')")
    assert value(db, "PRAGMA synchronous") == 1


def test_whole_numbers_given_as_reals_are_counts(db):
    # Node's better-sqlite3 binds every JavaScript number as a real.
    assert value(db, "SELECT nxm_wal_append('e1', '1', 2.0, 5.0)") == 2
    assert db.execute("SELECT completed, total FROM nxm_executions").fetchone() == (2, 5)
