/*
** io_faults.c: an I/O error or a full disk at every read, write, sync and truncate of each nxm
*call.
**
**   io_faults --dir DIR [--call NAME|refusals|all] [--expect clean]
**
** For each call of calls.c, each kind of fault (read, write, sync and truncate errors, and
*SQLITE_FULL on a
** write) and each mode (the k-th operation fails once, or the k-th and every later one until the
*fault
** clears), k runs from 1 until the call gets through with no fault injected. Each time, on a fresh
*copy
** of a base database opened through faultvfs:
**   - the call either succeeds or returns an error whose message names the function and says what
**     failed ("nxm_wal_append: disk I/O error"), with an I/O or FULL result code;
**   - once the fault clears, the same call on the same connection succeeds;
**   - reopened with the real VFS, the database passes the ledger check (harness.c): intact, earlier
**     data present, the retried call's effect present, nxm_recover agreeing, the next append
*working.
**
** Also here, the order "validate, then lock, then write": appends refused for a bad argument or bad
** JSON must take no write lock and write no byte, and under a full disk must still answer with the
** validation error.
**
** One JSON line of figures goes to stdout; with --expect clean the exit status is 1 on any failure.
*/
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "fault_vfs.h"
#include "harness.h"

static const struct {
  const char *name;
  FaultKind kind;
  int code;
} kinds[] = {
    {"read", FAULT_READ, SQLITE_IOERR_READ},  {"write", FAULT_WRITE, SQLITE_IOERR_WRITE},
    {"sync", FAULT_SYNC, SQLITE_IOERR_FSYNC}, {"truncate", FAULT_TRUNCATE, SQLITE_IOERR_TRUNCATE},
    {"full", FAULT_WRITE, SQLITE_FULL},
};
#define KIND_COUNT (int)(sizeof(kinds) / sizeof(kinds[0]))

/* ---- one fault
 * ------------------------------------------------------------------------------------ */

typedef struct Tally {
  long faults, errors, clear_errors, absorbed, retry_failures, verify_failures, unclear;
  long validation_checks, validation_failures;
  long kind_faults[KIND_COUNT], kind_errors[KIND_COUNT], kind_clear[KIND_COUNT];
  long kind_damaged[KIND_COUNT]; /* retries that failed, or a ledger check that did */
} Tally;

static int is_io_code(int code) {
  return (code & 0xff) == SQLITE_IOERR || (code & 0xff) == SQLITE_FULL;
}

/* An error message is clear when it names the function and says what failed, in SQLite's words. */
static int clear_message(const Call *call, const char *message, int fault_code) {
  if (call->prefix != 0 && strncmp(message, call->prefix, strlen(call->prefix)) != 0)
    return 0;
  const char *what =
      (fault_code & 0xff) == SQLITE_FULL ? "database or disk is full" : "disk I/O error";
  return strstr(message, what) != 0;
}

/* Runs one fault; returns 0 when k is past the call's last operation of that kind. */
static int one_fault(const char *dir, const Ledger *base_ledger, const Call *call, int kind,
                     int persistent, long k, Tally *tally) {
  static Ledger ledger;
  char path[4096], sql[HARNESS_PAYLOAD_BYTES + 256];
  calls_start_database(call, dir, base_ledger, path, sizeof(path), &ledger);

  fault_vfs_reset();
  sqlite3 *db = 0;
  harness_must(0, harness_open(path, FAULT_VFS_NAME, &db), "open");
  sqlite3_stmt *stmt = 0;
  calls_prepare(db, call, sql, sizeof(sql), &stmt);

  fault_vfs_arm(kinds[kind].kind, k, persistent, kinds[kind].code);
  int rc = calls_step_all(stmt);
  fault_vfs_disarm();
  long injected = fault_vfs_faults_injected();
  char message[512];
  snprintf(message, sizeof(message), "%s", sqlite3_errmsg(db));
  int code = sqlite3_extended_errcode(db);
  sqlite3_finalize(stmt);

  const char *mode = persistent ? "persistent" : "once";
  int refused_as_expected = call->expect_error != 0 &&
                            strncmp(message, call->expect_error, strlen(call->expect_error)) == 0;
  if (injected == 0) {
    if ((rc != SQLITE_OK) != (call->expect_error != 0) ||
        (rc != SQLITE_OK && !refused_as_expected)) {
      tally->retry_failures++;
      harness_say("io_faults: %s (%s) failed with no fault injected at k=%ld: %s", call->name, mode,
                  k, message);
    }
    sqlite3_close(db);
    return 0;
  }
  tally->faults += injected;
  tally->kind_faults[kind] += injected;
  if (rc != SQLITE_OK) {
    tally->errors++;
    tally->kind_errors[kind]++;
    if (refused_as_expected ||
        (clear_message(call, message, kinds[kind].code) && is_io_code(code))) {
      tally->clear_errors++;
      tally->kind_clear[kind]++;
    } else {
      tally->unclear++;
      harness_say("io_faults: %s, %s fault, unclear error at k=%ld: %s", call->name,
                  kinds[kind].name, k, message);
    }
  } else {
    tally->absorbed++;
  }

  /* The fault has cleared: the same call again, on the same connection. */
  int retry = harness_exec(db, sql, 1);
  if ((retry != SQLITE_OK) != (call->expect_error != 0)) {
    tally->retry_failures++;
    tally->kind_damaged[kind]++;
    harness_say("io_faults: %s after a %s fault at k=%ld: the retry failed: %s", call->name,
                kinds[kind].name, k, sqlite3_errmsg(db));
  } else if (call->effect) {
    call->effect(&ledger);
  }
  if (sqlite3_close(db) != SQLITE_OK) {
    tally->retry_failures++;
    harness_say("io_faults: %s after a %s fault at k=%ld: %s", call->name, kinds[kind].name, k,
                "close failed");
  }

  Verdict verdict;
  ledger_verify(&ledger, path, &verdict);
  if (verdict.corrupt || verdict.lost || verdict.inconsistent || verdict.resurrected ||
      verdict.backwards || verdict.recover_mismatch || verdict.unusable) {
    tally->verify_failures++;
    tally->kind_damaged[kind]++;
    harness_say("io_faults: %s after a %s fault at k=%ld: %s", call->name, kinds[kind].name, k,
                verdict.first_problem);
  }
  return 1;
}

/* ---- validate, then lock, then write
 * ----------------------------------------------------------------- */

typedef struct Refusal {
  const char *sql;
  const char *message; /* the start of the expected error */
  int may_lock;        /* refused by a check that needs stored state, so under the lock */
} Refusal;

static const Refusal refusals[] = {
    {"SELECT nxm_wal_append('base-1', '{\"a\":', NULL, NULL, NULL, NULL, 'bad-1')",
     "nxm_wal_append: result is not valid JSON", 0},
    {"SELECT nxm_wal_append('base-1', '{}', 7, 5)",
     "nxm_wal_append: completed (7) exceeds total (5)", 0},
    {"SELECT nxm_wal_append('base-1', '{}', -1)", "nxm_wal_append: completed must not be negative",
     0},
    {"SELECT nxm_wal_begin('base-2', '[\"a\",\"a\"]')",
     "nxm_wal_begin: tasks[1] repeats the task id", 1},
    {"SELECT nxm_wal_begin('base-2', '{\"a\":1}')", "nxm_wal_begin: tasks must be a JSON array", 0},
    {"SELECT nxm_wal_append('no-total', '{}')", "nxm_wal_append: total is required", 1},
};
#define REFUSAL_COUNT (int)(sizeof(refusals) / sizeof(refusals[0]))

static void check_refusals(const char *dir, const Ledger *base_ledger, Tally *tally) {
  char base[4096], path[4096];
  snprintf(base, sizeof(base), "%s/base.db", dir);
  snprintf(path, sizeof(path), "%s/work.db", dir);
  for (int full_disk = 0; full_disk < 2; full_disk++) {
    for (int i = 0; i < REFUSAL_COUNT; i++) {
      harness_remove_db(path);
      if (harness_copy_file(base, path) != 0)
        exit(2);
      fault_vfs_reset();
      sqlite3 *db = 0;
      harness_must(0, harness_open(path, FAULT_VFS_NAME, &db), "open");
      harness_must(db, harness_append(db, "base-1", "warm", 9, 0, -1, 0), "warm-up append");
      long writes = fault_vfs_count(FAULT_WRITE) + fault_vfs_count(FAULT_SYNC) +
                    fault_vfs_count(FAULT_TRUNCATE);
      long locks = fault_vfs_write_locks();
      if (full_disk)
        fault_vfs_arm(FAULT_WRITE, 1, 1, SQLITE_FULL);
      int rc = harness_exec(db, refusals[i].sql, 1);
      fault_vfs_disarm();
      const char *message = sqlite3_errmsg(db);
      long wrote = fault_vfs_count(FAULT_WRITE) + fault_vfs_count(FAULT_SYNC) +
                   fault_vfs_count(FAULT_TRUNCATE) - writes;
      long locked = fault_vfs_write_locks() - locks;
      tally->validation_checks++;
      const char *why = 0;
      if (rc == SQLITE_OK)
        why = "it was accepted";
      else if (strncmp(message, refusals[i].message, strlen(refusals[i].message)) != 0)
        why = message;
      else if (wrote != 0)
        why = "it wrote to the database";
      else if (locked != 0 && !refusals[i].may_lock)
        why = "it took the write lock before validating";
      if (why != 0) {
        tally->validation_failures++;
        fprintf(stderr, "io_faults: refusal %s%s: %s\n", refusals[i].sql,
                full_disk ? " (disk full)" : "", why);
      }
      sqlite3_close(db);
      static Ledger ledger;
      ledger = *base_ledger;
      ledger_ack(&ledger, "base-1", "warm", 9, 0, 6);
      Verdict verdict;
      ledger_verify(&ledger, path, &verdict);
      if (verdict.corrupt || verdict.lost || verdict.inconsistent || verdict.unusable) {
        tally->validation_failures++;
        fprintf(stderr, "io_faults: after refusal %s: %s\n", refusals[i].sql,
                verdict.first_problem);
      }
    }
  }
}

int main(int argc, char **argv) {
  const char *dir = 0, *only = "all", *expect = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--dir") == 0)
      dir = argv[i + 1];
    else if (strcmp(argv[i], "--call") == 0)
      only = argv[i + 1];
    else if (strcmp(argv[i], "--expect") == 0)
      expect = argv[i + 1];
  }
  if (dir == 0 || argc % 2 == 0) {
    fprintf(stderr, "usage: io_faults --dir DIR [--call NAME|refusals|all] [--expect clean]\n");
    return 2;
  }
  harness_init();
  harness_make_dir(dir);
  static Ledger base_ledger;
  char base[4096], per_kind[1024] = "";
  snprintf(base, sizeof(base), "%s/base.db", dir);
  calls_build_base(base, &base_ledger);

  Tally tally;
  memset(&tally, 0, sizeof(tally));
  for (int c = 0; c < call_count; c++) {
    if (strcmp(only, "all") != 0 && strcmp(only, calls[c].name) != 0)
      continue;
    for (int kind = 0; kind < KIND_COUNT; kind++) {
      for (int persistent = 0; persistent < 2; persistent++) {
        for (long k = 1; one_fault(dir, &base_ledger, &calls[c], kind, persistent, k, &tally);
             k++) {
        }
      }
    }
  }
  if (strcmp(only, "all") == 0 || strcmp(only, "refusals") == 0)
    check_refusals(dir, &base_ledger, &tally);
  for (int kind = 0; kind < KIND_COUNT; kind++) {
    size_t at = strlen(per_kind);
    snprintf(per_kind + at, sizeof(per_kind) - at,
             "%s\"%s\":{\"faults\":%ld,\"errors\":%ld,\"clear_errors\":%ld,\"damaged\":%ld}",
             kind ? "," : "", kinds[kind].name, tally.kind_faults[kind], tally.kind_errors[kind],
             tally.kind_clear[kind], tally.kind_damaged[kind]);
  }
  char path[4096];
  snprintf(path, sizeof(path), "%s/work.db", dir);
  harness_remove_db(path);
  harness_remove_db(base);

  printf("{\"driver\":\"io_faults\",\"call\":\"%s\",\"faults\":%ld,\"kinds\":{%s},"
         "\"errors\":%ld,\"clear_errors\":%ld,\"unclear_errors\":%ld,\"absorbed\":%ld,"
         "\"retry_failures\":%ld,\"verify_failures\":%ld,\"validation_checks\":%ld,"
         "\"validation_failures\":%ld}\n",
         only, tally.faults, per_kind, tally.errors, tally.clear_errors, tally.unclear,
         tally.absorbed, tally.retry_failures, tally.verify_failures, tally.validation_checks,
         tally.validation_failures);
  if (expect != 0 && strcmp(expect, "clean") == 0) {
    return (tally.faults == 0 || tally.unclear || tally.retry_failures || tally.verify_failures ||
            tally.validation_failures)
               ? 1
               : 0;
  }
  return 0;
}
