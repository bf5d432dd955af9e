/*
** bench_maintenance.c: items 6 and 7 of the benchmark, on one database of 100,000 executions with
** 10 results each (1,000,000 live result rows), next to databases of 1,000 and 10,000 executions.
**
**  7. nxm_progress: a point lookup (WHERE execution_id = ?) among 100,000 executions against the
**     same lookup among 1,000 (an index keeps it flat) and against plain SQL computing the same
**     columns; a full listing at 1,000, 10,000 and 100,000 executions against the same plain SQL.
**  6. nxm_cleanup with nothing expired, and the sweep trigger (it fires on the first append of
**     every new execution), at 1,000,000 live rows against the same at 10,000; then removing k =
**     10, 100 and 1,000 expired executions (10 results each) with nxm_cleanup against a plain
**     DELETE.
** Item 7 runs first, while the big database holds exactly 100,000 executions. All databases use
** synchronous=NORMAL, and the figures are CPU time per call (wall time in the detail column): these
** targets are about what a call costs, which CPU time shows even while other jobs share the
** machine.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "populate.h"
#include "writer.h"

enum { BIG, MID, SMALL, DATABASES };
static long EXECUTIONS[DATABASES] = {100000, 10000, 1000}; /* the quick run makes BIG as MID */
static const char *const NAMES[DATABASES] = {"maint_100k.db", "maint_10k.db", "maint_1k.db"};

#define PROGRESS_ONE "SELECT * FROM nxm_progress WHERE execution_id = ?1"
#define PROGRESS_ALL "SELECT * FROM nxm_progress"
/* The same columns by plain SQL, as a shell user would compute them (TTL 24 h, no plan) */
#define PLAIN_COLUMNS                                                                              \
  "SELECT execution_id, CASE WHEN updated_at < unixepoch() - 86400 THEN 'expired' "                \
  "WHEN completed >= total THEN 'complete' ELSE 'running' END, completed, total, "                 \
  "CASE WHEN total > 0 THEN round(100.0 * completed / total, 1) ELSE 100.0 END, NULL, brand, "     \
  "model, strftime('%Y-%m-%dT%H:%M:%SZ', created_at, 'unixepoch'), "                               \
  "strftime('%Y-%m-%dT%H:%M:%SZ', updated_at, 'unixepoch'), "                                      \
  "strftime('%Y-%m-%dT%H:%M:%SZ', updated_at + 86400, 'unixepoch') FROM nxm_executions"
#define PLAIN_ONE PLAIN_COLUMNS " WHERE execution_id = ?1"
#define PLAIN_ALL PLAIN_COLUMNS " ORDER BY execution_id"
#define RAW_ONE "SELECT * FROM nxm_executions WHERE execution_id = ?1"

/* A statement run `per_chunk` times per chunk; with `ids`, bound each time to a pseudo-random
** execution among the first `ids` of the database. Every column of every row is read as text. */
typedef struct Repeat {
  sqlite3_stmt *stmt;
  int per_chunk;
  long ids;
  unsigned long seed;
  long rows; /* rows seen, to check the work was done */
} Repeat;

static void repeat_chunk(void *state) {
  Repeat *repeat = state;
  char id[32];
  for (int i = 0; i < repeat->per_chunk; i++) {
    if (repeat->ids > 0) {
      repeat->seed = repeat->seed * 6364136223846793005UL + 1442695040888963407UL;
      snprintf(id, sizeof id, "exec-%06ld",
               (long)((repeat->seed >> 33) % (unsigned long)repeat->ids));
      sqlite3_bind_text(repeat->stmt, 1, id, -1, SQLITE_TRANSIENT);
    }
    int rc;
    while ((rc = sqlite3_step(repeat->stmt)) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(repeat->stmt); c++) {
        (void)sqlite3_column_text(repeat->stmt, c);
      }
      repeat->rows++;
    }
    if (rc != SQLITE_DONE) {
      bench_die("%s: %s", sqlite3_sql(repeat->stmt),
                sqlite3_errmsg(sqlite3_db_handle(repeat->stmt)));
    }
    sqlite3_reset(repeat->stmt);
  }
}

static Repeat repeat_of(sqlite3 *db, const char *sql, int per_chunk, long ids) {
  Repeat repeat = {bench_prepare(db, sql), per_chunk, ids, 12345, 0};
  return repeat;
}

/* nxm_cleanup() or the plain DELETE it stands for, with the TTL's cut-off, in one transaction. */
typedef struct Sweep {
  sqlite3 *db;
  sqlite3_stmt *nxm, *begin, *plain, *commit;
  int per_chunk;
  long long removed;
} Sweep;

static Sweep sweep_of(sqlite3 *db, int per_chunk) {
  Sweep sweep = {db,
                 bench_prepare(db, "SELECT nxm_cleanup()"),
                 bench_prepare(db, "BEGIN IMMEDIATE"),
                 bench_prepare(db, "DELETE FROM nxm_executions WHERE updated_at < ?1"),
                 bench_prepare(db, "COMMIT"),
                 per_chunk,
                 0};
  return sweep;
}

static void sweep_free(Sweep *sweep) {
  sqlite3_finalize(sweep->nxm);
  sqlite3_finalize(sweep->begin);
  sqlite3_finalize(sweep->plain);
  sqlite3_finalize(sweep->commit);
}

static long long nxm_cleanup(Sweep *sweep) {
  if (sqlite3_step(sweep->nxm) != SQLITE_ROW) {
    bench_die("nxm_cleanup: %s", sqlite3_errmsg(sweep->db));
  }
  long long removed = sqlite3_column_int64(sweep->nxm, 0);
  sqlite3_reset(sweep->nxm);
  return removed;
}

static long long plain_cleanup(Sweep *sweep) {
  bench_run(sweep->begin);
  sqlite3_bind_double(sweep->plain, 1, populate_now() - 24 * 3600.0);
  bench_run(sweep->plain);
  long long removed = sqlite3_changes64(sweep->db);
  bench_run(sweep->commit);
  return removed;
}

static void nxm_cleanup_chunk(void *state) {
  Sweep *sweep = state;
  for (int i = 0; i < sweep->per_chunk; i++) {
    sweep->removed += nxm_cleanup(sweep);
  }
}

static void plain_cleanup_chunk(void *state) {
  Sweep *sweep = state;
  for (int i = 0; i < sweep->per_chunk; i++) {
    sweep->removed += plain_cleanup(sweep);
  }
}

/* Appends through nxm: each to a new execution (the sweep trigger fires), or all to one. */
typedef struct Appends {
  sqlite3_stmt *stmt;
  int per_chunk;
  int new_execution;
  long next;
  const char *result;
} Appends;

static void appends_chunk(void *state) {
  Appends *appends = state;
  char id[32];
  for (int i = 0; i < appends->per_chunk; i++) {
    if (appends->new_execution) {
      snprintf(id, sizeof id, "new-%06ld", appends->next++);
    } else {
      snprintf(id, sizeof id, "exec-%06d", 0);
    }
    sqlite3_bind_text(appends->stmt, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(appends->stmt, 2, appends->result, -1, SQLITE_STATIC);
    bench_run(appends->stmt);
  }
}

static Appends appends_of(sqlite3 *db, int per_chunk, int new_execution, const char *result) {
  Appends appends = {bench_prepare(db, "SELECT nxm_wal_append(?1, ?2, NULL, 1000000000)"),
                     per_chunk, new_execution, 0, result};
  return appends;
}

/* Seconds per unit of work: CPU time (what a call costs, whatever else this shared machine
** runs) and wall time. */
static BenchClock per_unit(BenchClock spent, int rounds, int per_chunk) {
  BenchClock unit = {spent.wall / ((double)rounds * per_chunk),
                     spent.cpu / ((double)rounds * per_chunk)};
  return unit;
}

static const char *cpu_time(double seconds) {
  return bench_text("%s cpu", bench_time(seconds));
}

static void item7(sqlite3 **db, int quick) {
  int rounds = quick ? 3 : 10;
  Repeat one[4] = {repeat_of(db[BIG], PROGRESS_ONE, 500, EXECUTIONS[BIG]),
                   repeat_of(db[SMALL], PROGRESS_ONE, 500, EXECUTIONS[SMALL]),
                   repeat_of(db[BIG], PLAIN_ONE, 500, EXECUTIONS[BIG]),
                   repeat_of(db[BIG], RAW_ONE, 500, EXECUTIONS[BIG])};
  BenchChunk chunk[4] = {repeat_chunk, repeat_chunk, repeat_chunk, repeat_chunk};
  void *state[4] = {&one[0], &one[1], &one[2], &one[3]};
  BenchClock spent[4];
  bench_rotate(chunk, state, 4, 1, spent); /* warm-up */
  memset(spent, 0, sizeof spent);
  bench_rotate(chunk, state, 4, rounds, spent);
  BenchClock big = per_unit(spent[0], rounds, 500), small = per_unit(spent[1], rounds, 500);
  BenchClock plain = per_unit(spent[2], rounds, 500), raw = per_unit(spent[3], rounds, 500);
  if (one[0].rows != (rounds + 1) * 500L) {
    bench_die("nxm_progress lookups found %ld rows, expected %d", one[0].rows, (rounds + 1) * 500);
  }
  bench_row("7", bench_text("progress lookup among %s executions", bench_count(EXECUTIONS[BIG])),
            cpu_time(big.cpu), bench_text("among 1,000 %s", cpu_time(small.cpu)),
            big.cpu / small.cpu, "<= 1.50, < 10 us",
            big.cpu / small.cpu <= 1.5 && big.cpu < 10e-6 ? "ok" : "MISSED",
            bench_text("wall %s; same columns by plain SQL %s (nxm %.2fx); SELECT * by key %s",
                       bench_time(big.wall), cpu_time(plain.cpu), big.cpu / plain.cpu,
                       cpu_time(raw.cpu)));
  for (int k = 0; k < 4; k++) {
    sqlite3_finalize(one[k].stmt);
  }

  double per_row[DATABASES];
  for (int d = SMALL; d >= BIG; d--) {
    int listing_rounds = quick ? 2 : d == BIG ? 3 : d == MID ? 5 : 20;
    Repeat all[2] = {repeat_of(db[d], PROGRESS_ALL, 1, 0), repeat_of(db[d], PLAIN_ALL, 1, 0)};
    BenchClock listed[2] = {{0, 0}, {0, 0}};
    bench_interleave(repeat_chunk, &all[0], repeat_chunk, &all[1], 1, listed); /* warm-up */
    memset(listed, 0, sizeof listed);
    bench_interleave(repeat_chunk, &all[0], repeat_chunk, &all[1], listing_rounds, listed);
    BenchClock nxm = per_unit(listed[0], listing_rounds, 1);
    BenchClock plain_list = per_unit(listed[1], listing_rounds, 1);
    per_row[d] = nxm.cpu / (double)EXECUTIONS[d];
    bench_row("7", bench_text("progress full listing, %s executions", bench_count(EXECUTIONS[d])),
              cpu_time(nxm.cpu), bench_text("plain SQL %s", cpu_time(plain_list.cpu)),
              nxm.cpu / plain_list.cpu, "(reference)", "-",
              bench_text("%.2f us cpu per row; wall %s", per_row[d] * 1e6, bench_time(nxm.wall)));
    sqlite3_finalize(all[0].stmt);
    sqlite3_finalize(all[1].stmt);
  }
  bench_note("7",
             "lookups: %d rounds of 500 random ids per side, rotating over 4 sides; listings: "
             "interleaved with the plain SQL; CPU time per call, wall time in the detail",
             rounds);
  double linear = per_row[BIG] / per_row[SMALL];
  bench_row("7",
            bench_text("progress listing is linear: per row at %s", bench_count(EXECUTIONS[BIG])),
            cpu_time(per_row[BIG]), bench_text("at 1,000 %s", cpu_time(per_row[SMALL])), linear,
            "<= 1.50", linear <= 1.5 ? "ok" : "MISSED", "");
}

/* Wall and CPU seconds to remove k expired executions of 10 results, by nxm_cleanup or by the plain
** DELETE. */
static BenchClock remove_expired(sqlite3 *db, Sweep *sweep, long k, int use_nxm, long *batch) {
  populate(db, bench_text("old-%ld-", (*batch)++), 0, k, 10, 48 * 3600.0);
  /* an empty WAL, so that no automatic checkpoint lands inside the timed call */
  bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  BenchClock start = bench_clock();
  long long removed = use_nxm ? nxm_cleanup(sweep) : plain_cleanup(sweep);
  BenchClock end = bench_clock();
  if (removed != k) {
    bench_die("%s removed %lld executions, expected %ld", use_nxm ? "nxm_cleanup" : "DELETE",
              removed, k);
  }
  BenchClock spent = {end.wall - start.wall, end.cpu - start.cpu};
  return spent;
}

static void item6(sqlite3 **db, int quick, const char *result) {
  int rounds = quick ? 3 : 10;
  const char *rows_big = quick ? "100,000 rows" : "1,000,000 live rows";

  /* nothing expired: nxm_cleanup at 1,000,000 rows, at 10,000 rows, and the plain DELETE */
  Sweep big = sweep_of(db[BIG], 50), small = sweep_of(db[SMALL], 50);
  BenchChunk chunk[3] = {nxm_cleanup_chunk, nxm_cleanup_chunk, plain_cleanup_chunk};
  void *state[3] = {&big, &small, &big};
  BenchClock spent[3];
  memset(spent, 0, sizeof spent);
  bench_rotate(chunk, state, 3, rounds, spent);
  if (big.removed != 0 || small.removed != 0) {
    bench_die("nothing was expired, yet cleanup removed %lld", big.removed + small.removed);
  }
  BenchClock at_big = per_unit(spent[0], rounds, 50), at_small = per_unit(spent[1], rounds, 50);
  BenchClock plain = per_unit(spent[2], rounds, 50);

  sqlite3_stmt *scan = bench_prepare(db[BIG], "SELECT count(*) FROM nxm_executions "
                                              "WHERE updated_at + 0 < ?1");
  double scans[3];
  for (int i = 0; i < 3; i++) {
    sqlite3_bind_double(scan, 1, populate_now() - 24 * 3600.0);
    BenchClock start = bench_clock();
    bench_run(scan);
    scans[i] = bench_clock().cpu - start.cpu;
  }
  sqlite3_finalize(scan);
  bench_row("6", bench_text("cleanup, nothing expired, %s", rows_big), cpu_time(at_big.cpu),
            bench_text("10,000 rows %s", cpu_time(at_small.cpu)), at_big.cpu / at_small.cpu,
            "<= 1.50, < 100 us",
            at_big.cpu / at_small.cpu <= 1.5 && at_big.cpu < 100e-6 ? "ok" : "MISSED",
            bench_text("wall %s; plain DELETE %s; a scan of the executions takes %s",
                       bench_time(at_big.wall), cpu_time(plain.cpu),
                       cpu_time(bench_median(scans, 3))));

  /* the sweep trigger: first appends of new executions, big against small, and plain appends */
  Appends fresh_big = appends_of(db[BIG], 50, 1, result);
  Appends fresh_small = appends_of(db[SMALL], 50, 1, result);
  Appends existing = appends_of(db[BIG], 50, 0, result);
  BenchChunk append_chunk[3] = {appends_chunk, appends_chunk, appends_chunk};
  void *append_state[3] = {&fresh_big, &fresh_small, &existing};
  memset(spent, 0, sizeof spent);
  bench_rotate(append_chunk, append_state, 3, rounds, spent);
  BenchClock new_big = per_unit(spent[0], rounds, 50), new_small = per_unit(spent[1], rounds, 50);
  BenchClock append_big = per_unit(spent[2], rounds, 50);
  bench_row("6", bench_text("sweep trigger: new execution at %s", rows_big), cpu_time(new_big.cpu),
            bench_text("10,000 rows %s", cpu_time(new_small.cpu)), new_big.cpu / new_small.cpu,
            "<= 1.50 (index)", new_big.cpu / new_small.cpu <= 1.5 ? "ok" : "MISSED",
            bench_text("wall %s; an append to an existing execution (no trigger) %s: the new row "
                       "and its sweep add %s",
                       bench_time(new_big.wall), cpu_time(append_big.cpu),
                       bench_time(new_big.cpu - append_big.cpu)));
  sqlite3_finalize(fresh_big.stmt);
  sqlite3_finalize(fresh_small.stmt);
  sqlite3_finalize(existing.stmt);

  /* removing k expired executions, alternating nxm_cleanup and the plain DELETE */
  static const long ks[] = {10, 100, 1000};
  double removal[3], plain_removal[3], removal_wall[3];
  long batch = 0;
  int reps = quick ? 1 : 5;
  for (int i = 0; i < 3; i++) {
    double nxm_cpu[8], plain_cpu[8], nxm_wall[8];
    for (int r = 0; r < reps; r++) {
      int nxm_first = r % 2 == 0;
      BenchClock a = remove_expired(db[BIG], &big, ks[i], nxm_first, &batch);
      BenchClock b = remove_expired(db[BIG], &big, ks[i], !nxm_first, &batch);
      BenchClock by_nxm = nxm_first ? a : b, by_plain = nxm_first ? b : a;
      nxm_cpu[r] = by_nxm.cpu;
      plain_cpu[r] = by_plain.cpu;
      nxm_wall[r] = by_nxm.wall;
    }
    BenchSummary sum = bench_summary(nxm_cpu, plain_cpu, reps);
    removal[i] = sum.subject;
    plain_removal[i] = sum.baseline;
    removal_wall[i] = bench_median(nxm_wall, reps);
    bench_row("6",
              bench_text("cleanup removes %s expired executions (%s rows)", bench_count(ks[i]),
                         bench_count(ks[i] * 11)),
              cpu_time(sum.subject), bench_text("plain DELETE %s", cpu_time(sum.baseline)),
              sum.ratio, "(reference)", "-",
              bench_text("%.1f us cpu per execution; wall %s", sum.subject / (double)ks[i] * 1e6,
                         bench_time(removal_wall[i])));
  }
  /* cost = fixed + k * marginal: the marginal cost per execution must not grow with k */
  double marginal_small = (removal[1] - removal[0]) / 90,
         marginal_big = (removal[2] - removal[1]) / 900;
  double plain_small = (plain_removal[1] - plain_removal[0]) / 90;
  double plain_big = (plain_removal[2] - plain_removal[1]) / 900;
  double growth = marginal_big / marginal_small;
  bench_row("6", "cleanup is linear in k: cost per execution from 100 to 1,000",
            cpu_time(marginal_big), bench_text("from 10 to 100 %s", cpu_time(marginal_small)),
            growth, "<= 1.50", growth <= 1.5 ? "ok" : "MISSED",
            bench_text("plain DELETE %.2fx; fixed cost of one call %s; wall 1,000 vs 100: %.1fx",
                       plain_big / plain_small, cpu_time(removal[0] - 10 * marginal_small),
                       removal_wall[2] / removal_wall[1]));
  sweep_free(&big);
  sweep_free(&small);
}

int main(int argc, char **argv) {
  BenchArgs args;
  bench_parse_args(argc, argv, &args);
  char result[65];
  bench_result_text(result, 64, 1);

  sqlite3 *db[DATABASES];
  double start = bench_now();
  for (int d = 0; d < DATABASES; d++) {
    const char *path = bench_path(&args, d, NAMES[d]);
    bench_remove_db(path);
    db[d] = bench_open(path, args.extension, "NORMAL");
    if (args.quick && d == BIG) {
      EXECUTIONS[BIG] = EXECUTIONS[MID];
    }
    populate(db[d], "exec-", 0, EXECUTIONS[d], 10, 0);
    bench_exec(db[d], "PRAGMA wal_checkpoint(TRUNCATE)");
  }
  bench_note("6",
             "set-up of %s result rows in %.1f s (plain SQL, one transaction); "
             "databases at sync=NORMAL; figures are CPU time per call, wall time in the detail",
             bench_count(10 * (EXECUTIONS[BIG] + EXECUTIONS[MID] + EXECUTIONS[SMALL])),
             bench_now() - start);

  item7(db, args.quick);
  item6(db, args.quick, result);
  for (int d = 0; d < DATABASES; d++) {
    sqlite3_close(db[d]);
    bench_remove_db(bench_path(&args, d, NAMES[d]));
  }
  return 0;
}
