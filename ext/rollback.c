/*
** rollback.c: how nxm ends a transaction or savepoint of its own when SQLite refuses a plain
** ROLLBACK, and how a connection gets back what could not be ended at all.
**
** An interrupt (sqlite3_interrupt(), a progress handler) or a failed allocation inside the caller's
** statement stays in force until that statement ends: ROLLBACK is then refused, and so is preparing
** any statement, or re-preparing one that a schema change has expired. SQLite itself rolls back the
** whole transaction when a writing statement is interrupted, so a "force_rollback", a statement
** that would write only the temp database's header, is prepared before the transaction begins and
** stepped to make it do so. Inside the caller's transaction that takes the caller's work with it,
** as SQLite does for any interrupted write.
**
** One case is left: an interrupt or a failed allocation after a call created the schema and before
** it could prepare a new force_rollback (creating tables expires the old one). Nothing can end that
** transaction until the caller's statement ends. It holds only part of the schema, since no row is
** written before a fresh force_rollback is ready, and schema.c treats such a part as a new database
** whoever commits it. The connection remembers it as stranded, and the next nxm call that opens a
** transaction ends it first, if it is still the same one: the savepoint nxm_schema, opened around
** the creation, is then still there. A transaction of nxm's own is committed, so that whatever the
** application ran meanwhile, believing it autocommitted, is kept; in the caller's transaction the
** savepoints are released, the caller's transaction going on with its later work. If the
** application has ended the transaction since, there is nothing left to do.
*/
#include "nxm.h"

int nxm_force_rollback_prepare(NxmConnection *conn, sqlite3_stmt **force_rollback) {
  sqlite3_stmt *fresh = 0;
  int rc = sqlite3_prepare_v2(conn->db, "PRAGMA temp.user_version = 0", -1, &fresh, 0);
  if (rc == SQLITE_OK) {
    sqlite3_finalize(*force_rollback);
    *force_rollback = fresh;
  }
  return rc;
}

void nxm_roll_back(NxmConnection *conn, sqlite3_stmt *force_rollback, int own_transaction) {
  sqlite3 *db = conn->db;
  if (sqlite3_get_autocommit(db)) {
    return; /* SQLite has already rolled the transaction back */
  }
  if (own_transaction) {
    if (nxm_run(conn, NXM_SQL_ROLLBACK) == SQLITE_OK) {
      return;
    }
  } else if (nxm_run(conn, NXM_SQL_ROLLBACK_TO) == SQLITE_OK) {
    nxm_run(conn, NXM_SQL_RELEASE);
    return;
  }
  if (force_rollback != 0) {
    sqlite3_step(force_rollback);
    sqlite3_reset(force_rollback);
  }
  if (!sqlite3_get_autocommit(db) && own_transaction) {
    nxm_run(conn, NXM_SQL_ROLLBACK);
  }
  if (!sqlite3_get_autocommit(db)) {
    conn->stranded = own_transaction ? NXM_STRANDED_TRANSACTION : NXM_STRANDED_SAVEPOINT;
  }
}

int nxm_end_stranded(NxmConnection *conn) {
  if (conn->stranded == 0) {
    return SQLITE_OK;
  }
  if (sqlite3_get_autocommit(conn->db)) {
    conn->stranded = 0; /* the application has ended it */
    return SQLITE_OK;
  }
  int rc = nxm_run(conn, NXM_SQL_RELEASE_SCHEMA);
  if (rc == SQLITE_ERROR) {
    conn->stranded = 0; /* no such savepoint: ended since, and this is another transaction */
    return SQLITE_OK;
  }
  if (rc == SQLITE_OK) {
    rc = nxm_run(conn,
                 conn->stranded == NXM_STRANDED_TRANSACTION ? NXM_SQL_COMMIT : NXM_SQL_RELEASE);
  }
  if (rc == SQLITE_OK) {
    conn->stranded = 0;
  }
  return rc;
}
