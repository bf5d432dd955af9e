/*
** write_scope.c: how every writing function holds the write lock for exactly the span of its work.
**
** In autocommit mode the call opens its own BEGIN IMMEDIATE: the write lock is taken before
** anything is read, so the busy handler (busy_timeout) waits out other writers and no
** read-then-write upgrade can fail with SQLITE_BUSY. Inside the caller's transaction the call runs
** in a savepoint, so a failed call undoes only itself, and takes the write lock with a statement
** that writes nothing before it reads, for the same reason. Either way the schema is checked (and
** created on a fresh database) inside the same transaction as the write, so dozens of first
** callers create it once.
**
** The first write made outside a transaction also switches the database to journal_mode=WAL; SQLite
** refuses that switch inside a transaction, so it is retried at the next call made outside one.
*/
#include <string.h>

#include "nxm.h"

/* Best effort: a failure here leaves the journal mode as it was and the write goes on. */
static void switch_to_wal(NxmConnection *conn) {
  sqlite3_stmt *stmt = 0;
  if (sqlite3_prepare_v2(conn->db, "PRAGMA main.journal_mode = WAL", -1, &stmt, 0) != SQLITE_OK) {
    return;
  }
  /* A row is SQLite's answer: 'wal', or the mode it keeps because this database cannot be
  ** WAL (an in-memory one, say). Either way there is nothing to retry; only an error (a lock)
  ** is. */
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    conn->wal_checked = 1;
  }
  sqlite3_finalize(stmt);
}

/* The advice for a write lock that could not be had without waiting. */
static void busy_error(sqlite3_context *ctx, int rc, const char *function, int own_transaction) {
  if (own_transaction) {
    nxm_error(ctx, rc, function,
              "another connection is writing and this connection holds a read snapshot (an "
              "unfinished statement, or the FROM of this one); finish other statements first, "
              "or take the write lock first with BEGIN IMMEDIATE");
  } else {
    nxm_error(ctx, rc, function,
              "another connection is writing and this transaction has already read; "
              "start it with BEGIN IMMEDIATE");
  }
}

/* Takes the write lock inside the caller's transaction before anything is read. Without nxm's
** tables there is nothing to write to yet, and creating them is the first write anyway. */
static int take_write_lock(NxmConnection *conn) {
  sqlite3_stmt *stmt = 0;
  if (nxm_statement(conn, NXM_SQL_TAKE_WRITE_LOCK, &stmt) != SQLITE_OK) {
    return SQLITE_OK;
  }
  return nxm_statement_run(conn, stmt);
}

int nxm_write_begin(sqlite3_context *ctx, NxmConnection *conn, const char *function,
                    NxmWriteScope *scope) {
  sqlite3 *db = conn->db;
  memset(scope, 0, sizeof(*scope));

  if (sqlite3_db_readonly(db, "main") == 1) {
    nxm_error(ctx, SQLITE_READONLY, function,
              "the database is read-only (opened with mode=ro or without write permission)");
    return SQLITE_READONLY;
  }
  if (!nxm_same_process(ctx, conn, function)) {
    return SQLITE_MISUSE;
  }
  if (conn->open_cursors > 0) {
    /* The scan would meet the rows this call writes, and could go on forever. */
    nxm_error(ctx, SQLITE_MISUSE, function,
              "cannot write while nxm_progress or nxm_pending is being read on the same "
              "connection; read their rows to the end first");
    return SQLITE_MISUSE;
  }

  int rc = nxm_end_stranded(conn);
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, function);
    return rc;
  }

  int state = sqlite3_txn_state(db, "main");
  if (sqlite3_get_autocommit(db) && state == SQLITE_TXN_WRITE) {
    /* Autocommit yet writing: we are inside the caller's INSERT, UPDATE or DELETE, whose
    ** transaction nxm could neither commit nor roll back on its own. */
    nxm_error(ctx, SQLITE_MISUSE, function,
              "cannot run inside INSERT, UPDATE, DELETE or a trigger; call it from a SELECT");
    return SQLITE_MISUSE;
  }

  /* Prepared now, while it still can be: see rollback.c. */
  rc = nxm_force_rollback_prepare(conn, &scope->force_rollback);
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, function);
    return rc;
  }

  if (sqlite3_get_autocommit(db)) {
    if (!conn->wal_checked && state == SQLITE_TXN_NONE) {
      switch_to_wal(conn);
    }
    scope->own_transaction = 1;
    rc = nxm_run(conn, NXM_SQL_BEGIN_IMMEDIATE);
  } else {
    rc = nxm_run(conn, NXM_SQL_SAVEPOINT);
    scope->savepoint_open = rc == SQLITE_OK;
    if (rc == SQLITE_OK && state != SQLITE_TXN_WRITE) {
      rc = take_write_lock(conn);
    }
  }
  if (rc != SQLITE_OK) {
    /* The message first: rolling back resets the connection's error. */
    if ((rc & 0xff) == SQLITE_BUSY && state == SQLITE_TXN_READ) {
      busy_error(ctx, rc, function, scope->own_transaction);
    } else if (strstr(sqlite3_errmsg(db), "in progress") != 0) {
      nxm_error(ctx, SQLITE_MISUSE, function,
                "cannot run inside INSERT, UPDATE, DELETE or a trigger; call it from a SELECT");
    } else {
      nxm_error_from_db(ctx, conn, rc, function);
    }
    if (scope->own_transaction || scope->savepoint_open) {
      nxm_roll_back(conn, scope->force_rollback, scope->own_transaction);
    }
    sqlite3_finalize(scope->force_rollback);
    return rc;
  }

  int present = 0;
  char *message = 0;
  int cookie = conn->schema_cookie;
  rc = nxm_schema_ensure(conn, 1, &scope->force_rollback, &present, &message);
  if (rc == SQLITE_OK && conn->schema_cookie != cookie) {
    /* The schema changed (this call may have created it), which expires prepared statements. */
    rc = nxm_force_rollback_prepare(conn, &scope->force_rollback);
  }
  if (rc != SQLITE_OK) {
    if (message != 0) {
      nxm_error(ctx, rc, function, "%s", message);
      sqlite3_free(message);
    } else {
      nxm_error_from_db(ctx, conn, rc, function);
    }
    return nxm_write_end(ctx, conn, function, scope, rc);
  }
  return SQLITE_OK;
}

/*
** Ends the scope: commits (or releases) when rc is SQLITE_OK, otherwise rolls back what the call
** wrote. The caller has set the error for a failing rc; a failing commit sets its own. Returns the
** final code.
*/
int nxm_write_end(sqlite3_context *ctx, NxmConnection *conn, const char *function,
                  NxmWriteScope *scope, int rc) {
  if (rc == SQLITE_OK) {
    rc = nxm_run(conn, scope->own_transaction ? NXM_SQL_COMMIT : NXM_SQL_RELEASE);
    if (rc == SQLITE_OK) {
      sqlite3_finalize(scope->force_rollback);
      return SQLITE_OK;
    }
    nxm_error_from_db(ctx, conn, rc, function);
  } else if ((rc & 0xff) == SQLITE_BUSY && !scope->own_transaction) {
    busy_error(ctx, rc, function, 0);
  }
  nxm_roll_back(conn, scope->force_rollback, scope->own_transaction);
  sqlite3_finalize(scope->force_rollback);
  return rc;
}
