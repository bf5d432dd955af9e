"""TTL: nxm_cleanup, nxm_ttl and the sweep trigger. Expiry is tested by ageing rows with plain SQL."""
import pytest

from conftest import value


def executions(db):
    return [e for (e,) in db.execute("SELECT execution_id FROM nxm_executions ORDER BY 1")]


def age(db, execution_id, hours):
    db.execute("UPDATE nxm_executions SET updated_at = updated_at - ? WHERE execution_id = ?",
               (hours * 3600, execution_id))


def test_cleanup_deletes_old_executions_with_their_results_and_plans(db):
    value(db, "SELECT nxm_wal_begin('old', '[\"t1\",\"t2\"]')")
    value(db, "SELECT nxm_wal_append('old', '1', NULL, NULL, NULL, NULL, 't1')")
    value(db, "SELECT nxm_wal_append('new', '2', NULL, 5)")
    age(db, "old", 30)
    assert value(db, "SELECT nxm_cleanup()") == 1
    assert executions(db) == ["new"]
    assert value(db, "SELECT count(*) FROM nxm_results WHERE execution_id = 'old'") == 0
    assert value(db, "SELECT count(*) FROM nxm_tasks WHERE execution_id = 'old'") == 0
    assert value(db, "SELECT count(*) FROM nxm_results") == 1


def test_cleanup_takes_fractional_hours(db):
    value(db, "SELECT nxm_wal_append('a', '1', NULL, 5)")
    value(db, "SELECT nxm_wal_append('b', '1', NULL, 5)")
    age(db, "a", 0.5)
    assert value(db, "SELECT nxm_cleanup(0.75)") == 0
    assert value(db, "SELECT nxm_cleanup(0.25)") == 1
    assert executions(db) == ["b"]
    assert value(db, "SELECT nxm_cleanup(0)") == 1


def test_negative_age_is_an_error(db):
    with pytest.raises(Exception, match=r"nxm_cleanup: max_age_hours must be between 0 and 1e9 "
                                        r"hours \(got -1\)"):
        value(db, "SELECT nxm_cleanup(-1)")


def test_the_ttl_defaults_to_24_hours_and_can_be_changed(db):
    assert value(db, "SELECT nxm_ttl()") == 24.0
    assert value(db, "SELECT nxm_ttl(1.5)") == 1.5
    assert value(db, "SELECT nxm_ttl()") == 1.5
    assert value(db, "SELECT value FROM nxm_meta WHERE key = 'ttl_hours'") == 1.5
    db.execute("UPDATE nxm_meta SET value = 48 WHERE key = 'ttl_hours'")
    assert value(db, "SELECT nxm_ttl()") == 48.0


def test_cleanup_without_argument_uses_the_ttl(db):
    value(db, "SELECT nxm_wal_append('a', '1', NULL, 5)")
    age(db, "a", 3)
    assert value(db, "SELECT nxm_cleanup()") == 0
    value(db, "SELECT nxm_ttl(2)")
    assert value(db, "SELECT nxm_cleanup()") == 1


def test_the_sweep_trigger_removes_expired_executions_when_a_new_one_starts(db):
    value(db, "SELECT nxm_wal_append('stale', '1', NULL, 5)")
    value(db, "SELECT nxm_wal_append('live', '1', NULL, 5)")
    age(db, "stale", 25)
    age(db, "live", 23)
    value(db, "SELECT nxm_wal_append('live', '2')")  # not a new execution: no sweep
    assert executions(db) == ["live", "stale"]
    value(db, "SELECT nxm_wal_append('fresh', '1', NULL, 5)")
    assert executions(db) == ["fresh", "live"]
    assert value(db, "SELECT count(*) FROM nxm_results WHERE execution_id = 'stale'") == 0


def test_the_sweep_also_runs_for_a_plan_recorded_by_begin(db):
    value(db, "SELECT nxm_wal_append('stale', '1', NULL, 5)")
    age(db, "stale", 25)
    value(db, "SELECT nxm_wal_begin('fresh', '[\"t\"]')")
    assert executions(db) == ["fresh"]


def test_cleanup_and_sweep_go_through_the_index_on_updated_at(db):
    value(db, "SELECT nxm_wal_append('a', '1', NULL, 5)")
    # The WHERE of nxm_cleanup's DELETE (ext/connection.c) and of the sweep trigger (sql/schema.sql).
    plan = db.execute("EXPLAIN QUERY PLAN DELETE FROM nxm_executions "
                      "WHERE updated_at IS NOT NULL AND updated_at < 0").fetchall()
    assert any("nxm_executions_by_update" in row[-1] for row in plan)
    sweep = value(db, "SELECT sql FROM sqlite_schema WHERE name = 'nxm_ttl_sweep'")
    assert "WHERE updated_at IS NOT NULL\n     AND updated_at < new.updated_at" in sweep
    # A plain scan reads the table, not the index every append moves its row in.
    plan = db.execute("EXPLAIN QUERY PLAN SELECT execution_id FROM nxm_executions").fetchall()
    assert not any("nxm_executions_by_update" in row[-1] for row in plan)
