"""nxm_recover: the pickle-shaped document, or NULL when there is nothing to resume."""
import datetime
import json
import time

from conftest import value

PICKLE_FIELDS = ["execution_id", "results", "completed", "total", "brand", "model", "timestamp",
                 "last_updated"]


def recover(db, *args):
    text = db.execute(f"SELECT nxm_recover({', '.join('?' * len(args))})", args).fetchone()[0]
    return None if text is None else json.loads(text)


def test_the_document_has_exactly_the_pickle_fields(db):
    before = time.time()
    value(db, "SELECT nxm_wal_append('e1', '{\"a\":1}', 1, 2, '品牌 A', 'DeepSeek')")
    after = time.time()
    doc = recover(db, "e1")
    assert list(doc) == PICKLE_FIELDS
    assert doc["execution_id"] == "e1"
    assert doc["results"] == [{"a": 1}]
    assert (doc["completed"], doc["total"], doc["brand"], doc["model"]) == (1, 2, "品牌 A", "DeepSeek")
    assert before - 0.01 <= doc["timestamp"] <= after + 0.01
    stamp = datetime.datetime.strptime(doc["last_updated"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs(stamp.replace(tzinfo=datetime.timezone.utc).timestamp() - doc["timestamp"]) < 0.002


def test_results_come_back_in_the_order_first_appended(db):
    value(db, "SELECT nxm_wal_append('e1', '\"a\"', NULL, 10, NULL, NULL, 'ta')")
    value(db, "SELECT nxm_wal_append('e1', '\"b\"', NULL, NULL, NULL, NULL, 'tb')")
    value(db, "SELECT nxm_wal_append('e1', '\"A\"', NULL, NULL, NULL, NULL, 'ta')")
    value(db, "SELECT nxm_wal_append('e1', '{\"c\":[1,2]}')")
    assert recover(db, "e1")["results"] == ["A", "b", {"c": [1, 2]}]


def test_pending_is_added_when_a_plan_exists(db):
    value(db, "SELECT nxm_wal_begin('e1', '[\"t1\",\"t2\",\"t3\"]')")
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, NULL, NULL, NULL, 't2')")
    doc = recover(db, "e1")
    assert list(doc) == PICKLE_FIELDS + ["pending"]
    assert doc["pending"] == ["t1", "t3"]
    assert doc["results"] == [1]


def test_unknown_execution_gives_null(db):
    assert recover(db, "nobody") is None
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 2)")
    assert recover(db, "nobody") is None


def test_a_complete_execution_gives_null(db):
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 2)")
    assert recover(db, "e1") is not None
    value(db, "SELECT nxm_wal_append('e1', '2')")
    assert recover(db, "e1") is None


def test_an_execution_older_than_max_age_gives_null(db):
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 2)")
    # Age the execution by two hours with plain SQL instead of waiting.
    db.execute("UPDATE nxm_executions SET updated_at = updated_at - 7200")
    assert recover(db, "e1", 3) is not None
    assert recover(db, "e1", 1.5) is None
    assert recover(db, "e1") is not None  # the default is the TTL, 24 hours
    db.execute("UPDATE nxm_meta SET value = 1 WHERE key = 'ttl_hours'")
    assert recover(db, "e1") is None


def test_recover_on_a_database_without_nxm_tables_gives_null(db):
    assert recover(db, "e1") is None
    assert value(db, "SELECT count(*) FROM sqlite_schema") == 0


def test_the_answer_is_json_to_sqlites_json_functions(db):
    value(db, "SELECT nxm_wal_append('e1', '{\"a\":1}', NULL, 2)")
    assert value(db, "SELECT json_extract(nxm_recover('e1'), '$.results[0].a')") == 1
    assert value(db, "SELECT json_array(nxm_recover('e1')) LIKE '[{%'") == 1
