/*
** nxm.c: the entry point of nxm, crash-safe progress tables for long N×M executions.
**
** Load it into a connection and every result of an execution becomes one row committed through
** SQLite's WAL:
**
**   sqlite3 shell:  .load build/nxm
**   Python:         conn.enable_load_extension(True); conn.load_extension("build/nxm")
**   linked in:      sqlite3_auto_extension((void (*)(void))sqlite3_nxm_init)
**                   (compile the ext/ sources with -DSQLITE_CORE into the application)
**
** SQL surface (each file of ext/ opens with the details of its part):
**   nxm_wal_append(execution_id, result [, completed [, total [, brand [, model [, task_id]]]]])
**                                             append.c   one result, one row; returns completed
**   nxm_wal_begin(execution_id, tasks)        plan.c     record the plan; returns total
**   nxm_recover(execution_id [, max_age_hours])
**                                             recover.c  the pickle-shaped JSON, or NULL
**   nxm_cleanup([max_age_hours]), nxm_ttl([hours])
**                                             cleanup.c  TTL sweep by hand, and the TTL itself
**   nxm_progress                              progress.c one row per execution
**   nxm_pending(execution_id)                 pending.c  planned tasks without a result
**   nxm_version()                             here       the version of this build
**
** The tables live in the main database, are created by the first write (schema.c, from
** sql/schema.sql) and stay readable by a plain sqlite3 shell. Nothing here prints: errors come back
** through SQLite.
*/
#include "nxm.h"
#include "version.h"

SQLITE_EXTENSION_INIT1

static void version(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  sqlite3_result_text(ctx, NXM_VERSION, -1, SQLITE_STATIC);
}

#ifdef _WIN32
#define NXM_EXPORT __declspec(dllexport)
#else
#define NXM_EXPORT __attribute__((visibility("default")))
#endif
NXM_EXPORT int sqlite3_nxm_init(sqlite3 *db, char **error, const sqlite3_api_routines *api);

NXM_EXPORT int sqlite3_nxm_init(sqlite3 *db, char **error, const sqlite3_api_routines *api) {
  SQLITE_EXTENSION_INIT2(api);

  if (sqlite3_libversion_number() < NXM_MIN_SQLITE_VERSION_NUMBER) {
    *error = sqlite3_mprintf("nxm " NXM_VERSION " needs SQLite " NXM_MIN_SQLITE_VERSION
                             " or newer; this process runs SQLite %s",
                             sqlite3_libversion());
    return SQLITE_ERROR;
  }

  NxmConnection *conn = nxm_connection_new(db);
  if (conn == 0) {
    return SQLITE_NOMEM;
  }
  /* DETERMINISTIC and INNOCUOUS: a constant with no side effect, safe anywhere, even in a
  ** schema. */
  int rc = sqlite3_create_function_v2(db, "nxm_version", 0,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, 0,
                                      version, 0, 0, 0);
  if (rc == SQLITE_OK)
    rc = nxm_register_append(db, conn);
  if (rc == SQLITE_OK)
    rc = nxm_register_plan(db, conn);
  if (rc == SQLITE_OK)
    rc = nxm_register_recover(db, conn);
  if (rc == SQLITE_OK)
    rc = nxm_register_cleanup(db, conn);
  if (rc == SQLITE_OK)
    rc = nxm_register_progress(db, conn);
  if (rc == SQLITE_OK)
    rc = nxm_register_pending(db, conn);
  nxm_connection_unref(conn); /* the registrations hold their own references */
  if (rc != SQLITE_OK) {
    *error = sqlite3_mprintf("nxm: cannot register its functions: %s", sqlite3_errmsg(db));
  }
  return rc;
}
