/*
** statement_cursor.c: the cursor both nxm virtual tables share. A cursor walks the rows of one
** prepared statement: the connection's cached copy, or a private copy when the cached one is
** already walked by another cursor (a self-join). The modules differ only in their xConnect,
** xBestIndex and xFilter.
*/
#include <string.h>

#include "nxm_vtab.h"

int nxm_cursor_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out) {
  NxmCursor *cursor = sqlite3_malloc(sizeof(*cursor));
  if (cursor == 0) {
    return SQLITE_NOMEM;
  }
  memset(cursor, 0, sizeof(*cursor));
  cursor->eof = 1;
  ((NxmVtab *)vtab)->conn->open_cursors++;
  *out = &cursor->base;
  return SQLITE_OK;
}

static void release_statement(NxmCursor *cursor) {
  if (cursor->stmt == 0) {
    return;
  }
  if (cursor->private_copy) {
    sqlite3_finalize(cursor->stmt);
  } else {
    nxm_statement_done(((NxmVtab *)cursor->base.pVtab)->conn, cursor->stmt);
  }
  cursor->stmt = 0;
  cursor->private_copy = 0;
}

int nxm_cursor_close(sqlite3_vtab_cursor *base) {
  release_statement((NxmCursor *)base);
  ((NxmVtab *)base->pVtab)->conn->open_cursors--;
  sqlite3_free(base);
  return SQLITE_OK;
}

/* Points the cursor at statement `id`, ready for binding. */
int nxm_cursor_prepare(NxmCursor *cursor, NxmStatementId id) {
  NxmConnection *conn = ((NxmVtab *)cursor->base.pVtab)->conn;
  release_statement(cursor);
  cursor->eof = 1;
  cursor->rowid = 0;
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, id, &stmt);
  if (rc == SQLITE_OK && sqlite3_stmt_busy(stmt)) {
    rc = sqlite3_prepare_v2(conn->db, sqlite3_sql(stmt), -1, &cursor->stmt, 0);
    cursor->private_copy = 1;
    return rc;
  }
  cursor->stmt = stmt;
  return rc;
}

int nxm_cursor_next(sqlite3_vtab_cursor *base) {
  NxmCursor *cursor = (NxmCursor *)base;
  int rc = sqlite3_step(cursor->stmt);
  if (rc == SQLITE_ROW) {
    cursor->rowid++;
    cursor->eof = 0;
    return SQLITE_OK;
  }
  cursor->eof = 1;
  rc = rc == SQLITE_DONE ? SQLITE_OK : sqlite3_reset(cursor->stmt);
  if (rc != SQLITE_OK) {
    rc = nxm_vtab_fail(base->pVtab, rc, 0);
  }
  release_statement(cursor);
  return rc;
}

int nxm_cursor_eof(sqlite3_vtab_cursor *base) {
  return ((NxmCursor *)base)->eof;
}

int nxm_cursor_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int column) {
  NxmCursor *cursor = (NxmCursor *)base;
  if (column < sqlite3_column_count(cursor->stmt)) {
    sqlite3_result_value(ctx, sqlite3_column_value(cursor->stmt, column));
  }
  return SQLITE_OK;
}

int nxm_cursor_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
  *rowid = ((NxmCursor *)base)->rowid;
  return SQLITE_OK;
}

/* Passes on an error of SQLite's with its code, the table named: "nxm_progress: disk I/O error".
** `message` 0 takes the connection's. Out of memory is a code, not a message. */
int nxm_vtab_fail(sqlite3_vtab *base, int rc, const char *message) {
  NxmVtab *vtab = (NxmVtab *)base;
  if ((rc & 0xff) == SQLITE_NOMEM) {
    return SQLITE_NOMEM;
  }
  sqlite3_free(base->zErrMsg);
  base->zErrMsg =
      sqlite3_mprintf("%s: %s%s", vtab->name, message ? message : sqlite3_errmsg(vtab->conn->db),
                      nxm_read_hint(rc));
  return base->zErrMsg ? rc : SQLITE_NOMEM;
}

/* Sets the table's error message, as xFilter must, and returns SQLITE_ERROR. */
int nxm_vtab_error(sqlite3_vtab *vtab, const char *format, ...) {
  va_list args;
  va_start(args, format);
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = sqlite3_vmprintf(format, args);
  va_end(args);
  return vtab->zErrMsg ? SQLITE_ERROR : SQLITE_NOMEM;
}

/* Declares the table and makes its object, which holds a reference to the connection's state: the
** state must outlive the table even when the extension is loaded again and its first registration
** is dropped. */
int nxm_vtab_connect(sqlite3 *db, void *conn, const char *name, const char *declaration,
                     sqlite3_vtab **out) {
  int rc = sqlite3_declare_vtab(db, declaration);
  if (rc != SQLITE_OK) {
    return rc;
  }
  NxmVtab *vtab = sqlite3_malloc(sizeof(*vtab));
  if (vtab == 0) {
    return SQLITE_NOMEM;
  }
  memset(vtab, 0, sizeof(*vtab));
  vtab->conn = conn;
  vtab->name = name;
  nxm_connection_ref(vtab->conn);
  *out = &vtab->base;
  return SQLITE_OK;
}

int nxm_vtab_disconnect(sqlite3_vtab *base) {
  NxmVtab *vtab = (NxmVtab *)base;
  nxm_connection_unref(vtab->conn);
  sqlite3_free(vtab);
  return SQLITE_OK;
}
