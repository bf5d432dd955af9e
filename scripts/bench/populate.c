/*
** populate.c: fast bulk set-up of nxm databases (see populate.h).
*/
#define _GNU_SOURCE
#include "populate.h"

#include <stdio.h>
#include <time.h>

#include "bench_util.h"

#define RESULT_BYTES 64

double populate_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void populate(sqlite3 *db, const char *prefix, long first, long executions, int results,
              double age) {
  char result[RESULT_BYTES + 1], id[64];
  bench_result_text(result, RESULT_BYTES, 0);
  /* nxm creates the schema on its first write */
  sqlite3_stmt *probe =
      bench_prepare(db, "SELECT 1 FROM sqlite_schema WHERE name = 'nxm_executions'");
  if (sqlite3_step(probe) != SQLITE_ROW) {
    bench_exec(db, "SELECT nxm_wal_append('populate-seed', '{}', NULL, 2)");
  }
  sqlite3_finalize(probe);

  sqlite3_stmt *execution = bench_prepare(
      db, "INSERT INTO nxm_executions (execution_id, completed, total, recorded, brand, model, "
          "created_at, updated_at) VALUES (?1, ?2, ?3, ?2, 'Brand A', 'model-1', ?4, ?4)");
  sqlite3_stmt *row = bench_prepare(
      db, "INSERT INTO nxm_results (execution_id, task_id, brand, model, result, appended_at) "
          "VALUES (?1, NULL, 'Brand A', 'model-1', ?2, ?3)");
  double when = populate_now() - age;
  bench_exec(db, "BEGIN IMMEDIATE");
  for (long e = first; e < first + executions; e++) {
    snprintf(id, sizeof id, "%s%06ld", prefix, e);
    sqlite3_bind_text(execution, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(execution, 2, results);
    sqlite3_bind_int(execution, 3, 2 * results);
    sqlite3_bind_double(execution, 4, when);
    bench_run(execution);
    sqlite3_bind_text(row, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(row, 3, when);
    for (int r = 0; r < results; r++) {
      bench_result_text(result, RESULT_BYTES, e * results + r);
      sqlite3_bind_text(row, 2, result, RESULT_BYTES, SQLITE_STATIC);
      bench_run(row);
    }
  }
  bench_exec(db, "COMMIT");
  sqlite3_finalize(execution);
  sqlite3_finalize(row);
}
