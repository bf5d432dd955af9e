/*
** bench_util.c: the helpers every benchmark program links (see bench_util.h).
**
** The floor schema is sql/schema.sql itself, embedded at build time (build/schema_sql.h), so the
** floor writes to exactly the tables, indexes and triggers nxm writes to.
*/
#define _GNU_SOURCE
#include "bench_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "schema_sql.h"

void bench_die(const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  fprintf(stderr, "bench: ");
  vfprintf(stderr, format, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

void bench_parse_args(int argc, char **argv, BenchArgs *args) {
  if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "quick") != 0)) {
    bench_die("usage: %s <work directory> <path of nxm.so> [quick]", argv[0]);
  }
  args->dir = argv[1];
  args->extension = argv[2];
  args->quick = argc == 4;
}

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *values, int count) {
  qsort(values, (size_t)count, sizeof(double), compare_doubles);
  return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

BenchSummary bench_summary(const double *subject, const double *baseline, int pairs) {
  double a[256], b[256], r[256];
  if (pairs < 1 || pairs > 256) {
    bench_die("bench_summary: %d pairs", pairs);
  }
  for (int i = 0; i < pairs; i++) {
    a[i] = subject[i];
    b[i] = baseline[i];
    r[i] = subject[i] / baseline[i];
  }
  BenchSummary summary = {bench_median(a, pairs), bench_median(b, pairs), bench_median(r, pairs)};
  return summary;
}

BenchClock bench_clock(void) {
  struct timespec wall, cpu;
  clock_gettime(CLOCK_MONOTONIC, &wall);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
  BenchClock now = {(double)wall.tv_sec + (double)wall.tv_nsec * 1e-9,
                    (double)cpu.tv_sec + (double)cpu.tv_nsec * 1e-9};
  return now;
}

static void timed_chunk(BenchChunk chunk, void *state, BenchClock *spent) {
  BenchClock start = bench_clock();
  chunk(state);
  BenchClock end = bench_clock();
  spent->wall += end.wall - start.wall;
  spent->cpu += end.cpu - start.cpu;
}

void bench_interleave(BenchChunk subject, void *subject_state, BenchChunk baseline,
                      void *baseline_state, int chunks, BenchClock spent[2]) {
  for (int i = 0; i < chunks; i++) {
    if (i % 2 == 0) {
      timed_chunk(subject, subject_state, &spent[0]);
      timed_chunk(baseline, baseline_state, &spent[1]);
    } else {
      timed_chunk(baseline, baseline_state, &spent[1]);
      timed_chunk(subject, subject_state, &spent[0]);
    }
  }
}

void bench_rotate(BenchChunk *chunk, void **state, int sides, int rounds, BenchClock *spent) {
  for (int round = 0; round < rounds; round++) {
    for (int k = 0; k < sides; k++) {
      int side = (round + k) % sides;
      timed_chunk(chunk[side], state[side], &spent[side]);
    }
  }
}

long long bench_bytes_written(void) {
  FILE *f = fopen("/proc/self/io", "r");
  if (f == 0) {
    return -1;
  }
  char line[128];
  long long wchar = -1;
  while (fgets(line, sizeof line, f) != 0) {
    if (sscanf(line, "wchar: %lld", &wchar) == 1) {
      break;
    }
  }
  fclose(f);
  return wchar;
}

void bench_exec(sqlite3 *db, const char *sql) {
  char *error = 0;
  if (sqlite3_exec(db, sql, 0, 0, &error) != SQLITE_OK) {
    bench_die("%s: %s", sql, error ? error : sqlite3_errmsg(db));
  }
}

sqlite3_stmt *bench_prepare(sqlite3 *db, const char *sql) {
  sqlite3_stmt *stmt = 0;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, 0) != SQLITE_OK) {
    bench_die("cannot prepare %s: %s", sql, sqlite3_errmsg(db));
  }
  return stmt;
}

void bench_run(sqlite3_stmt *stmt) {
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) {
    bench_die("%s: %s", sqlite3_sql(stmt), sqlite3_errmsg(sqlite3_db_handle(stmt)));
  }
  sqlite3_reset(stmt);
}

sqlite3 *bench_open(const char *path, const char *extension, const char *synchronous) {
  sqlite3 *db = 0;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0) != SQLITE_OK) {
    bench_die("cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
  }
  if (extension != 0) {
    char *error = 0;
    int enabled = 0;
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, &enabled);
    if (!enabled || sqlite3_load_extension(db, extension, 0, &error) != SQLITE_OK) {
      bench_die("cannot load %s: %s", extension, error ? error : "load_extension is disabled");
    }
  }
  sqlite3_busy_timeout(db, 10000);
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA synchronous = %s", synchronous);
  bench_exec(db, sql);
  return db;
}

void bench_create_floor_schema(sqlite3 *db) {
  bench_exec(db, "PRAGMA journal_mode = WAL");
  bench_exec(db, nxm_schema_sql);
}

void bench_remove_db(const char *path) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    char name[4096];
    snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
    unlink(name);
  }
}

const char *bench_path(const BenchArgs *args, int slot, const char *name) {
  static char paths[4][4096];
  snprintf(paths[slot & 3], sizeof paths[0], "%s/%s", args->dir, name);
  return paths[slot & 3];
}

/* Prose with an escaped newline and a non-ASCII letter now and then, like an AI answer. */
static const char FILLER[] =
    "The brand is well known in its home market; customers mention price, service and "
    "reliability first.\\n Competitors answer with lower prices (r\\u00e9sum\\u00e9 of 2024). ";

void bench_result_text(char *out, size_t bytes, long index) {
  if (bytes < 64) {
    bench_die("a result must have at least 64 bytes");
  }
  int n =
      snprintf(out, bytes, "{\"task\":\"t%08ld\",\"score\":%ld,\"answer\":\"", index, index % 997);
  size_t at = (size_t)n, end = bytes - 2, f = (size_t)index % 40;
  while (at < end) {
    char c = FILLER[f % (sizeof FILLER - 1)];
    if (c == '\\') {
      /* an escape is copied whole or not at all */
      size_t length = FILLER[(f + 1) % (sizeof FILLER - 1)] == 'u' ? 6 : 2;
      if (at + length > end) {
        out[at++] = ' ';
        continue;
      }
      for (size_t k = 0; k < length; k++) {
        out[at++] = FILLER[(f + k) % (sizeof FILLER - 1)];
      }
      f += length;
      continue;
    }
    out[at++] = c;
    f++;
  }
  out[at++] = '"';
  out[at++] = '}';
  out[at] = 0;
}

#define RING 16
static char ring[RING][128];
static int ring_next;

static char *ring_slot(void) {
  return ring[ring_next++ % RING];
}

const char *bench_text(const char *format, ...) {
  char *out = ring_slot();
  va_list ap;
  va_start(ap, format);
  vsnprintf(out, sizeof ring[0], format, ap);
  va_end(ap);
  return out;
}

const char *bench_time(double seconds) {
  if (seconds < 1e-3) {
    return bench_text("%.1f us", seconds * 1e6);
  }
  if (seconds < 1) {
    return bench_text("%.2f ms", seconds * 1e3);
  }
  return bench_text("%.2f s", seconds);
}

const char *bench_bytes(double bytes) {
  if (bytes < 1e6) {
    return bench_text("%.1f KB", bytes / 1e3);
  }
  if (bytes < 1e9) {
    return bench_text("%.1f MB", bytes / 1e6);
  }
  return bench_text("%.2f GB", bytes / 1e9);
}

const char *bench_count(long count) {
  char digits[32], *out = ring_slot();
  int length = snprintf(digits, sizeof digits, "%ld", count < 0 ? -count : count), at = 0;
  if (count < 0) {
    out[at++] = '-';
  }
  for (int i = 0; i < length; i++) {
    if (i > 0 && (length - i) % 3 == 0) {
      out[at++] = ',';
    }
    out[at++] = digits[i];
  }
  out[at] = 0;
  return out;
}

void bench_row(const char *item, const char *label, const char *subject, const char *baseline,
               double ratio, const char *target, const char *verdict, const char *detail) {
  printf("ROW\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n", item, label, subject, baseline, ratio, target,
         verdict, detail ? detail : "");
  fflush(stdout);
}

void bench_note(const char *item, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  printf("NOTE\t%s\t", item);
  vprintf(format, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
}
