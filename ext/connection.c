/*
** connection.c: the per-connection state of nxm, the SQL of every statement it runs, the statement
** cache, and the clock.
**
** Statements are prepared on first use. While nxm_progress is connected (conn->armed) they stay
** cached and are finalized by nxm_connection_forget_statements(), which progress.c calls from
** xDisconnect: that runs inside sqlite3_close() before SQLite looks for unfinalized statements, so
** caching never makes a close fail. To arm, nxm_statement() prepares a statement that names
** nxm_progress once, which makes SQLite connect the eponymous table.
*/
#include <string.h>
#include <unistd.h>

#include "nxm.h"

/* The pending tasks of execution ?1: planned, no result with that task_id, in plan order. */
#define NXM_PENDING_SELECT                                                                         \
  "SELECT t.task_id FROM main.nxm_tasks AS t WHERE t.execution_id = ?1 AND NOT EXISTS ("           \
  "SELECT 1 FROM main.nxm_results AS r WHERE r.execution_id = t.execution_id AND "                 \
  "r.task_id = t.task_id) ORDER BY t.position"

/* One row of nxm_progress; ?1 is now and ?2 the TTL, both in seconds. */
#define NXM_PROGRESS_SELECT                                                                        \
  "SELECT e.execution_id, "                                                                        \
  "CASE WHEN e.updated_at < ?1 - ?2 THEN 'expired' "                                               \
  "WHEN e.completed >= e.total THEN 'complete' ELSE 'running' END, "                               \
  "e.completed, e.total, "                                                                         \
  "CASE WHEN e.total > 0 THEN round(100.0 * e.completed / e.total, 1) ELSE 100.0 END, "            \
  "e.planned - e.done, "                                                                           \
  "e.brand, e.model, "                                                                             \
  "strftime('%Y-%m-%dT%H:%M:%SZ', e.created_at, 'unixepoch'), "                                    \
  "strftime('%Y-%m-%dT%H:%M:%SZ', e.updated_at, 'unixepoch'), "                                    \
  "strftime('%Y-%m-%dT%H:%M:%SZ', e.updated_at + ?2, 'unixepoch') "                                \
  "FROM main.nxm_executions AS e"

static const char *const statement_sql[NXM_SQL_COUNT] = {
    [NXM_SQL_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [NXM_SQL_COMMIT] = "COMMIT",
    [NXM_SQL_ROLLBACK] = "ROLLBACK",
    [NXM_SQL_SAVEPOINT] = "SAVEPOINT nxm",
    [NXM_SQL_RELEASE] = "RELEASE nxm",
    /* Around creating the schema: marks the transaction a stranded creation belongs to. */
    [NXM_SQL_SAVEPOINT_SCHEMA] = "SAVEPOINT nxm_schema",
    [NXM_SQL_RELEASE_SCHEMA] = "RELEASE nxm_schema",
    [NXM_SQL_ROLLBACK_TO] = "ROLLBACK TO nxm",
    /* Writes nothing, but a writing statement takes the write lock, waiting like BEGIN IMMEDIATE
    ** when the transaction has not read yet. */
    [NXM_SQL_TAKE_WRITE_LOCK] = "UPDATE main.nxm_meta SET value = value WHERE 0",
    [NXM_SQL_SCHEMA_COOKIE] = "PRAGMA main.schema_version",
    [NXM_SQL_JSON_VALID] = "SELECT json_type(?1)",
    [NXM_SQL_EXECUTION_GET] = "SELECT completed, total, recorded, planned, done "
                              "FROM main.nxm_executions WHERE execution_id = ?1",
    [NXM_SQL_EXECUTION_INSERT] =
        "INSERT INTO main.nxm_executions (execution_id, completed, total, recorded, planned, "
        "brand, model, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    [NXM_SQL_EXECUTION_UPDATE] =
        "UPDATE main.nxm_executions SET completed = ?2, total = ?3, recorded = ?4, "
        "brand = coalesce(?5, brand), model = coalesce(?6, model), "
        "updated_at = max(updated_at, ?7), done = ?8 WHERE execution_id = ?1",
    [NXM_SQL_RESULT_EXISTS] =
        "SELECT 1 FROM main.nxm_results WHERE execution_id = ?1 AND task_id = ?2",
    [NXM_SQL_TASK_PLANNED] =
        "SELECT 1 FROM main.nxm_tasks WHERE execution_id = ?1 AND task_id = ?2",
    [NXM_SQL_RESULT_INSERT] =
        "INSERT INTO main.nxm_results (execution_id, task_id, brand, model, result, appended_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (execution_id, task_id) DO UPDATE SET "
        "brand = excluded.brand, model = excluded.model, result = excluded.result, "
        "appended_at = excluded.appended_at",
    [NXM_SQL_JSON_IS_ARRAY] = "SELECT json_type(?1) = 'array'",
    [NXM_SQL_PLAN_ELEMENTS] = "SELECT type, value FROM json_each(?1)",
    /* The first position where the plan ?2 and the stored plan of ?1 disagree (NULL: none). */
    [NXM_SQL_PLAN_FIRST_DIFFERENCE] =
        "SELECT min(j.key) FROM json_each(?2) AS j WHERE NOT EXISTS (SELECT 1 FROM main.nxm_tasks "
        "AS t WHERE t.execution_id = ?1 AND t.position = j.key AND t.task_id = j.value)",
    [NXM_SQL_PLAN_INSERT] =
        "INSERT INTO main.nxm_tasks (execution_id, position, task_id) VALUES (?1, ?2, ?3)",
    /* A plan attached to an execution that appends started: from now on completed counts the
    ** planned tasks that have a result. Runs after the tasks are inserted. */
    [NXM_SQL_PLAN_ATTACH] =
        "UPDATE main.nxm_executions SET planned = ?2, total = ?2, done = d.n, completed = d.n, "
        "updated_at = max(updated_at, ?3) FROM (SELECT count(*) AS n FROM main.nxm_tasks AS t "
        "WHERE t.execution_id = ?1 AND EXISTS (SELECT 1 FROM main.nxm_results AS r "
        "WHERE r.execution_id = ?1 AND r.task_id = t.task_id)) AS d WHERE execution_id = ?1",
    [NXM_SQL_RECOVER_HEADER] =
        "SELECT json_quote(execution_id), completed, total, json_quote(brand), json_quote(model), "
        "updated_at, strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, 'unixepoch'), planned "
        "FROM main.nxm_executions WHERE execution_id = ?1 AND updated_at >= ?2",
    [NXM_SQL_RECOVER_RESULTS] =
        "SELECT result, json_type(result) FROM main.nxm_results WHERE execution_id = ?1 "
        "ORDER BY seq",
    [NXM_SQL_RECOVER_PENDING] = "SELECT json_group_array(task_id) FROM (" NXM_PENDING_SELECT ")",
    [NXM_SQL_PENDING_TASKS] = NXM_PENDING_SELECT,
    [NXM_SQL_CLEANUP] =
        "DELETE FROM main.nxm_executions WHERE updated_at IS NOT NULL AND updated_at < ?1",
    [NXM_SQL_TTL_GET] = "SELECT value FROM main.nxm_meta WHERE key = 'ttl_hours'",
    [NXM_SQL_TTL_SET] = "UPDATE main.nxm_meta SET value = ?1 WHERE key = 'ttl_hours'",
    [NXM_SQL_PROGRESS_ONE] = NXM_PROGRESS_SELECT " WHERE e.execution_id = ?3",
    [NXM_SQL_PROGRESS_ALL] = NXM_PROGRESS_SELECT " ORDER BY e.execution_id",
};

NxmConnection *nxm_connection_new(sqlite3 *db) {
  NxmConnection *conn = sqlite3_malloc(sizeof(*conn));
  if (conn == 0) {
    return 0;
  }
  memset(conn, 0, sizeof(*conn));
  conn->db = db;
  conn->references = 1;
  conn->pid = (long)getpid();
  conn->schema_cookie = -1;
  return conn;
}

void nxm_connection_ref(NxmConnection *conn) {
  conn->references++;
}

/* The destructor of every function and module nxm registers. */
void nxm_connection_unref(void *pointer) {
  NxmConnection *conn = pointer;
  if (--conn->references > 0) {
    return;
  }
  nxm_connection_forget_statements(conn);
  sqlite3_free(conn->expected_catalog);
  sqlite3_free(conn->v1_catalog);
  sqlite3_free(conn->reserved_names);
  sqlite3_free(conn);
}

void nxm_connection_forget_statements(NxmConnection *conn) {
  for (int i = 0; i < NXM_SQL_COUNT; i++) {
    sqlite3_finalize(conn->statements[i]);
    conn->statements[i] = 0;
  }
  conn->armed = 0;
}

/* Connects nxm_progress so that its xDisconnect will finalize the cache at close. */
static void arm(NxmConnection *conn) {
  sqlite3_stmt *probe = 0;
  if (sqlite3_prepare_v2(conn->db, "SELECT 1 FROM main.nxm_progress", -1, &probe, 0) == SQLITE_OK) {
    sqlite3_finalize(probe);
  }
}

/*
** Hands out statement `id`, prepared and reset. With the cache armed the statement stays cached;
** otherwise nxm_statement_done() finalizes it. Returns an SQLite result code.
*/
int nxm_statement(NxmConnection *conn, NxmStatementId id, sqlite3_stmt **out) {
  *out = 0;
  if (!conn->armed) {
    arm(conn);
  }
  if (conn->statements[id] != 0) {
    *out = conn->statements[id];
    return SQLITE_OK;
  }
  sqlite3_stmt *stmt = 0;
  int rc = sqlite3_prepare_v3(conn->db, statement_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &stmt, 0);
  if (rc != SQLITE_OK) {
    return rc;
  }
  if (conn->armed) {
    conn->statements[id] = stmt;
  }
  *out = stmt;
  return SQLITE_OK;
}

/* Gives a statement back: reset so that it pins no snapshot, or finalized when not cached. */
void nxm_statement_done(NxmConnection *conn, sqlite3_stmt *stmt) {
  if (stmt == 0) {
    return;
  }
  for (int i = 0; i < NXM_SQL_COUNT; i++) {
    if (conn->statements[i] == stmt) {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
      return;
    }
  }
  sqlite3_finalize(stmt);
}

/* Gives back a statement whose last sqlite3_step() returned `step_rc`; rows not yet read are not
** needed. Returns an SQLite code; on failure the connection's error message and extended code
** describe it. */
int nxm_statement_finish(NxmConnection *conn, sqlite3_stmt *stmt, int step_rc) {
  int rc = (step_rc == SQLITE_DONE || step_rc == SQLITE_ROW) ? SQLITE_OK : sqlite3_reset(stmt);
  nxm_statement_done(conn, stmt);
  return rc;
}

/* Steps a statement once (its rows, if any, are not needed) and gives it back. */
int nxm_statement_run(NxmConnection *conn, sqlite3_stmt *stmt) {
  return nxm_statement_finish(conn, stmt, sqlite3_step(stmt));
}

/* Runs statement `id`, which takes no parameters. */
int nxm_run(NxmConnection *conn, NxmStatementId id) {
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, id, &stmt);
  return rc == SQLITE_OK ? nxm_statement_run(conn, stmt) : rc;
}

/* Unix time in seconds (millisecond resolution) from the VFS of the main database, so that a
** test VFS or a faked clock is seen the same way SQLite's own date functions see it. */
double nxm_now(NxmConnection *conn) {
  sqlite3_vfs *vfs = 0;
  if (sqlite3_file_control(conn->db, "main", SQLITE_FCNTL_VFS_POINTER, &vfs) != SQLITE_OK ||
      vfs == 0) {
    vfs = sqlite3_vfs_find(0);
  }
  sqlite3_int64 julian_ms = 0;
  if (vfs->iVersion >= 2 && vfs->xCurrentTimeInt64 != 0) {
    vfs->xCurrentTimeInt64(vfs, &julian_ms);
  } else {
    double julian_days = 0;
    vfs->xCurrentTime(vfs, &julian_days);
    julian_ms = (sqlite3_int64)(julian_days * 86400000.0);
  }
  return (double)(julian_ms - 210866760000000LL) / 1000.0;
}

/*
** A connection carried into a child by fork() shares its file locks and its WAL index with the
** parent, and writing through it can corrupt the database; refuse, with what to do. Returns 1 when
** the call may go on.
*/
int nxm_same_process(sqlite3_context *ctx, NxmConnection *conn, const char *function) {
  long pid = (long)getpid();
  if (pid == conn->pid) {
    return 1;
  }
  nxm_error(ctx, SQLITE_MISUSE, function,
            "this connection was opened in process %ld and is used in process %ld after fork(); "
            "open a new connection in the child",
            conn->pid, pid);
  return 0;
}

/* What to add to a read error a reader cannot fix by retrying: a WAL database it may not write the
** -shm of. Empty for any other error. */
const char *nxm_read_hint(int rc) {
  int primary = rc & 0xff;
  if (primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN) {
    return " (a reader that cannot create or write the -shm file of a WAL database can open it "
           "with file:...?immutable=1 once no writer is running)";
  }
  return "";
}
