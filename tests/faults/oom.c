/*
** oom.c: allocation failure at every allocation of each nxm call, in SQLite's allocator and in
*cJSON's.
**
**   oom --dir DIR [--call NAME|all] [--stride S] [--expect clean] [--leak-on-purpose]
**
** This process installs its own allocators (SQLITE_CONFIG_MALLOC for SQLite, cJSON_InitHooks for
** cJSON; both are process-wide, which is fine in a test program) that fail the k-th allocation from
** arming, once or from then on. For each call of calls.c plus loading the extension into a new
** connection, each allocator, each mode, k runs from 1 until the call gets through with no failure
** (every k; with --stride S, every S-th, each pass starting at a different offset):
**   - the call succeeds, or fails with SQLITE_NOMEM, or with an error whose message names the
*function;
**     never a crash;
**   - once allocations work again, the same call on the same connection succeeds;
**   - after closing, SQLite's count of outstanding bytes and cJSON's count of outstanding blocks
*are
**     back where they started (a leak check per k), and the database passes the ledger check.
** Built with -fsanitize=address as well, so LeakSanitizer and AddressSanitizer watch the whole run.
** --leak-on-purpose leaks one SQLite allocation per call: the self-check that the leak check can
*fail.
**
** One JSON line of figures goes to stdout; with --expect clean the exit status is 1 on any failure.
*/
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "calls.h"
#include "harness.h"

enum { TARGET_SQLITE, TARGET_CJSON, TARGET_COUNT };
static const char *const target_names[TARGET_COUNT] = {"sqlite", "cjson"};

static struct {
  sqlite3_mem_methods system;
  int armed;
  int target;
  long k;
  long seen;
  int persistent;
  long failed;
  long cjson_blocks; /* cJSON allocations not yet freed */
} oom;

static int should_fail(int target) {
  if (!oom.armed || target != oom.target)
    return 0;
  oom.seen++;
  if (oom.seen == oom.k || (oom.persistent && oom.seen > oom.k)) {
    oom.failed++;
    return 1;
  }
  return 0;
}

static void *sqlite_malloc(int bytes) {
  return should_fail(TARGET_SQLITE) ? 0 : oom.system.xMalloc(bytes);
}

static void *sqlite_realloc(void *old, int bytes) {
  return should_fail(TARGET_SQLITE) ? 0 : oom.system.xRealloc(old, bytes);
}

static void *cjson_malloc(size_t bytes) {
  if (should_fail(TARGET_CJSON))
    return 0;
  void *block = malloc(bytes);
  if (block)
    oom.cjson_blocks++;
  return block;
}

static void cjson_free(void *block) {
  if (block)
    oom.cjson_blocks--;
  free(block);
}

static void install_allocators(void) {
  if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &oom.system) != SQLITE_OK)
    exit(2);
  sqlite3_mem_methods failing = oom.system;
  failing.xMalloc = sqlite_malloc;
  failing.xRealloc = sqlite_realloc;
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &failing) != SQLITE_OK)
    exit(2);
  cJSON_Hooks hooks = {cjson_malloc, cjson_free};
  cJSON_InitHooks(&hooks);
}

static void arm(int target, long k, int persistent) {
  oom.target = target;
  oom.k = k;
  oom.seen = 0;
  oom.persistent = persistent;
  oom.failed = 0;
  oom.armed = 1;
}

typedef struct Tally {
  long failures[TARGET_COUNT], nomem, clean_errors, unclear, absorbed, retry_failures, leaks;
  long verify_failures, runs;
  long message_dropped; /* the right code with SQLite's generic text: see judge() */
  long stranded;        /* failed calls that left their transaction for the next call to end */
} Tally;

static int leak_on_purpose;

/*
** Judges the outcome of a failed call: SQLITE_NOMEM, or an error naming the function.
**
** One outcome is SQLite's and not nxm's: once nxm's function has returned its error, sqlite3_step()
** copies the statement's message into the connection (sqlite3VdbeTransferError) and goes on
** without it when that copy's allocation fails, so sqlite3_errmsg() gives the generic text for the
** code. That is counted apart, as message_dropped, when the code is the one the same call gives
** with no failure (`retry_rc`, the code of the retry), so a wrong code is still unclear.
*/
static void judge(Tally *tally, const char *name, const char *prefix, const char *expect_error,
                  int rc, const char *message, int retry_rc, long k, int target) {
  if (rc == SQLITE_OK) {
    tally->absorbed++;
  } else if ((rc & 0xff) == SQLITE_NOMEM) {
    tally->nomem++;
  } else if ((expect_error && strncmp(message, expect_error, strlen(expect_error)) == 0) ||
             (prefix && strncmp(message, prefix, strlen(prefix)) == 0 &&
              strstr(message, "out of memory") != 0)) {
    tally->clean_errors++;
  } else if (expect_error && rc == retry_rc && strcmp(message, sqlite3_errstr(rc)) == 0) {
    tally->message_dropped++;
  } else {
    tally->unclear++;
    harness_say("oom: %s, %s allocation %ld failed: unclear error (code %d): %s", name,
                target_names[target], k, rc, message);
  }
}

/* One call with the k-th allocation failing; returns 0 when k is past the call's last allocation.
 */
static int one_failure(const char *dir, const Ledger *base_ledger, const Call *call, int target,
                       int persistent, long k, Tally *tally) {
  static Ledger ledger;
  char path[4096], sql[HARNESS_PAYLOAD_BYTES + 256];
  calls_start_database(call, dir, base_ledger, path, sizeof(path), &ledger);

  sqlite3_int64 bytes_before = sqlite3_memory_used();
  long blocks_before = oom.cjson_blocks;
  sqlite3 *db = 0;
  harness_must(0, harness_open(path, 0, &db), "open");
  harness_exec(db, "PRAGMA synchronous = OFF", 1); /* durability is not under test here */
  sqlite3_stmt *stmt = 0;
  calls_prepare(db, call, sql, sizeof(sql), &stmt);

  arm(target, k, persistent);
  int rc = calls_step_all(stmt);
  oom.armed = 0;
  long failed = oom.failed;
  char message[512];
  snprintf(message, sizeof(message), "%s", sqlite3_errmsg(db));
  sqlite3_finalize(stmt);
  if (leak_on_purpose)
    sqlite3_malloc(64);

  if (failed == 0) {
    if ((rc != SQLITE_OK) != (call->expect_error != 0)) {
      tally->retry_failures++;
      harness_say("oom: %s failed with no allocation failing: %s", call->name, message);
    }
  } else {
    tally->failures[target] += failed;
    tally->runs++;
    /* The caller was in autocommit: a transaction still open is one nxm began and could not end
    ** (write_scope.c, end_stranded), and the next call must end it before it writes. */
    int stranded = !sqlite3_get_autocommit(db);
    tally->stranded += stranded;
    int retry = harness_exec(db, sql, 1);
    if (!sqlite3_get_autocommit(db)) {
      tally->verify_failures++;
      harness_say("oom: %s after %s allocation %ld failed: a transaction is still open after the "
                  "next call%s",
                  call->name, target_names[target], k,
                  stranded ? "" : " (the failed call had ended its own)");
    }
    judge(tally, call->name, call->prefix, call->expect_error, rc, message, retry, k, target);
    if ((retry != SQLITE_OK) != (call->expect_error != 0)) {
      tally->retry_failures++;
      harness_say("oom: %s after %s allocation %ld failed: the retry failed: %s", call->name,
                  target_names[target], k, sqlite3_errmsg(db));
    } else if (call->effect) {
      call->effect(&ledger);
    }
  }
  if (sqlite3_close(db) != SQLITE_OK) {
    tally->retry_failures++;
    harness_say("oom: %s: close failed", call->name);
  }
  if (sqlite3_memory_used() != bytes_before || oom.cjson_blocks != blocks_before) {
    tally->leaks++;
    harness_say(
        "oom: %s, %s allocation %ld failed: %lld bytes of SQLite memory and %ld cJSON blocks "
        "leaked",
        call->name, target_names[target], k, (long long)(sqlite3_memory_used() - bytes_before),
        oom.cjson_blocks - blocks_before);
  }
  if (failed != 0) {
    Verdict verdict;
    ledger_verify(&ledger, path, &verdict);
    if (verdict.corrupt || verdict.lost || verdict.inconsistent || verdict.resurrected ||
        verdict.recover_mismatch || verdict.unusable) {
      tally->verify_failures++;
      harness_say("oom: %s after %s allocation %ld failed: %s", call->name, target_names[target], k,
                  verdict.first_problem);
    }
  }
  return failed != 0;
}

/* Loading nxm into a new connection (sqlite3_nxm_init through the automatic extension). */
static int one_open_failure(const char *dir, int target, int persistent, long k, Tally *tally) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/base.db", dir);
  sqlite3_int64 bytes_before = sqlite3_memory_used();
  sqlite3 *db = 0;
  arm(target, k, persistent);
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, 0);
  oom.armed = 0;
  long failed = oom.failed;
  if (failed != 0) {
    tally->failures[target] += failed;
    tally->runs++;
    if (rc == SQLITE_OK) {
      tally->absorbed++;
    } else if ((rc & 0xff) == SQLITE_NOMEM ||
               (db != 0 && strstr(sqlite3_errmsg(db), "out of memory") != 0)) {
      tally->nomem++;
    } else {
      tally->unclear++;
      harness_say("oom: open, allocation %ld failed: unclear error (code %d): %s", k, rc,
                  db ? sqlite3_errmsg(db) : "?");
    }
  }
  char version[32] = "";
  if (rc == SQLITE_OK &&
      (harness_text(db, "SELECT nxm_version()", version, sizeof(version)) != SQLITE_OK ||
       version[0] == 0)) {
    tally->retry_failures++;
    harness_say("oom: open succeeded after allocation %ld failed, but nxm is not loaded: %s", k,
                sqlite3_errmsg(db));
  }
  sqlite3_close(db);
  if (sqlite3_memory_used() != bytes_before) {
    tally->leaks++;
    harness_say("oom: open, allocation %ld failed: %lld bytes leaked", k,
                (long long)(sqlite3_memory_used() - bytes_before));
  }
  return failed != 0;
}

int main(int argc, char **argv) {
  const char *dir = 0, *only = "all", *expect = 0;
  long stride = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--leak-on-purpose") == 0)
      leak_on_purpose = 1;
    else if (i + 1 < argc && strcmp(argv[i], "--stride") == 0)
      stride = atol(argv[++i]);
    else if (i + 1 < argc && strcmp(argv[i], "--dir") == 0)
      dir = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--call") == 0)
      only = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--expect") == 0)
      expect = argv[++i];
    else
      dir = 0, i = argc;
  }
  if (dir == 0 || stride < 1) {
    fprintf(stderr, "usage: oom --dir DIR [--call NAME|all] [--stride S] [--expect clean] "
                    "[--leak-on-purpose]\n");
    return 2;
  }
  install_allocators();
  harness_init();
  harness_make_dir(dir);
  static Ledger base_ledger;
  char base[4096], path[4096];
  snprintf(base, sizeof(base), "%s/base.db", dir);
  snprintf(path, sizeof(path), "%s/work.db", dir);
  calls_build_base(base, &base_ledger);

  Tally tally;
  memset(&tally, 0, sizeof(tally));
  long pass = 0;
  for (int target = 0; target < TARGET_COUNT; target++) {
    for (int persistent = 0; persistent < 2; persistent++) {
      /* cJSON allocates a few times per call: every k, whatever the stride. */
      long step = target == TARGET_CJSON ? 1 : stride;
      if (strcmp(only, "all") == 0 || strcmp(only, "open") == 0) {
        for (long k = 1 + pass++ % step; one_open_failure(dir, target, persistent, k, &tally);
             k += step) {
        }
      }
      for (int c = 0; c < call_count; c++) {
        if (strcmp(only, "all") != 0 && strcmp(only, calls[c].name) != 0)
          continue;
        for (long k = 1 + pass++ % step;
             one_failure(dir, &base_ledger, &calls[c], target, persistent, k, &tally); k += step) {
        }
      }
    }
  }
  harness_remove_db(path);
  harness_remove_db(base);
  sqlite3_shutdown();

  printf(
      "{\"driver\":\"oom\",\"call\":\"%s\",\"runs\":%ld,\"failed_allocations\":{\"sqlite\":%ld,"
      "\"cjson\":%ld},\"nomem\":%ld,\"clean_errors\":%ld,\"unclear_errors\":%ld,\"absorbed\":%ld,"
      "\"retry_failures\":%ld,\"leaks\":%ld,\"verify_failures\":%ld,\"message_dropped\":%ld,"
      "\"stranded\":%ld}\n",
      only, tally.runs, tally.failures[TARGET_SQLITE], tally.failures[TARGET_CJSON], tally.nomem,
      tally.clean_errors, tally.unclear, tally.absorbed, tally.retry_failures, tally.leaks,
      tally.verify_failures, tally.message_dropped, tally.stranded);
  fflush(stdout);
  if (expect != 0 && strcmp(expect, "clean") == 0) {
    return (tally.runs == 0 || tally.failures[TARGET_CJSON] == 0 || tally.unclear ||
            tally.retry_failures || tally.leaks || tally.verify_failures)
               ? 1
               : 0;
  }
  return 0;
}
