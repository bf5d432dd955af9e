"""nxm_wal_begin records the plan; nxm_pending lists what is left of it, in plan order."""
import pytest

from conftest import dump, value


def pending(db, execution_id="e1"):
    return [t for (t,) in db.execute("SELECT task_id FROM nxm_pending(?)", (execution_id,))]


def test_begin_records_the_plan_and_returns_its_total(db):
    assert value(db, "SELECT nxm_wal_begin('e1', '[\"b|m|0\",\"b|m|1\",\"c|m|0\"]')") == 3
    assert db.execute("SELECT completed, total, planned FROM nxm_executions").fetchone() == (0, 3, 3)
    assert pending(db) == ["b|m|0", "b|m|1", "c|m|0"]


def test_pending_drops_tasks_as_their_results_arrive_and_keeps_plan_order(db):
    value(db, "SELECT nxm_wal_begin('e1', '[\"t1\",\"t2\",\"t3\",\"t4\"]')")
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, NULL, NULL, NULL, 't3')")
    value(db, "SELECT nxm_wal_append('e1', '2', NULL, NULL, NULL, NULL, 't1')")
    assert pending(db) == ["t2", "t4"]
    # A result without a task_id, or for a task outside the plan, leaves the plan's pending list alone.
    value(db, "SELECT nxm_wal_append('e1', '3')")
    assert pending(db) == ["t2", "t4"]


def test_the_same_plan_again_changes_nothing(db, db_path):
    value(db, "SELECT nxm_wal_begin('e1', '[\"t1\",\"t2\"]')")
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, NULL, NULL, NULL, 't1')")
    before = dump(db_path)
    assert value(db, "SELECT nxm_wal_begin('e1', '[\"t1\",\"t2\"]')") == 2
    assert dump(db_path) == before


def test_a_different_plan_for_an_existing_execution_is_an_error(db, db_path):
    value(db, "SELECT nxm_wal_begin('e1', '[\"t1\",\"t2\"]')")
    before = dump(db_path)
    with pytest.raises(Exception, match=r"nxm_wal_begin: execution 'e1' already has a different "
                                        r"plan \(2 tasks; they differ from tasks\[1\] on\)"):
        value(db, "SELECT nxm_wal_begin('e1', '[\"t1\",\"t3\"]')")
    with pytest.raises(Exception, match=r"differ from tasks\[2\] on"):
        value(db, "SELECT nxm_wal_begin('e1', '[\"t1\",\"t2\",\"t3\"]')")
    assert dump(db_path) == before


def test_a_plan_can_be_attached_to_an_execution_started_by_appends(db):
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 10, NULL, NULL, 'a')")
    assert value(db, "SELECT nxm_wal_begin('e1', '[\"a\",\"b\"]')") == 2
    assert db.execute("SELECT completed, total, planned FROM nxm_executions").fetchone() == (1, 2, 2)
    assert pending(db) == ["b"]


def test_with_a_plan_completed_counts_planned_tasks_with_a_result(db):
    # Results without a task id, or for tasks outside the plan, do not make a planned execution
    # complete: completed, pending and nxm_pending always agree.
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 5)")
    value(db, "SELECT nxm_wal_append('e1', '2', NULL, 5)")
    assert value(db, "SELECT nxm_wal_begin('e1', '[\"a\",\"b\"]')") == 2
    assert value(db, "SELECT completed FROM nxm_executions") == 0
    assert value(db, "SELECT nxm_wal_append('e1', '3', NULL, NULL, NULL, NULL, 'elsewhere')") == 0
    assert value(db, "SELECT nxm_wal_append('e1', '4', NULL, NULL, NULL, NULL, 'a')") == 1
    assert value(db, "SELECT nxm_wal_append('e1', '5', NULL, NULL, NULL, NULL, 'a')") == 1
    row = db.execute("SELECT state, completed, total, pending FROM nxm_progress").fetchone()
    assert row == ("running", 1, 2, 1)
    assert pending(db) == ["b"]
    assert value(db, "SELECT nxm_wal_append('e1', '6', NULL, NULL, NULL, NULL, 'b')") == 2
    assert db.execute("SELECT state, pending FROM nxm_progress").fetchone() == ("complete", 0)
    assert pending(db) == []


def test_pending_of_an_unknown_execution_or_one_without_a_plan_is_empty(db):
    assert pending(db, "nobody") == []
    value(db, "SELECT nxm_wal_append('e1', '1', NULL, 3)")
    assert pending(db) == []


def test_pending_needs_its_argument(db):
    with pytest.raises(Exception, match=r"nxm_pending: takes an execution_id argument"):
        db.execute("SELECT * FROM nxm_pending").fetchall()


def test_pending_joins_with_a_table_of_executions(db):
    value(db, "SELECT nxm_wal_begin('e1', '[\"a\",\"b\"]')")
    value(db, "SELECT nxm_wal_begin('e2', '[\"c\"]')")
    rows = db.execute("SELECT e.execution_id, p.task_id FROM nxm_executions AS e, "
                      "nxm_pending(e.execution_id) AS p ORDER BY 1, 2").fetchall()
    assert rows == [("e1", "a"), ("e1", "b"), ("e2", "c")]
