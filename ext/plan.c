/*
** plan.c: nxm_wal_begin(execution_id, tasks) records the plan of an execution.
**
** `tasks` is a JSON array of distinct, non-empty strings: the task ids, in the order they will run.
** The execution's total becomes the number of tasks, and nxm_pending / nxm_recover's "pending" list
** the planned tasks that have no result yet. Recording the same plan again changes nothing; a
** different plan for an execution that has one is an error. Distinctness is checked by the plan
** table's UNIQUE constraint inside the call's savepoint, so a bad plan leaves nothing behind.
*/
#include <string.h>

#include <cjson/cJSON.h>

#include "nxm.h"

static const char *const FUNCTION = "nxm_wal_begin";

/* A plan's text may hold at most this many bytes (64 MiB). */
#define NXM_MAX_PLAN_BYTES (64 * 1024 * 1024)

/* Checks that `plan` is an array of non-empty strings within the caps; returns its length or -1. */
static int plan_length(sqlite3_context *ctx, const cJSON *plan) {
  if (!cJSON_IsArray(plan)) {
    nxm_error(ctx, SQLITE_MISMATCH, FUNCTION, "tasks must be a JSON array of task id strings");
    return -1;
  }
  int index = 0;
  for (const cJSON *task = plan->child; task != 0; task = task->next, index++) {
    if (index >= NXM_MAX_PLAN_TASKS) {
      nxm_error(ctx, SQLITE_TOOBIG, FUNCTION, "tasks has more than %d entries", NXM_MAX_PLAN_TASKS);
      return -1;
    }
    if (!cJSON_IsString(task)) {
      nxm_error(ctx, SQLITE_MISMATCH, FUNCTION, "tasks[%d] must be a string", index);
      return -1;
    }
    size_t bytes = strlen(task->valuestring);
    if (bytes == 0) {
      nxm_error(ctx, SQLITE_MISMATCH, FUNCTION, "tasks[%d] must not be empty", index);
      return -1;
    }
    if (bytes > NXM_MAX_ID_BYTES) {
      nxm_error(ctx, SQLITE_TOOBIG, FUNCTION, "tasks[%d] is %zu bytes; the limit is %d", index,
                bytes, NXM_MAX_ID_BYTES);
      return -1;
    }
  }
  return index;
}

/* Compares the stored plan with `plan`: 1 same, 0 different (with *first_difference), <0 error. */
static int same_plan(NxmConnection *conn, const char *execution_id, int id_bytes, const cJSON *plan,
                     int *first_difference, int *rc) {
  sqlite3_stmt *stmt = 0;
  *rc = nxm_statement(conn, NXM_SQL_PLAN_GET, &stmt);
  if (*rc != SQLITE_OK) {
    return -1;
  }
  sqlite3_bind_text(stmt, 1, execution_id, id_bytes, SQLITE_STATIC);
  const cJSON *task = plan->child;
  int index = 0;
  int same = 1;
  while ((*rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *stored = (const char *)sqlite3_column_text(stmt, 0);
    if (task == 0 || stored == 0 || strcmp(stored, task->valuestring) != 0) {
      same = 0;
      break;
    }
    task = task->next;
    index++;
  }
  if (*rc == SQLITE_DONE && task != 0) {
    same = 0;
  }
  *rc = (*rc == SQLITE_ROW || *rc == SQLITE_DONE) ? SQLITE_OK : sqlite3_reset(stmt);
  nxm_statement_done(conn, stmt);
  *first_difference = index;
  return *rc == SQLITE_OK ? same : -1;
}

static int insert_tasks(sqlite3_context *ctx, NxmConnection *conn, const char *execution_id,
                        int id_bytes, const cJSON *plan) {
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, NXM_SQL_PLAN_INSERT, &stmt);
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
    return rc;
  }
  int index = 0;
  for (const cJSON *task = plan->child; task != 0; task = task->next, index++) {
    sqlite3_bind_text(stmt, 1, execution_id, id_bytes, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, index);
    sqlite3_bind_text(stmt, 3, task->valuestring, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    rc = sqlite3_reset(stmt);
    if (rc != SQLITE_OK && sqlite3_extended_errcode(conn->db) == SQLITE_CONSTRAINT_UNIQUE) {
      nxm_error(ctx, SQLITE_CONSTRAINT, FUNCTION, "tasks[%d] repeats the task id %Q", index,
                task->valuestring);
      break;
    }
    if (rc != SQLITE_OK) {
      nxm_error_from_db(ctx, conn, rc, FUNCTION);
      break;
    }
  }
  nxm_statement_done(conn, stmt);
  return rc;
}

/* Inserts the execution row for a new plan, or attaches the plan to an execution that has none. */
static int record_execution(sqlite3_context *ctx, NxmConnection *conn, const char *execution_id,
                            int id_bytes, int exists, sqlite3_int64 completed, int length) {
  sqlite3_stmt *stmt = 0;
  double now = nxm_now(conn);
  int rc = nxm_statement(conn, exists ? NXM_SQL_PLAN_ATTACH : NXM_SQL_EXECUTION_INSERT, &stmt);
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
    return rc;
  }
  sqlite3_bind_text(stmt, 1, execution_id, id_bytes, SQLITE_STATIC);
  if (exists) {
    sqlite3_bind_int(stmt, 2, length);
    sqlite3_bind_double(stmt, 3, now);
  } else {
    sqlite3_bind_int(stmt, 2, 0);
    sqlite3_bind_int(stmt, 3, length);
    sqlite3_bind_int(stmt, 4, 0);
    sqlite3_bind_int(stmt, 5, length);
    sqlite3_bind_double(stmt, 8, now);
  }
  rc = nxm_statement_run(conn, stmt);
  if (rc != SQLITE_OK && sqlite3_extended_errcode(conn->db) == SQLITE_CONSTRAINT_CHECK) {
    nxm_error(ctx, SQLITE_CONSTRAINT, FUNCTION,
              "execution %Q already has %lld completed, more than the plan's %d tasks",
              execution_id, completed, length);
  } else if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
  }
  return rc;
}

static void wal_begin(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  NxmConnection *conn = sqlite3_user_data(ctx);
  const char *execution_id = 0;
  const char *tasks_text = 0;
  int id_bytes = 0;
  int tasks_bytes = 0;
  if (argc != 2) {
    nxm_error(ctx, SQLITE_MISUSE, FUNCTION, "takes 2 arguments (execution_id, tasks), got %d",
              argc);
    return;
  }
  if (!nxm_arg_text(ctx, FUNCTION, argv, 0, "execution_id", 1, NXM_MAX_ID_BYTES, &execution_id,
                    &id_bytes) ||
      !nxm_arg_text(ctx, FUNCTION, argv, 1, "tasks", 1, NXM_MAX_PLAN_BYTES, &tasks_text,
                    &tasks_bytes) ||
      !nxm_json_check(ctx, conn, FUNCTION, "tasks", tasks_text, tasks_bytes)) {
    return;
  }
  /* The length counts SQLite's terminating NUL: cJSON wants to see it to accept the end. */
  cJSON *plan = cJSON_ParseWithLengthOpts(tasks_text, (size_t)tasks_bytes + 1, 0, 1);
  if (plan == 0) {
    /* json_valid() accepted it, so cJSON failed for memory or its nesting limit. */
    nxm_error(ctx, SQLITE_NOMEM, FUNCTION, "out of memory");
    return;
  }
  int length = plan_length(ctx, plan);
  NxmWriteScope scope;
  if (length < 0 || nxm_write_begin(ctx, conn, FUNCTION, &scope) != SQLITE_OK) {
    cJSON_Delete(plan);
    return;
  }

  sqlite3_stmt *stmt = 0;
  int exists = 0;
  sqlite3_int64 completed = 0, total = length, planned = -1;
  int rc = nxm_statement(conn, NXM_SQL_EXECUTION_GET, &stmt);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(stmt, 1, execution_id, id_bytes, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      exists = 1;
      completed = sqlite3_column_int64(stmt, 0);
      total = sqlite3_column_int64(stmt, 1);
      planned = sqlite3_column_type(stmt, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(stmt, 3);
    }
    rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? SQLITE_OK : sqlite3_reset(stmt);
    nxm_statement_done(conn, stmt);
  }
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
  } else if (planned >= 0) {
    int difference = 0;
    int same = same_plan(conn, execution_id, id_bytes, plan, &difference, &rc);
    if (same < 0) {
      nxm_error_from_db(ctx, conn, rc, FUNCTION);
    } else if (!same) {
      nxm_error(ctx, SQLITE_CONSTRAINT, FUNCTION,
                "execution %Q already has a different plan (%lld tasks; they differ from "
                "tasks[%d] on)",
                execution_id, planned, difference);
      rc = SQLITE_CONSTRAINT;
    }
  } else {
    rc = record_execution(ctx, conn, execution_id, id_bytes, exists, completed, length);
    if (rc == SQLITE_OK) {
      rc = insert_tasks(ctx, conn, execution_id, id_bytes, plan);
    }
    total = length;
  }
  cJSON_Delete(plan);

  if (nxm_write_end(ctx, conn, FUNCTION, &scope, rc) == SQLITE_OK) {
    sqlite3_result_int64(ctx, total);
  }
}

int nxm_register_plan(sqlite3 *db, NxmConnection *conn) {
  /* DIRECTONLY: it writes, so a trigger or view planted in an untrusted database must not
  ** call it. */
  nxm_connection_ref(conn);
  return sqlite3_create_function_v2(db, FUNCTION, -1, SQLITE_UTF8 | SQLITE_DIRECTONLY, conn,
                                    wal_begin, 0, 0, nxm_connection_unref);
}
