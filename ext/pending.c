/*
** pending.c: nxm_pending(execution_id), a table-valued function over the plan.
**
**   SELECT task_id FROM nxm_pending('e1');
**
** One row per planned task that has no result yet, in plan order: exactly the AI calls a restarted
** backend still has to make. No rows for an unknown execution or one without a plan.
*/
#include <string.h>

#include "nxm_vtab.h"

enum { COLUMN_TASK_ID = 0, COLUMN_EXECUTION_ID = 1 };

static int pending_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                           sqlite3_vtab **out, char **error) {
  (void)argc;
  (void)argv;
  (void)error;
  return nxm_vtab_connect(db, aux, "nxm_pending",
                          "CREATE TABLE x(task_id TEXT, execution_id HIDDEN)", out);
}

/* The execution_id argument is required: without it the plan is refused with a message, and
** while it is not yet usable (a join order that has not bound it) the plan is declined with
** SQLITE_CONSTRAINT. */
static int pending_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  int seen = 0;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *constraint = &info->aConstraint[i];
    if (constraint->iColumn != COLUMN_EXECUTION_ID ||
        constraint->op != SQLITE_INDEX_CONSTRAINT_EQ) {
      continue;
    }
    seen = 1;
    if (constraint->usable) {
      info->aConstraintUsage[i].argvIndex = 1;
      info->aConstraintUsage[i].omit = 1;
      info->estimatedCost = 100;
      info->estimatedRows = 100;
      if (info->nOrderBy == 0) {
        info->orderByConsumed = 1;
      }
      return SQLITE_OK;
    }
  }
  if (seen) {
    return SQLITE_CONSTRAINT;
  }
  return nxm_vtab_error(vtab, "nxm_pending: takes an execution_id argument: "
                              "SELECT task_id FROM nxm_pending('execution id')");
}

static int pending_filter(sqlite3_vtab_cursor *base, int plan, const char *plan_text, int argc,
                          sqlite3_value **argv) {
  (void)plan;
  (void)plan_text;
  NxmCursor *cursor = (NxmCursor *)base;
  NxmConnection *conn = ((NxmVtab *)base->pVtab)->conn;
  cursor->eof = 1;
  if (argc < 1 || sqlite3_value_type(argv[0]) != SQLITE_TEXT || sqlite3_value_bytes(argv[0]) == 0) {
    return nxm_vtab_error(base->pVtab, "nxm_pending: execution_id must be non-empty text");
  }
  int present = 0;
  char *message = 0;
  int rc = nxm_schema_ensure(conn, 0, 0, &present, &message);
  if (rc != SQLITE_OK) {
    rc = nxm_vtab_fail(base->pVtab, rc, message);
    sqlite3_free(message);
    return rc;
  }
  if (!present) {
    return SQLITE_OK;
  }
  rc = nxm_cursor_prepare(cursor, NXM_SQL_PENDING_TASKS);
  if (rc != SQLITE_OK) {
    return nxm_vtab_fail(base->pVtab, rc, 0);
  }
  sqlite3_bind_value(cursor->stmt, 1, argv[0]);
  return nxm_cursor_next(base);
}

static sqlite3_module pending_module = {
    .iVersion = 0,
    .xCreate = 0, /* eponymous only */
    .xConnect = pending_connect,
    .xBestIndex = pending_best_index,
    .xDisconnect = nxm_vtab_disconnect,
    .xDestroy = nxm_vtab_disconnect,
    .xOpen = nxm_cursor_open,
    .xClose = nxm_cursor_close,
    .xFilter = pending_filter,
    .xNext = nxm_cursor_next,
    .xEof = nxm_cursor_eof,
    .xColumn = nxm_cursor_column,
    .xRowid = nxm_cursor_rowid,
};

int nxm_register_pending(sqlite3 *db, NxmConnection *conn) {
  nxm_connection_ref(conn);
  return sqlite3_create_module_v2(db, "nxm_pending", &pending_module, conn, nxm_connection_unref);
}
