/*
** static_roundtrip.c: nxm compiled into a program instead of loaded from a shared object.
**
** The sources of ext/ are compiled with -DSQLITE_CORE next to this file and linked with SQLite
** (the system's -lsqlite3 here; an application that bundles sqlite3.c links that instead). The
** program registers sqlite3_nxm_init with sqlite3_auto_extension, so every connection it opens has
** nxm without extension loading ever being enabled, then runs one round trip and checks every
** answer:
**
**   make static-test        builds build/static_roundtrip and runs it on a scratch database
**
** Built with -DNXM_PRETEND_SQLITE='"3.37.2"', the program replaces sqlite3_libversion() and
** sqlite3_libversion_number() with that release: below nxm's minimum (ext/version.h) opening a
** connection must fail with nxm's minimum-version message; at or above it, the round trip must
** pass.
**
** Prints one line per check; exits 0 when all pass, 1 at the first that does not.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "version.h"

/* The entry point of ext/nxm.c; built with SQLITE_CORE it takes the host's API directly. */
int sqlite3_nxm_init(sqlite3 *db, char **error, const sqlite3_api_routines *api);

#ifdef NXM_PRETEND_SQLITE
/* These definitions take the place of libsqlite3's for the whole process, nxm's check included. */
const char *sqlite3_libversion(void) {
  return NXM_PRETEND_SQLITE;
}

int sqlite3_libversion_number(void) {
  int major = 0, minor = 0, patch = 0;
  sscanf(NXM_PRETEND_SQLITE, "%d.%d.%d", &major, &minor, &patch);
  return major * 1000000 + minor * 1000 + patch;
}
#endif

static int failures = 0;

static void check_text(const char *what, const char *got, const char *expected) {
  int same = got != 0 && expected != 0 ? strcmp(got, expected) == 0 : got == expected;
  printf("%s %s: %s\n", same ? "ok  " : "FAIL", what, got ? got : "NULL");
  if (!same) {
    printf("     expected: %s\n", expected ? expected : "NULL");
    failures++;
  }
}

/* Runs `sql`; returns its first column as text (NULL for no row or NULL); the caller frees it. */
static char *query(sqlite3 *db, const char *sql) {
  sqlite3_stmt *stmt = 0;
  char *answer = 0;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, 0);
  if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const unsigned char *text = sqlite3_column_text(stmt, 0);
    answer = text ? sqlite3_mprintf("%s", text) : 0;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    answer = sqlite3_mprintf("error: %s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(stmt);
  return answer;
}

static void expect(sqlite3 *db, const char *sql, const char *expected) {
  char *got = query(db, sql);
  check_text(sql, got, expected);
  sqlite3_free(got);
}

static void round_trip(sqlite3 *db) {
  expect(db, "SELECT nxm_version()", NXM_VERSION);
  expect(db, "SELECT nxm_wal_append('s1', '{\"n\":1}', NULL, 3, 'Acme', 'm', 'a')", "1");
  expect(db, "SELECT nxm_wal_append('s1', '{\"n\":2}', NULL, NULL, 'Acme', 'm', 'b')", "2");
  expect(db, "SELECT nxm_wal_append('s1', '{\"n\":20}', NULL, NULL, 'Acme', 'm', 'b')", "2");
  expect(db, "PRAGMA journal_mode", "wal");
  expect(db, "SELECT json_extract(nxm_recover('s1'), '$.results')", "[{\"n\":1},{\"n\":20}]");
  expect(db,
         "SELECT json_extract(nxm_recover('s1'), '$.completed') || '/' || "
         "json_extract(nxm_recover('s1'), '$.total')",
         "2/3");
  expect(db,
         "SELECT state || ' ' || completed || ' ' || total || ' ' || percent "
         "FROM nxm_progress WHERE execution_id = 's1'",
         "running 2 3 66.7");
  expect(db, "SELECT count(*) FROM nxm_pending('s1')", "0");
  expect(db, "SELECT nxm_wal_append('s1', 'not json')",
         "error: nxm_wal_append: result is not valid JSON (error at byte 0 of 8)");
  expect(db, "SELECT nxm_wal_append('s2', '[]', 1, 1)", "1");
  expect(db, "SELECT nxm_recover('s2')", 0); /* complete: nothing to resume */
  expect(db, "UPDATE nxm_executions SET updated_at = updated_at - 7200 WHERE execution_id = 's1'",
         0);
  expect(db, "SELECT nxm_cleanup(1)", "1");
  expect(db,
         "SELECT group_concat(execution_id) || ' ' || (SELECT count(*) FROM nxm_results) "
         "FROM nxm_progress",
         "s2 1");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DATABASE\n", argv[0]);
    return 2;
  }
  int rc = sqlite3_auto_extension((void (*)(void))sqlite3_nxm_init);
  if (rc != SQLITE_OK) {
    fprintf(stderr, "sqlite3_auto_extension: %s\n", sqlite3_errstr(rc));
    return 1;
  }

  sqlite3 *db = 0;
  rc = sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0);
#ifdef NXM_PRETEND_SQLITE
  if (sqlite3_libversion_number() < NXM_MIN_SQLITE_VERSION_NUMBER) {
    check_text("open under SQLite " NXM_PRETEND_SQLITE, rc == SQLITE_OK ? 0 : sqlite3_errmsg(db),
               "automatic extension loading failed: nxm " NXM_VERSION
               " needs SQLite " NXM_MIN_SQLITE_VERSION
               " or newer; this process runs SQLite " NXM_PRETEND_SQLITE);
    sqlite3_close(db);
    printf("%s\n", failures == 0 ? "all checks passed" : "some checks FAILED");
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
  }
#endif
  if (rc != SQLITE_OK) {
    printf("FAIL open %s: %s\n", argv[1], sqlite3_errmsg(db));
    sqlite3_close(db);
    return EXIT_FAILURE;
  }
  printf("ok   running SQLite %s\n", sqlite3_libversion());
  round_trip(db);
  if (sqlite3_close(db) != SQLITE_OK) {
    printf("FAIL close: %s\n", sqlite3_errmsg(db));
    failures++;
  }
  printf("%s\n", failures == 0 ? "all checks passed" : "some checks FAILED");
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
