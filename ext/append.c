/*
** append.c: nxm_wal_append(execution_id, result [, completed [, total [, brand [, model [,
** task_id]]]]])
**
** Stores one result as one new row and updates the execution's summary row; returns the execution's
** completed count after the call. Nothing stored earlier is rewritten, so the cost of an append
** does not grow with the execution.
**
** The order is the guarantee: every argument is checked (JSON included) before the write lock is
** taken, every check that needs stored state runs under the lock before the first write, and the
** writes commit together or not at all (write_scope.c).
*/
#include <string.h>

#include "nxm.h"

static const char *const FUNCTION = "nxm_wal_append";

typedef struct AppendArgs {
  const char *execution_id;
  int execution_id_bytes;
  const char *result;
  int result_bytes;
  sqlite3_int64 completed; /* -1: not given */
  sqlite3_int64 total;     /* -1: not given */
  const char *brand;
  int brand_bytes;
  const char *model;
  int model_bytes;
  const char *task_id;
  int task_id_bytes;
} AppendArgs;

static int read_args(sqlite3_context *ctx, int argc, sqlite3_value **argv, AppendArgs *args) {
  if (argc < 2 || argc > 7) {
    nxm_error(ctx, SQLITE_MISUSE, FUNCTION,
              "takes 2 to 7 arguments (execution_id, result [, completed [, total [, brand "
              "[, model [, task_id]]]]]), got %d",
              argc);
    return 0;
  }
  args->completed = args->total = -1;
  args->brand = args->model = args->task_id = 0;
  args->brand_bytes = args->model_bytes = args->task_id_bytes = 0;
  if (!nxm_arg_text(ctx, FUNCTION, argv, 0, "execution_id", 1, NXM_MAX_ID_BYTES,
                    &args->execution_id, &args->execution_id_bytes) ||
      !nxm_arg_text(ctx, FUNCTION, argv, 1, "result", 1, 0, &args->result, &args->result_bytes) ||
      (argc > 2 && !nxm_arg_count(ctx, FUNCTION, &args->completed, argv, 2, "completed")) ||
      (argc > 3 && !nxm_arg_count(ctx, FUNCTION, &args->total, argv, 3, "total")) ||
      (argc > 4 && !nxm_arg_text(ctx, FUNCTION, argv, 4, "brand", 0, NXM_MAX_LABEL_BYTES,
                                 &args->brand, &args->brand_bytes)) ||
      (argc > 5 && !nxm_arg_text(ctx, FUNCTION, argv, 5, "model", 0, NXM_MAX_LABEL_BYTES,
                                 &args->model, &args->model_bytes)) ||
      (argc > 6 && !nxm_arg_text(ctx, FUNCTION, argv, 6, "task_id", 0, NXM_MAX_ID_BYTES,
                                 &args->task_id, &args->task_id_bytes))) {
    return 0;
  }
  if (args->completed >= 0 && args->total >= 0 && args->completed > args->total) {
    nxm_error(ctx, SQLITE_CONSTRAINT, FUNCTION, "completed (%lld) exceeds total (%lld)",
              args->completed, args->total);
    return 0;
  }
  return 1;
}

static int bind_text_or_null(sqlite3_stmt *stmt, int index, const char *text, int bytes) {
  return text ? sqlite3_bind_text(stmt, index, text, bytes, SQLITE_STATIC)
              : sqlite3_bind_null(stmt, index);
}

/* An execution's summary row: as stored, and as this append leaves it. */
typedef struct Execution {
  int exists;
  sqlite3_int64 completed, total, recorded;
  sqlite3_int64 planned; /* tasks in the plan; -1 without a plan */
  sqlite3_int64 done;    /* planned tasks that have a result */
} Execution;

static int read_execution(NxmConnection *conn, const AppendArgs *args, Execution *stored) {
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, NXM_SQL_EXECUTION_GET, &stmt);
  if (rc != SQLITE_OK) {
    return rc;
  }
  sqlite3_bind_text(stmt, 1, args->execution_id, args->execution_id_bytes, SQLITE_STATIC);
  rc = sqlite3_step(stmt);
  memset(stored, 0, sizeof(*stored));
  stored->planned = -1;
  stored->exists = (rc == SQLITE_ROW);
  if (rc == SQLITE_ROW) {
    stored->completed = sqlite3_column_int64(stmt, 0);
    stored->total = sqlite3_column_int64(stmt, 1);
    stored->recorded = sqlite3_column_int64(stmt, 2);
    stored->planned =
        sqlite3_column_type(stmt, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(stmt, 3);
    stored->done = sqlite3_column_int64(stmt, 4);
    rc = SQLITE_OK;
  } else {
    rc = sqlite3_reset(stmt);
  }
  nxm_statement_done(conn, stmt);
  return rc;
}

/* Whether statement `id` (execution ?1, task ?2) finds a row for the append's task. */
static int task_found(NxmConnection *conn, NxmStatementId id, const AppendArgs *args, int *found) {
  *found = 0;
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, id, &stmt);
  if (rc != SQLITE_OK) {
    return rc;
  }
  sqlite3_bind_text(stmt, 1, args->execution_id, args->execution_id_bytes, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, args->task_id, args->task_id_bytes, SQLITE_STATIC);
  int step = sqlite3_step(stmt);
  *found = (step == SQLITE_ROW);
  return nxm_statement_finish(conn, stmt, step);
}

/*
** Works out the summary row after this append into *after, or sets an error and returns its code.
** A task_id already recorded is replaced and counted once; with a plan, completed counts planned
** tasks with a result, and the total is the plan's.
*/
static int count(sqlite3_context *ctx, NxmConnection *conn, const AppendArgs *args,
                 const Execution *stored, Execution *after) {
  int replaces = 0, planned_task = 0;
  int rc = SQLITE_OK;
  if (args->task_id != 0) {
    rc = task_found(conn, NXM_SQL_RESULT_EXISTS, args, &replaces);
    if (rc == SQLITE_OK && stored->planned >= 0 && !replaces) {
      rc = task_found(conn, NXM_SQL_TASK_PLANNED, args, &planned_task);
    }
  }
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
    return rc;
  }

  *after = *stored;
  after->recorded = (stored->exists ? stored->recorded : 0) + (replaces ? 0 : 1);
  after->done = (stored->exists ? stored->done : 0) + planned_task;
  if (stored->planned >= 0 && args->total >= 0 && args->total != stored->planned) {
    nxm_error(ctx, SQLITE_CONSTRAINT, FUNCTION,
              "total (%lld) must be NULL or the size of execution %Q's plan (%lld tasks)",
              args->total, args->execution_id, stored->planned);
    return SQLITE_CONSTRAINT;
  }
  after->total = args->total >= 0 ? args->total : stored->exists ? stored->total : -1;
  sqlite3_int64 implicit = stored->planned >= 0 ? after->done : after->recorded;
  after->completed = args->completed >= 0 ? args->completed : implicit;
  if (stored->exists && stored->completed > after->completed) {
    after->completed = stored->completed; /* concurrent writers never move progress backwards */
  }
  if (after->total < 0) {
    nxm_error(ctx, SQLITE_CONSTRAINT, FUNCTION,
              "total is required for the first append of execution %Q "
              "(pass it as the 4th argument, or call nxm_wal_begin first)",
              args->execution_id);
    return SQLITE_CONSTRAINT;
  }
  if (after->completed > after->total) {
    nxm_error(ctx, SQLITE_CONSTRAINT, FUNCTION, "completed (%lld%s) exceeds total (%lld)",
              after->completed, args->completed >= 0 ? "" : ", the number of results recorded",
              after->total);
    return SQLITE_CONSTRAINT;
  }
  return SQLITE_OK;
}

static int write_execution(NxmConnection *conn, const AppendArgs *args, const Execution *after,
                           double now) {
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, after->exists ? NXM_SQL_EXECUTION_UPDATE : NXM_SQL_EXECUTION_INSERT,
                         &stmt);
  if (rc != SQLITE_OK) {
    return rc;
  }
  sqlite3_bind_text(stmt, 1, args->execution_id, args->execution_id_bytes, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 2, after->completed);
  sqlite3_bind_int64(stmt, 3, after->total);
  sqlite3_bind_int64(stmt, 4, after->recorded);
  if (after->exists) {
    bind_text_or_null(stmt, 5, args->brand, args->brand_bytes);
    bind_text_or_null(stmt, 6, args->model, args->model_bytes);
    sqlite3_bind_double(stmt, 7, now);
    sqlite3_bind_int64(stmt, 8, after->done);
  } else {
    sqlite3_bind_null(stmt, 5); /* planned: only nxm_wal_begin records a plan */
    bind_text_or_null(stmt, 6, args->brand, args->brand_bytes);
    bind_text_or_null(stmt, 7, args->model, args->model_bytes);
    sqlite3_bind_double(stmt, 8, now);
  }
  return nxm_statement_run(conn, stmt);
}

static int write_result(NxmConnection *conn, const AppendArgs *args, double now) {
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, NXM_SQL_RESULT_INSERT, &stmt);
  if (rc != SQLITE_OK) {
    return rc;
  }
  sqlite3_bind_text(stmt, 1, args->execution_id, args->execution_id_bytes, SQLITE_STATIC);
  bind_text_or_null(stmt, 2, args->task_id, args->task_id_bytes);
  bind_text_or_null(stmt, 3, args->brand, args->brand_bytes);
  bind_text_or_null(stmt, 4, args->model, args->model_bytes);
  sqlite3_bind_text(stmt, 5, args->result, args->result_bytes, SQLITE_STATIC);
  sqlite3_bind_double(stmt, 6, now);
  return nxm_statement_run(conn, stmt);
}

static void wal_append(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  NxmConnection *conn = sqlite3_user_data(ctx);
  AppendArgs args;
  if (!read_args(ctx, argc, argv, &args) ||
      !nxm_json_check(ctx, conn, FUNCTION, "result", args.result, args.result_bytes)) {
    return;
  }

  NxmWriteScope scope;
  if (nxm_write_begin(ctx, conn, FUNCTION, &scope) != SQLITE_OK) {
    return;
  }

  Execution stored = {0}, after = {0};
  int rc = read_execution(conn, &args, &stored);
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
  } else {
    rc = count(ctx, conn, &args, &stored, &after);
  }
  if (rc == SQLITE_OK) {
    double now = nxm_now(conn);
    rc = write_execution(conn, &args, &after, now);
    if (rc == SQLITE_OK) {
      rc = write_result(conn, &args, now);
    }
    if (rc != SQLITE_OK) {
      nxm_error_from_db(ctx, conn, rc, FUNCTION);
    }
  }

  if (nxm_write_end(ctx, conn, FUNCTION, &scope, rc) == SQLITE_OK) {
    sqlite3_result_int64(ctx, after.completed);
  }
}

int nxm_register_append(sqlite3 *db, NxmConnection *conn) {
  /* DIRECTONLY: it writes, so a trigger or view planted in an untrusted database must not
  ** call it. */
  nxm_connection_ref(conn);
  return sqlite3_create_function_v2(db, FUNCTION, -1, SQLITE_UTF8 | SQLITE_DIRECTONLY, conn,
                                    wal_append, 0, 0, nxm_connection_unref);
}
