/*
** nxm_vtab.h: what nxm_progress and nxm_pending share: the table object, which knows the
** connection's nxm state, and a cursor over one prepared statement (statement_cursor.c).
*/
#ifndef NXM_VTAB_H
#define NXM_VTAB_H

#include <stdarg.h>

#include "nxm.h"

typedef struct NxmVtab {
  sqlite3_vtab base;
  NxmConnection *conn;
  const char *name; /* "nxm_progress" or "nxm_pending", for messages */
} NxmVtab;

typedef struct NxmCursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *stmt;
  int private_copy; /* stmt is this cursor's own, finalized on release */
  int eof;
  sqlite3_int64 rowid;
} NxmCursor;

int nxm_cursor_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out);
int nxm_cursor_close(sqlite3_vtab_cursor *cursor);
int nxm_cursor_prepare(NxmCursor *cursor, NxmStatementId id);
int nxm_cursor_next(sqlite3_vtab_cursor *cursor);
int nxm_cursor_eof(sqlite3_vtab_cursor *cursor);
int nxm_cursor_column(sqlite3_vtab_cursor *cursor, sqlite3_context *ctx, int column);
int nxm_cursor_rowid(sqlite3_vtab_cursor *cursor, sqlite3_int64 *rowid);
int nxm_vtab_error(sqlite3_vtab *vtab, const char *format, ...);
int nxm_vtab_fail(sqlite3_vtab *vtab, int rc, const char *message);
int nxm_vtab_connect(sqlite3 *db, void *conn, const char *name, const char *declaration,
                     sqlite3_vtab **out);
int nxm_vtab_disconnect(sqlite3_vtab *vtab);

#endif
