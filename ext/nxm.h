/*
** nxm.h: what the files of the extension share.
**
** One NxmConnection exists per database connection that loaded nxm. It owns the prepared statements
** the functions reuse, the result of the last schema check, and a reference count: every function
** and module registered with it holds one reference and gives it back in its destructor.
**
** Prepared statements that outlive a call are finalized when SQLite disconnects the nxm_progress
** virtual table, which sqlite3_close() does before it checks for unfinalized statements. A
** statement is cached only while that table is connected ("armed"), so nothing is left for the user
** to free.
*/
#ifndef NXM_H
#define NXM_H

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

/* Caps, checked before any allocation proportional to the input. */
#define NXM_MAX_ID_BYTES 1024      /* execution_id and task_id */
#define NXM_MAX_LABEL_BYTES 1024   /* brand and model */
#define NXM_MAX_PLAN_TASKS 1000000 /* tasks in one plan */

/* Every statement nxm prepares, by name; the SQL lives in connection.c. */
typedef enum NxmStatementId {
  NXM_SQL_BEGIN_IMMEDIATE,
  NXM_SQL_COMMIT,
  NXM_SQL_ROLLBACK,
  NXM_SQL_SAVEPOINT,
  NXM_SQL_RELEASE,
  NXM_SQL_SAVEPOINT_SCHEMA,
  NXM_SQL_RELEASE_SCHEMA,
  NXM_SQL_ROLLBACK_TO,
  NXM_SQL_TAKE_WRITE_LOCK,
  NXM_SQL_SCHEMA_COOKIE,
  NXM_SQL_JSON_VALID,
  NXM_SQL_EXECUTION_GET,
  NXM_SQL_EXECUTION_INSERT,
  NXM_SQL_EXECUTION_UPDATE,
  NXM_SQL_RESULT_EXISTS,
  NXM_SQL_TASK_PLANNED,
  NXM_SQL_RESULT_INSERT,
  NXM_SQL_RESULT_REPLACE,
  NXM_SQL_JSON_IS_ARRAY,
  NXM_SQL_PLAN_ELEMENTS,
  NXM_SQL_PLAN_FIRST_DIFFERENCE,
  NXM_SQL_PLAN_INSERT,
  NXM_SQL_PLAN_ATTACH,
  NXM_SQL_RECOVER_HEADER,
  NXM_SQL_RECOVER_RESULTS,
  NXM_SQL_RECOVER_PENDING,
  NXM_SQL_PENDING_TASKS,
  NXM_SQL_CLEANUP,
  NXM_SQL_TTL_GET,
  NXM_SQL_TTL_SET,
  NXM_SQL_PROGRESS_ONE,
  NXM_SQL_PROGRESS_ALL,
  NXM_SQL_COUNT
} NxmStatementId;

typedef struct NxmConnection {
  sqlite3 *db;
  int references;
  int armed;              /* nxm_progress connected: statements may be cached */
  int open_cursors;       /* nxm_progress and nxm_pending cursors now open */
  long pid;               /* the process that loaded nxm into this connection */
  int wal_checked;        /* journal_mode=WAL is set, or cannot be */
  int schema_cookie;      /* schema_version at the last successful check */
  int schema_present;     /* nxm tables existed and matched at that check */
  char *expected_catalog; /* sqlite_schema rows schema.sql creates, as one string */
  char *v1_catalog;       /* the same for sql/history/schema_v1.sql */
  char *reserved_names;   /* the names it uses, and the virtual tables', as a JSON array */
  int stranded;           /* NXM_STRANDED_*: left open by a failed call, see rollback.c */
  sqlite3_stmt *statements[NXM_SQL_COUNT];
} NxmConnection;

/* How a writing call holds the write lock: its own BEGIN IMMEDIATE, or a savepoint in the caller's
** transaction. */
typedef struct NxmWriteScope {
  int own_transaction;
  int savepoint_open;
  sqlite3_stmt *force_rollback; /* see rollback.c */
} NxmWriteScope;

/* connection.c */
NxmConnection *nxm_connection_new(sqlite3 *db);
void nxm_connection_ref(NxmConnection *conn);
void nxm_connection_unref(void *conn);
void nxm_connection_forget_statements(NxmConnection *conn);
int nxm_statement(NxmConnection *conn, NxmStatementId id, sqlite3_stmt **out);
void nxm_statement_done(NxmConnection *conn, sqlite3_stmt *stmt);
int nxm_statement_finish(NxmConnection *conn, sqlite3_stmt *stmt, int step_rc);
int nxm_statement_run(NxmConnection *conn, sqlite3_stmt *stmt);
int nxm_run(NxmConnection *conn, NxmStatementId id);
double nxm_now(NxmConnection *conn);
int nxm_same_process(sqlite3_context *ctx, NxmConnection *conn, const char *function);
const char *nxm_read_hint(int rc);

/* errors.c */
void nxm_error(sqlite3_context *ctx, int code, const char *function, const char *format, ...);
void nxm_error_from_db(sqlite3_context *ctx, NxmConnection *conn, int code, const char *function);
int nxm_arg_text(sqlite3_context *ctx, const char *function, sqlite3_value **argv, int index,
                 const char *name, int required, int max_bytes, const char **out, int *out_bytes);
int nxm_arg_count(sqlite3_context *ctx, const char *function, sqlite3_int64 *out,
                  sqlite3_value **argv, int index, const char *name);
int nxm_arg_hours(sqlite3_context *ctx, const char *function, sqlite3_value *value,
                  const char *name, double *out);

/* rollback.c */
enum { NXM_STRANDED_TRANSACTION = 1, NXM_STRANDED_SAVEPOINT = 2 };
/* Prepares a new force_rollback into *force_rollback; on failure the one there stays. */
int nxm_force_rollback_prepare(NxmConnection *conn, sqlite3_stmt **force_rollback);
/* Ends nxm's own transaction (own_transaction) or its savepoint in the caller's, whatever SQLite
** refuses; what cannot be ended is marked stranded. force_rollback may be 0. */
void nxm_roll_back(NxmConnection *conn, sqlite3_stmt *force_rollback, int own_transaction);
/* Ends what an earlier call left stranded. Called first by every call that opens a transaction. */
int nxm_end_stranded(NxmConnection *conn);

/* write_scope.c */
int nxm_write_begin(sqlite3_context *ctx, NxmConnection *conn, const char *function,
                    NxmWriteScope *scope);
int nxm_write_end(sqlite3_context *ctx, NxmConnection *conn, const char *function,
                  NxmWriteScope *scope, int rc);

/* schema.c */
int nxm_schema_ensure(NxmConnection *conn, int create, sqlite3_stmt **force_rollback, int *present,
                      char **message);

/* utf8.c */
int nxm_utf8_invalid_at(const char *text, int bytes);

/* json_check.c */
int nxm_json_check(sqlite3_context *ctx, NxmConnection *conn, const char *function,
                   const char *name, const char *text, int bytes);

/* ttl.c */
int nxm_ttl_hours(NxmConnection *conn, int present, double *hours);

/* Registration, one per file. */
int nxm_register_append(sqlite3 *db, NxmConnection *conn);
int nxm_register_plan(sqlite3 *db, NxmConnection *conn);
int nxm_register_recover(sqlite3 *db, NxmConnection *conn);
int nxm_register_cleanup(sqlite3 *db, NxmConnection *conn);
int nxm_register_progress(sqlite3 *db, NxmConnection *conn);
int nxm_register_pending(sqlite3 *db, NxmConnection *conn);

#endif
