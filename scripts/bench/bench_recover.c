/*
** bench_recover.c: item 5 of the benchmark, recovery.
**
** Executions of 1,000, 10,000 and 100,000 results of 2 KB are recovered with nxm_recover and, in
** alternation, with the plain-SQL query a shell user would write:
**   SELECT json_group_array(json(result)) FROM (SELECT result FROM nxm_results
**                                               WHERE execution_id = ? ORDER BY seq)
** For context the detail column gives group_concat(result, ','), which splices the stored texts
** without looking at them: the least any SQL can do to build that array.
**
** Memory is measured with a counting allocator under SQLite (counting_malloc.c): the peak of live
** bytes during the call, minus what was live before it, while the answer is still held; a realloc
** counts its old and new block together. The same is reported for the json_group_array query.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counting_malloc.h"
#include "writer.h"

#define RESULT_BYTES 2048

static const char RECOVER_SQL[] = "SELECT nxm_recover(?1)";
static const char JSON_SQL[] =
    "SELECT json_group_array(json(result)) FROM "
    "(SELECT result FROM nxm_results WHERE execution_id = ?1 ORDER BY seq)";
static const char SPLICE_SQL[] =
    "SELECT group_concat(result, ',') FROM "
    "(SELECT result FROM nxm_results WHERE execution_id = ?1 ORDER BY seq)";

typedef struct Query {
  sqlite3_stmt *stmt;
  int calls_per_chunk;
  sqlite3_int64 bytes;      /* size of the last answer */
  sqlite3_int64 peak_extra; /* the largest peak of live bytes above the level before a call */
} Query;

static void query_chunk(void *state) {
  Query *query = state;
  for (int i = 0; i < query->calls_per_chunk; i++) {
    sqlite3_int64 before = counting_malloc_live();
    counting_malloc_reset_peak();
    if (sqlite3_step(query->stmt) != SQLITE_ROW ||
        sqlite3_column_type(query->stmt, 0) == SQLITE_NULL) {
      bench_die("%s returned no document: %s", sqlite3_sql(query->stmt),
                sqlite3_errmsg(sqlite3_db_handle(query->stmt)));
    }
    query->bytes = sqlite3_column_bytes(query->stmt, 0);
    sqlite3_int64 extra = counting_malloc_peak() - before;
    if (extra > query->peak_extra) {
      query->peak_extra = extra;
    }
    sqlite3_reset(query->stmt);
  }
}

/* Creates execution `id` with `count` results: the first through nxm, the rest by plain SQL in one
** transaction (the rows are exactly what nxm_wal_append would have stored). */
static void fill_execution(sqlite3 *db, const char *id, long count) {
  char *result = malloc(RESULT_BYTES + 1);
  if (result == 0) {
    bench_die("out of memory");
  }
  bench_result_text(result, RESULT_BYTES, 0);
  sqlite3_stmt *first =
      bench_prepare(db, "SELECT nxm_wal_append(?1, ?2, NULL, ?3, 'Brand A', 'model-1')");
  sqlite3_bind_text(first, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(first, 2, result, -1, SQLITE_STATIC);
  sqlite3_bind_int64(first, 3, count + 1); /* one short of complete, so that it is recoverable */
  bench_run(first);
  sqlite3_finalize(first);

  bench_exec(db, "BEGIN IMMEDIATE");
  sqlite3_stmt *insert = bench_prepare(
      db, "INSERT INTO nxm_results (execution_id, task_id, brand, model, result, appended_at) "
          "VALUES (?1, NULL, 'Brand A', 'model-1', ?2, (julianday('now') - 2440587.5) * 86400.0)");
  sqlite3_bind_text(insert, 1, id, -1, SQLITE_STATIC);
  for (long i = 1; i < count; i++) {
    bench_result_text(result, RESULT_BYTES, i);
    sqlite3_bind_text(insert, 2, result, -1, SQLITE_STATIC);
    bench_run(insert);
  }
  sqlite3_finalize(insert);
  sqlite3_stmt *summary = bench_prepare(
      db, "UPDATE nxm_executions SET completed = ?2, recorded = ?2 WHERE execution_id = ?1");
  sqlite3_bind_text(summary, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(summary, 2, count);
  bench_run(summary);
  sqlite3_finalize(summary);
  bench_exec(db, "COMMIT");
  free(result);
}

static Query query_open(sqlite3 *db, const char *sql, const char *id, int calls_per_chunk) {
  Query query = {bench_prepare(db, sql), calls_per_chunk, 0, 0};
  sqlite3_bind_text(query.stmt, 1, id, -1, SQLITE_TRANSIENT);
  return query;
}

int main(int argc, char **argv) {
  BenchArgs args;
  bench_parse_args(argc, argv, &args);
  counting_malloc_install();

  static const long counts[] = {1000, 10000, 100000};
  int cases = args.quick ? 2 : 3;
  const char *path = bench_path(&args, 0, "recover.db");
  bench_remove_db(path);
  sqlite3 *db = bench_open(path, args.extension, "NORMAL");
  for (int c = 0; c < cases; c++) {
    fill_execution(db, bench_text("recover-%ld", counts[c]), counts[c]);
  }
  bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");

  for (int c = 0; c < cases; c++) {
    const char *id = bench_text("recover-%ld", counts[c]);
    int calls = counts[c] >= 100000 ? 1 : counts[c] >= 10000 ? 2 : 10;
    int rounds = counts[c] >= 100000 ? 3 : args.quick ? 3 : 8;
    Query side[3] = {query_open(db, RECOVER_SQL, id, calls), query_open(db, JSON_SQL, id, calls),
                     query_open(db, SPLICE_SQL, id, calls)};
    BenchChunk chunk[3] = {query_chunk, query_chunk, query_chunk};
    void *state[3] = {&side[0], &side[1], &side[2]};
    BenchClock spent[3];
    /* one untimed round warms the page cache; its memory peaks count like any other */
    bench_rotate(chunk, state, 3, 1, spent);
    memset(spent, 0, sizeof spent);
    bench_rotate(chunk, state, 3, rounds, spent);

    double per_call[3];
    for (int k = 0; k < 3; k++) {
      per_call[k] = spent[k].wall / (rounds * calls);
    }
    double ratio = per_call[0] / per_call[1];
    double memory = (double)side[0].peak_extra / (double)side[0].bytes;
    bench_row("5",
              bench_text("recover %s x 2 KB (%s document)", bench_count(counts[c]),
                         bench_bytes((double)side[0].bytes)),
              bench_time(per_call[0]), bench_text("json_group_array %s", bench_time(per_call[1])),
              ratio, "<= 1.30", ratio <= 1.3 ? "ok" : "MISSED",
              bench_text("group_concat splice %s", bench_time(per_call[2])));
    bench_row("5", bench_text("  peak memory, %s results", bench_count(counts[c])),
              bench_bytes((double)side[0].peak_extra),
              bench_text("document %s", bench_bytes((double)side[0].bytes)), memory, "<= 2.50",
              memory <= 2.5 ? "ok" : "MISSED",
              bench_text("json_group_array peaks at %s (%.2fx)",
                         bench_bytes((double)side[1].peak_extra),
                         (double)side[1].peak_extra / (double)side[1].bytes));
    for (int k = 0; k < 3; k++) {
      sqlite3_finalize(side[k].stmt);
    }
  }
  bench_note("5",
             "time per call: one warm-up round, then rounds rotating nxm_recover / "
             "json_group_array / group_concat (%s); memory: a counting allocator under SQLite "
             "(SQLITE_CONFIG_MALLOC), peak live bytes during the call minus live bytes before "
             "it, the answer still held, a realloc counted as old + new block",
             args.quick ? "3 rounds"
                        : "8 rounds of 10 and of 2 calls at 1,000 and 10,000, 3 of 1 at 100,000");
  sqlite3_close(db);
  bench_remove_db(path);
  return 0;
}
