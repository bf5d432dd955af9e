/*
** progress.c: nxm_progress, an eponymous read-only virtual table with one row per execution.
**
**   SELECT * FROM nxm_progress;                          -- every execution, by execution_id
**   SELECT * FROM nxm_progress WHERE execution_id = ?;   -- one, through the primary key
**
** Columns: execution_id, state ('running', 'complete' or 'expired'), completed, total, percent,
** pending (planned tasks without a result; NULL without a plan), brand, model, created_at,
** updated_at and expires_at (ISO-8601, UTC). 'expired' wins over 'complete': it means the next
** sweep removes it.
**
** Its xDisconnect is also where the connection's statement cache is finalized (see connection.c).
*/
#include <string.h>

#include "nxm_vtab.h"

enum { COLUMN_EXECUTION_ID = 0 };
enum { PLAN_SCAN = 0, PLAN_LOOKUP = 1 };

static int progress_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                            sqlite3_vtab **out, char **error) {
  (void)argc;
  (void)argv;
  (void)error;
  int rc = nxm_vtab_connect(
      db, aux, "nxm_progress",
      "CREATE TABLE x(execution_id TEXT, state TEXT, completed INTEGER, total INTEGER, "
      "percent REAL, pending INTEGER, brand TEXT, model TEXT, created_at TEXT, "
      "updated_at TEXT, expires_at TEXT)",
      out);
  if (rc == SQLITE_OK) {
    ((NxmConnection *)aux)->armed = 1;
  }
  return rc;
}

static int progress_disconnect(sqlite3_vtab *base) {
  nxm_connection_forget_statements(((NxmVtab *)base)->conn);
  return nxm_vtab_disconnect(base);
}

/* idxNum PLAN_LOOKUP: `execution_id = ?` is consumed and answered through the primary key, when
** it compares as the key does (BINARY); `= ? COLLATE NOCASE` is left to SQLite over a scan.
** idxNum PLAN_SCAN: every execution, in execution_id order (so that ORDER BY costs nothing). */
static int progress_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  (void)vtab;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *constraint = &info->aConstraint[i];
    if (constraint->usable && constraint->iColumn == COLUMN_EXECUTION_ID &&
        constraint->op == SQLITE_INDEX_CONSTRAINT_EQ &&
        sqlite3_stricmp(sqlite3_vtab_collation(info, i), "BINARY") == 0) {
      info->aConstraintUsage[i].argvIndex = 1;
      info->aConstraintUsage[i].omit = 1;
      info->idxNum = PLAN_LOOKUP;
      info->estimatedCost = 10;
      info->estimatedRows = 1;
      info->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
      info->orderByConsumed = 1;
      return SQLITE_OK;
    }
  }
  info->idxNum = PLAN_SCAN;
  info->estimatedCost = 1000000;
  info->estimatedRows = 100000;
  if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == COLUMN_EXECUTION_ID &&
      !info->aOrderBy[0].desc) {
    info->orderByConsumed = 1;
  }
  return SQLITE_OK;
}

static int progress_filter(sqlite3_vtab_cursor *base, int plan, const char *plan_text, int argc,
                           sqlite3_value **argv) {
  (void)plan_text;
  (void)argc;
  NxmCursor *cursor = (NxmCursor *)base;
  NxmConnection *conn = ((NxmVtab *)base->pVtab)->conn;
  int present = 0;
  char *message = 0;
  double ttl_hours = 0;
  int rc = nxm_schema_ensure(conn, 0, 0, &present, &message);
  if (rc != SQLITE_OK) {
    rc = nxm_vtab_fail(base->pVtab, rc, message);
    sqlite3_free(message);
    return rc;
  }
  cursor->eof = 1;
  if (!present) {
    return SQLITE_OK;
  }
  rc = nxm_ttl_hours(conn, present, &ttl_hours);
  if (rc == SQLITE_OK) {
    rc = nxm_cursor_prepare(cursor,
                            plan == PLAN_LOOKUP ? NXM_SQL_PROGRESS_ONE : NXM_SQL_PROGRESS_ALL);
  }
  if (rc != SQLITE_OK) {
    return nxm_vtab_fail(base->pVtab, rc, 0);
  }
  sqlite3_bind_double(cursor->stmt, 1, nxm_now(conn));
  sqlite3_bind_double(cursor->stmt, 2, ttl_hours * 3600.0);
  if (plan == PLAN_LOOKUP) {
    sqlite3_bind_value(cursor->stmt, 3, argv[0]);
  }
  return nxm_cursor_next(base);
}

static sqlite3_module progress_module = {
    .iVersion = 0,
    .xCreate = 0, /* eponymous only: CREATE VIRTUAL TABLE ... USING nxm_progress is refused */
    .xConnect = progress_connect,
    .xBestIndex = progress_best_index,
    .xDisconnect = progress_disconnect,
    .xDestroy = progress_disconnect,
    .xOpen = nxm_cursor_open,
    .xClose = nxm_cursor_close,
    .xFilter = progress_filter,
    .xNext = nxm_cursor_next,
    .xEof = nxm_cursor_eof,
    .xColumn = nxm_cursor_column,
    .xRowid = nxm_cursor_rowid,
};

int nxm_register_progress(sqlite3 *db, NxmConnection *conn) {
  nxm_connection_ref(conn);
  return sqlite3_create_module_v2(db, "nxm_progress", &progress_module, conn, nxm_connection_unref);
}
