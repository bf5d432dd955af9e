/*
** calls.h: the nxm calls the I/O-fault and out-of-memory drivers fail at every step, the base
*database
** they run on, and what each call adds to the ledger once it has succeeded.
**
** Base database (calls_build_base): base-1 with five results; plan-1 with a plan of three tasks,
*one
** done; old-1..3 idle for two days, so that a cleanup or a new execution's sweep deletes them.
*/
#ifndef CALLS_H
#define CALLS_H

#include "harness.h"

typedef struct Call {
  const char *name;
  const char *prefix;          /* an error message must start with it; 0: SQLite's own words */
  const char *expect_error;    /* the call always fails, with a message starting so; 0: succeeds */
  void (*before)(sqlite3 *db); /* set-up on the connection, before any fault */
  void (*sql)(char *out, int out_bytes);
  void (*effect)(Ledger *ledger); /* what the call, once it succeeded, adds to the ledger */
  int fresh;                      /* runs on an empty database (the call creates the schema) */
} Call;

extern const Call calls[];
extern const int call_count;

/* Builds the base database at `path` and the ledger of what it holds. Exits on failure. */
void calls_build_base(const char *path, Ledger *ledger);

/* Makes DIR/work.db the database `call` starts from (a copy of DIR/base.db, or no file for a fresh
** call) and `ledger` what it holds; its path goes to `path`. Exits on failure. */
void calls_start_database(const Call *call, const char *dir, const Ledger *base_ledger, char *path,
                          int path_bytes, Ledger *ledger);

/* Readies `call` on the open `db`: reads the schema, runs call->before, and prepares the call's SQL
** (written to `sql`) into *stmt. Exits on failure. */
void calls_prepare(sqlite3 *db, const Call *call, char *sql, int sql_bytes, sqlite3_stmt **stmt);

/* Runs `sql` to the end; returns SQLITE_OK or the error code. */
int calls_step_all(sqlite3_stmt *stmt);

#endif
