/*
** plan.c: nxm_wal_begin(execution_id, tasks) records the plan of an execution.
**
** `tasks` is a JSON array of distinct, non-empty strings: the task ids, in the order they will run.
*The
** execution's total becomes the number of tasks, and nxm_pending / nxm_recover's "pending" list the
** planned tasks that have no result yet. Recording the same plan again changes nothing; a different
** plan for an execution that has one is an error.
**
** The array is read with SQLite's json_each(), the parser that already decided it is JSON, so no
** second parser with other limits is involved. Every element is checked before the write lock is
** taken; distinctness is checked by the plan table's UNIQUE constraint as the tasks are inserted,
** inside the call's transaction, so a repeated id leaves nothing behind.
*/
#include <string.h>

#include "nxm.h"

static const char *const FUNCTION = "nxm_wal_begin";

/* A plan's text may hold at most this many bytes (64 MiB). */
#define NXM_MAX_PLAN_BYTES (64 * 1024 * 1024)

/*
** json_each() ends a string at an escaped \u0000, which would make two different ids look alike, so
** such ids are refused. Returns the index of the first top-level element of the array `text` (valid
** JSON) that holds one, or -1.
*/
static int element_with_escaped_nul(const char *text, int bytes) {
  int depth = 0, element = 0, in_string = 0;
  for (int i = 0; i < bytes; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        if (i + 5 < bytes && text[i + 1] == 'u' && memcmp(text + i + 2, "0000", 4) == 0) {
          return element;
        }
        i++; /* the escaped character */
      } else if (c == '"') {
        in_string = 0;
      }
    } else if (c == '"') {
      in_string = 1;
    } else if (c == '[' || c == '{') {
      depth++;
    } else if (c == ']' || c == '}') {
      depth--;
    } else if (c == ',' && depth == 1) {
      element++;
    }
  }
  return -1;
}

/* Checks that `tasks` is an array of acceptable task ids; returns its length, or -1 after setting
 *an
 ** error. */
static int plan_length(sqlite3_context *ctx, NxmConnection *conn, const char *tasks, int bytes) {
  sqlite3_stmt *stmt = 0;
  int is_array = 0;
  int rc = nxm_statement(conn, NXM_SQL_JSON_IS_ARRAY, &stmt);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(stmt, 1, tasks, bytes, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    is_array = step == SQLITE_ROW && sqlite3_column_int(stmt, 0) == 1;
    rc = nxm_statement_finish(conn, stmt, step);
  }
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
    return -1;
  }
  if (!is_array) {
    nxm_error(ctx, SQLITE_MISMATCH, FUNCTION, "tasks must be a JSON array of task id strings");
    return -1;
  }

  rc = nxm_statement(conn, NXM_SQL_PLAN_ELEMENTS, &stmt);
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
    return -1;
  }
  sqlite3_bind_text(stmt, 1, tasks, bytes, SQLITE_STATIC);
  int index = 0;
  int failed = 0;
  while (!failed && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *element_type = (const char *)sqlite3_column_text(stmt, 0);
    int task_bytes = sqlite3_column_bytes(stmt, 1);
    failed = 1;
    if (index >= NXM_MAX_PLAN_TASKS) {
      nxm_error(ctx, SQLITE_TOOBIG, FUNCTION, "tasks has more than %d entries", NXM_MAX_PLAN_TASKS);
    } else if (element_type == 0 || strcmp(element_type, "text") != 0) {
      nxm_error(ctx, SQLITE_MISMATCH, FUNCTION, "tasks[%d] must be a string", index);
    } else if (task_bytes == 0) {
      nxm_error(ctx, SQLITE_MISMATCH, FUNCTION, "tasks[%d] must not be empty", index);
    } else if (task_bytes > NXM_MAX_ID_BYTES) {
      nxm_error(ctx, SQLITE_TOOBIG, FUNCTION, "tasks[%d] is %d bytes; the limit is %d", index,
                task_bytes, NXM_MAX_ID_BYTES);
    } else {
      failed = 0;
    }
    index++;
  }
  if (!failed && rc != SQLITE_DONE) {
    rc = sqlite3_reset(stmt);
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
    failed = 1;
  }
  nxm_statement_done(conn, stmt);
  if (!failed) {
    int with_nul = element_with_escaped_nul(tasks, bytes);
    if (with_nul >= 0) {
      nxm_error(ctx, SQLITE_MISMATCH, FUNCTION, "tasks[%d] contains a NUL character", with_nul);
      failed = 1;
    }
  }
  return failed ? -1 : index;
}

/* The index from which the stored plan differs from `tasks`, or -1 when they are the same. */
static int first_difference(NxmConnection *conn, const char *execution_id, int id_bytes,
                            const char *tasks, int bytes, int length, sqlite3_int64 planned,
                            int *rc) {
  sqlite3_stmt *stmt = 0;
  *rc = nxm_statement(conn, NXM_SQL_PLAN_FIRST_DIFFERENCE, &stmt);
  if (*rc != SQLITE_OK) {
    return -1;
  }
  sqlite3_bind_text(stmt, 1, execution_id, id_bytes, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, tasks, bytes, SQLITE_STATIC);
  int difference = -1;
  int step = sqlite3_step(stmt);
  if (step == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
    difference = sqlite3_column_int(stmt, 0);
  }
  *rc = nxm_statement_finish(conn, stmt, step);
  if (difference < 0 && planned != length) {
    difference = (int)(planned < length ? planned : length);
  }
  return difference;
}

static int insert_tasks(sqlite3_context *ctx, NxmConnection *conn, const char *execution_id,
                        int id_bytes, const char *tasks, int bytes) {
  sqlite3_stmt *elements = 0;
  sqlite3_stmt *insert = 0;
  int rc = nxm_statement(conn, NXM_SQL_PLAN_ELEMENTS, &elements);
  if (rc == SQLITE_OK) {
    rc = nxm_statement(conn, NXM_SQL_PLAN_INSERT, &insert);
  }
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
    nxm_statement_done(conn, elements);
    return rc;
  }
  sqlite3_bind_text(elements, 1, tasks, bytes, SQLITE_STATIC);
  int index = 0;
  int step;
  while (rc == SQLITE_OK && (step = sqlite3_step(elements)) == SQLITE_ROW) {
    const char *task_id = (const char *)sqlite3_column_text(elements, 1);
    sqlite3_bind_text(insert, 1, execution_id, id_bytes, SQLITE_STATIC);
    sqlite3_bind_int(insert, 2, index);
    sqlite3_bind_text(insert, 3, task_id, sqlite3_column_bytes(elements, 1), SQLITE_STATIC);
    sqlite3_step(insert);
    rc = sqlite3_reset(insert);
    if (rc != SQLITE_OK && sqlite3_extended_errcode(conn->db) == SQLITE_CONSTRAINT_UNIQUE) {
      nxm_error(ctx, SQLITE_CONSTRAINT, FUNCTION, "tasks[%d] repeats the task id %Q", index,
                task_id);
    } else if (rc != SQLITE_OK) {
      nxm_error_from_db(ctx, conn, rc, FUNCTION);
    }
    index++;
  }
  if (rc == SQLITE_OK && step != SQLITE_DONE) {
    rc = sqlite3_reset(elements);
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
  }
  nxm_statement_done(conn, insert);
  nxm_statement_done(conn, elements);
  return rc;
}

/* Inserts the execution row for a new plan, or attaches the plan to an execution that has none. */
static int record_execution(sqlite3_context *ctx, NxmConnection *conn, const char *execution_id,
                            int id_bytes, int exists, int length) {
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
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
  }
  return rc;
}

static void wal_begin(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  NxmConnection *conn = sqlite3_user_data(ctx);
  const char *execution_id = 0;
  const char *tasks = 0;
  int id_bytes = 0;
  int tasks_bytes = 0;
  if (argc != 2) {
    nxm_error(ctx, SQLITE_MISUSE, FUNCTION, "takes 2 arguments (execution_id, tasks), got %d",
              argc);
    return;
  }
  if (!nxm_arg_text(ctx, FUNCTION, argv, 0, "execution_id", 1, NXM_MAX_ID_BYTES, &execution_id,
                    &id_bytes) ||
      !nxm_arg_text(ctx, FUNCTION, argv, 1, "tasks", 1, NXM_MAX_PLAN_BYTES, &tasks, &tasks_bytes) ||
      !nxm_json_check(ctx, conn, FUNCTION, "tasks", tasks, tasks_bytes)) {
    return;
  }
  int length = plan_length(ctx, conn, tasks, tasks_bytes);
  NxmWriteScope scope;
  if (length < 0 || nxm_write_begin(ctx, conn, FUNCTION, &scope) != SQLITE_OK) {
    return;
  }

  sqlite3_stmt *stmt = 0;
  int exists = 0;
  sqlite3_int64 total = length, planned = -1;
  int rc = nxm_statement(conn, NXM_SQL_EXECUTION_GET, &stmt);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(stmt, 1, execution_id, id_bytes, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
      exists = 1;
      total = sqlite3_column_int64(stmt, 1);
      planned = sqlite3_column_type(stmt, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(stmt, 3);
    }
    rc = nxm_statement_finish(conn, stmt, step);
  }
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
  } else if (planned >= 0) {
    int difference =
        first_difference(conn, execution_id, id_bytes, tasks, tasks_bytes, length, planned, &rc);
    if (rc != SQLITE_OK) {
      nxm_error_from_db(ctx, conn, rc, FUNCTION);
    } else if (difference >= 0) {
      nxm_error(ctx, SQLITE_CONSTRAINT, FUNCTION,
                "execution %Q already has a different plan (%lld tasks; they differ from "
                "tasks[%d] on)",
                execution_id, planned, difference);
      rc = SQLITE_CONSTRAINT;
    }
  } else {
    /* Tasks first: attaching a plan counts the results its tasks already have. */
    rc = insert_tasks(ctx, conn, execution_id, id_bytes, tasks, tasks_bytes);
    if (rc == SQLITE_OK) {
      rc = record_execution(ctx, conn, execution_id, id_bytes, exists, length);
    }
    total = length;
  }

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
