/*
** calls.c: the calls of calls.h. Each builds its SQL with payloads from harness_payload(), so that
*the
** ledger check can recognise what it stored.
*/
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>

int calls_step_all(sqlite3_stmt *stmt) {
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void append_sql(char *out, int out_bytes, const char *execution, const char *task, int index,
                       const char *total) {
  char payload[HARNESS_PAYLOAD_BYTES];
  harness_payload(index, 0, payload);
  sqlite3_snprintf(out_bytes, out, "SELECT nxm_wal_append(%Q, %Q, NULL, %s, 'brand', 'model', %Q)",
                   execution, payload, total, task);
}

static void sql_append(char *out, int n) {
  append_sql(out, n, "base-1", "io-1", 7, "NULL");
}
static void effect_append(Ledger *l) {
  ledger_ack(l, "base-1", "io-1", 7, 0, 6);
}

/* A new execution: its INSERT also runs the TTL sweep trigger, which deletes old-1..3. */
static void sql_append_new(char *out, int n) {
  append_sql(out, n, "io-new", "t1", 8, "10");
}
static void effect_append_new(Ledger *l) {
  ledger_ack(l, "io-new", "t1", 8, 0, 1);
  ledger_gone(l, "old-");
}

/* The first call on an empty database: the schema is created in the same transaction. */
static void sql_append_fresh(char *out, int n) {
  append_sql(out, n, "fresh-1", "t1", 9, "3");
}
static void effect_append_fresh(Ledger *l) {
  ledger_ack(l, "fresh-1", "t1", 9, 0, 1);
}

/* Refused by validation; cJSON is asked where the JSON breaks (its only use in nxm). */
static void sql_append_invalid(char *out, int n) {
  sqlite3_snprintf(n, out,
                   "SELECT nxm_wal_append('base-1', '{\"a\":[1,2,{\"b\":', NULL, NULL, "
                   "NULL, NULL, 'bad')");
}

/* Every commit runs a checkpoint afterwards; its faults must not undo the committed append. */
static void before_autocheckpoint(sqlite3 *db) {
  harness_must(db, harness_exec(db, "PRAGMA wal_autocheckpoint = 1", 0), "wal_autocheckpoint");
}

static void sql_begin(char *out, int n) {
  sqlite3_snprintf(n, out, "SELECT nxm_wal_begin('io-plan', '[\"a\",\"b\",\"c\",\"d\"]')");
}
static void effect_begin(Ledger *l) {
  ledger_planned(l, "io-plan", 4);
}

static void sql_recover(char *out, int n) {
  sqlite3_snprintf(n, out, "SELECT json_array_length(nxm_recover('base-1'), '$.results')");
}

static void sql_cleanup(char *out, int n) {
  sqlite3_snprintf(n, out, "SELECT nxm_cleanup()");
}
static void effect_cleanup(Ledger *l) {
  ledger_gone(l, "old-");
}

static void sql_ttl(char *out, int n) {
  sqlite3_snprintf(n, out, "SELECT nxm_ttl(36)");
}

static void sql_progress(char *out, int n) {
  sqlite3_snprintf(n, out, "SELECT count(*), sum(completed) FROM nxm_progress");
}

static void sql_pending(char *out, int n) {
  sqlite3_snprintf(n, out, "SELECT count(*) FROM nxm_pending('plan-1')");
}

/* Frames in the WAL for the checkpoint to copy: three large appends with auto-checkpoints off. */
static void before_checkpoint(sqlite3 *db) {
  harness_must(db, harness_exec(db, "PRAGMA wal_autocheckpoint = 0", 0), "wal_autocheckpoint");
  for (int i = 0; i < 3; i++) {
    char task[16];
    snprintf(task, sizeof(task), "w%d", i);
    harness_must(db, harness_append(db, "wal-1", task, 30 + i, 1, 1000, 0), "append");
  }
}
static void effect_checkpoint(Ledger *l) {
  for (int i = 0; i < 3; i++) {
    char task[16];
    snprintf(task, sizeof(task), "w%d", i);
    ledger_ack(l, "wal-1", task, 30 + i, 1, i + 1);
  }
}
static void sql_checkpoint(char *out, int n) {
  sqlite3_snprintf(n, out, "PRAGMA wal_checkpoint(TRUNCATE)");
}

const Call calls[] = {
    {"append", "nxm_wal_append: ", 0, 0, sql_append, effect_append, 0},
    {"append_new_execution", "nxm_wal_append: ", 0, 0, sql_append_new, effect_append_new, 0},
    {"append_autocheckpoint", "nxm_wal_append: ", 0, before_autocheckpoint, sql_append,
     effect_append, 0},
    {"append_fresh_database", "nxm_wal_append: ", 0, 0, sql_append_fresh, effect_append_fresh, 1},
    {"append_invalid_json", "nxm_wal_append: ", "nxm_wal_append: result is not valid JSON", 0,
     sql_append_invalid, 0, 0},
    {"begin", "nxm_wal_begin: ", 0, 0, sql_begin, effect_begin, 0},
    {"recover", "nxm_recover: ", 0, 0, sql_recover, 0, 0},
    {"cleanup", "nxm_cleanup: ", 0, 0, sql_cleanup, effect_cleanup, 0},
    {"ttl", "nxm_ttl: ", 0, 0, sql_ttl, 0, 0},
    {"progress", "nxm_progress: ", 0, 0, sql_progress, 0, 0},
    {"pending", "nxm_pending: ", 0, 0, sql_pending, 0, 0},
    {"checkpoint", 0, 0, before_checkpoint, sql_checkpoint, effect_checkpoint, 0},
};
const int call_count = (int)(sizeof(calls) / sizeof(calls[0]));

void calls_start_database(const Call *call, const char *dir, const Ledger *base_ledger, char *path,
                          int path_bytes, Ledger *ledger) {
  char base[4096];
  snprintf(base, sizeof(base), "%s/base.db", dir);
  snprintf(path, (size_t)path_bytes, "%s/work.db", dir);
  harness_remove_db(path);
  if (call->fresh) {
    ledger_clear(ledger);
    return;
  }
  if (harness_copy_file(base, path) != 0)
    exit(2);
  *ledger = *base_ledger;
}

void calls_prepare(sqlite3 *db, const Call *call, char *sql, int sql_bytes, sqlite3_stmt **stmt) {
  harness_must(db, harness_exec(db, "SELECT count(*) FROM sqlite_schema", 0), "warm-up");
  if (call->before)
    call->before(db);
  call->sql(sql, sql_bytes);
  harness_must(db, sqlite3_prepare_v2(db, sql, -1, stmt, 0), "prepare");
}

void calls_build_base(const char *path, Ledger *ledger) {
  sqlite3 *db = 0;
  harness_remove_db(path);
  ledger_clear(ledger);
  harness_must(0, harness_open(path, 0, &db), "open");
  for (int i = 0; i < 5; i++) {
    char task[16];
    long long completed = 0;
    snprintf(task, sizeof(task), "b%d", i);
    harness_must(db, harness_append(db, "base-1", task, 1000 + i, 0, 1000, &completed), "append");
    ledger_ack(ledger, "base-1", task, 1000 + i, 0, completed);
  }
  harness_must(db, harness_exec(db, "SELECT nxm_wal_begin('plan-1', '[\"x\",\"y\",\"z\"]')", 0),
               "begin");
  ledger_planned(ledger, "plan-1", 3);
  harness_must(db, harness_append(db, "plan-1", "x", 1100, 0, -1, 0), "append");
  ledger_ack(ledger, "plan-1", "x", 1100, 0, 1);
  for (int i = 1; i <= 3; i++) {
    char execution[16];
    snprintf(execution, sizeof(execution), "old-%d", i);
    harness_must(db, harness_append(db, execution, "o", 1200 + i, 0, 10, 0), "append");
    ledger_ack(ledger, execution, "o", 1200 + i, 0, 1);
  }
  harness_must(db,
               harness_exec(db,
                            "UPDATE nxm_executions SET updated_at = updated_at - 172800 "
                            "WHERE execution_id LIKE 'old-%'",
                            0),
               "aging");
  ledger_deletable(ledger, "old-");
  harness_must(db, sqlite3_close(db), "close");
}
