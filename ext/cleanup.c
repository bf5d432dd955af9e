/*
** cleanup.c: the TTL and the sweep.
**
**   nxm_cleanup([max_age_hours])  deletes every execution whose latest append is older than
**                                 max_age_hours (default: the TTL), with its results and plan, and
**                                 returns how many executions it removed.
**   nxm_ttl([hours])              returns the database's TTL in hours; with an argument, sets it.
**
** The TTL lives in the settings row nxm_meta('ttl_hours'), 24 by default, so plain SQL can read and
** change it too. The same TTL drives the sweep trigger in sql/schema.sql. Deletion goes through the
** index on updated_at, so a cleanup that finds nothing old costs a few index probes.
*/
#include "nxm.h"

#define DEFAULT_TTL_HOURS 24.0

/* The TTL in hours; the default when the database has no nxm tables yet. */
int nxm_ttl_hours(NxmConnection *conn, int present, double *hours) {
  *hours = DEFAULT_TTL_HOURS;
  if (!present) {
    return SQLITE_OK;
  }
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, NXM_SQL_TTL_GET, &stmt);
  if (rc != SQLITE_OK) {
    return rc;
  }
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    /* Anything but a non-negative number (the schema's CHECK refuses it, but a file can be
    ** edited) reads as the default, as in the sweep trigger. */
    int type = sqlite3_column_type(stmt, 0);
    if ((type == SQLITE_INTEGER || type == SQLITE_FLOAT) && sqlite3_column_double(stmt, 0) >= 0) {
      *hours = sqlite3_column_double(stmt, 0);
    }
    rc = SQLITE_OK;
  } else {
    rc = rc == SQLITE_DONE ? SQLITE_OK : sqlite3_reset(stmt);
  }
  nxm_statement_done(conn, stmt);
  return rc;
}

static void cleanup(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  static const char *const FUNCTION = "nxm_cleanup";
  NxmConnection *conn = sqlite3_user_data(ctx);
  double hours = -1;
  if (argc > 1) {
    nxm_error(ctx, SQLITE_MISUSE, FUNCTION, "takes 0 or 1 argument ([max_age_hours]), got %d",
              argc);
    return;
  }
  if (argc == 1 && sqlite3_value_type(argv[0]) != SQLITE_NULL &&
      !nxm_arg_hours(ctx, FUNCTION, argv[0], "max_age_hours", &hours)) {
    return;
  }
  NxmWriteScope scope;
  if (nxm_write_begin(ctx, conn, FUNCTION, &scope) != SQLITE_OK) {
    return;
  }

  int rc = hours < 0 ? nxm_ttl_hours(conn, 1, &hours) : SQLITE_OK;
  sqlite3_int64 removed = 0;
  sqlite3_stmt *stmt = 0;
  if (rc == SQLITE_OK) {
    rc = nxm_statement(conn, NXM_SQL_CLEANUP, &stmt);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_double(stmt, 1, nxm_now(conn) - hours * 3600.0);
    rc = nxm_statement_run(conn, stmt);
    /* Rows of the DELETE itself; what its trigger deletes is not counted. (Not RETURNING: that
    ** makes SQLite build a table for the rows on every call, six times the cost of an idle
    ** cleanup.) */
    removed = rc == SQLITE_OK ? sqlite3_changes64(conn->db) : 0;
  }
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
  }
  if (nxm_write_end(ctx, conn, FUNCTION, &scope, rc) == SQLITE_OK) {
    sqlite3_result_int64(ctx, removed);
  }
}

static void ttl(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  static const char *const FUNCTION = "nxm_ttl";
  NxmConnection *conn = sqlite3_user_data(ctx);
  double hours = 0;
  if (argc > 1) {
    nxm_error(ctx, SQLITE_MISUSE, FUNCTION, "takes 0 or 1 argument ([hours]), got %d", argc);
    return;
  }
  if (argc == 0) {
    int present = 0;
    char *message = 0;
    int rc = nxm_schema_ensure(conn, 0, 0, &present, &message);
    if (rc == SQLITE_OK) {
      rc = nxm_ttl_hours(conn, present, &hours);
    }
    if (rc == SQLITE_OK) {
      sqlite3_result_double(ctx, hours);
    } else if (message != 0) {
      nxm_error(ctx, rc, FUNCTION, "%s", message);
    } else {
      nxm_error_from_db(ctx, conn, rc, FUNCTION);
    }
    sqlite3_free(message);
    return;
  }

  if (!nxm_arg_hours(ctx, FUNCTION, argv[0], "hours", &hours)) {
    return;
  }
  NxmWriteScope scope;
  if (nxm_write_begin(ctx, conn, FUNCTION, &scope) != SQLITE_OK) {
    return;
  }
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, NXM_SQL_TTL_SET, &stmt);
  if (rc == SQLITE_OK) {
    sqlite3_bind_double(stmt, 1, hours);
    rc = nxm_statement_run(conn, stmt);
  }
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
  }
  if (nxm_write_end(ctx, conn, FUNCTION, &scope, rc) == SQLITE_OK) {
    sqlite3_result_double(ctx, hours);
  }
}

int nxm_register_cleanup(sqlite3 *db, NxmConnection *conn) {
  /* DIRECTONLY: both may write, so a trigger or view planted in an untrusted database must not call
  ** them. */
  nxm_connection_ref(conn);
  int rc = sqlite3_create_function_v2(db, "nxm_cleanup", -1, SQLITE_UTF8 | SQLITE_DIRECTONLY, conn,
                                      cleanup, 0, 0, nxm_connection_unref);
  if (rc == SQLITE_OK) {
    nxm_connection_ref(conn);
    rc = sqlite3_create_function_v2(db, "nxm_ttl", -1, SQLITE_UTF8 | SQLITE_DIRECTONLY, conn, ttl,
                                    0, 0, nxm_connection_unref);
  }
  return rc;
}
