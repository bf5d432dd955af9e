/*
** bench_util.h: what the nxm benchmark programs share: the clock, medians, opening a database with
** or without nxm loaded, result texts of an exact size, the floor schema, and the rows they print.
**
** Every program prints its findings as tab-separated lines that run_bench.py turns into one table:
**   ROW  <item> <case> <nxm figure> <baseline figure> <ratio> <target> <verdict> <detail>
**   NOTE <item> <text>
** Figures are already formatted with their units; the ratio is nxm over baseline unless the row
** says otherwise; the verdict is "ok", "MISSED" or "-" (a row that only informs).
*/
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <sqlite3.h>
#include <stddef.h>

/* What every program is given on its command line: bench_<x> <work directory> <nxm.so> [quick]. */
typedef struct BenchArgs {
  const char *dir;       /* where databases go: on the disk under test, not tmpfs */
  const char *extension; /* path of build/nxm.so */
  int quick;             /* 1: a tenth of the work, for a smoke run */
} BenchArgs;

void bench_parse_args(int argc, char **argv, BenchArgs *args);
void bench_die(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Seconds on the monotonic clock. */
double bench_now(void);
/* Median of `count` values; sorts them in place. */
double bench_median(double *values, int count);
/* What interleaved runs of a subject and its baseline come to: the median of each side, and the
** median of the per-pair ratios subject / baseline (robust to a burst of load hitting one pair). */
typedef struct BenchSummary {
  double subject, baseline, ratio;
} BenchSummary;
BenchSummary bench_summary(const double *subject, const double *baseline, int pairs);
/* Wall seconds and this process's CPU seconds (user + system). */
typedef struct BenchClock {
  double wall, cpu;
} BenchClock;
BenchClock bench_clock(void);

/* One chunk of work of one side of a comparison. */
typedef void (*BenchChunk)(void *state);
/* Runs `chunks` chunks of each side, alternating A B B A A B ..., so that both sides see the same
** load on a shared machine; adds each side's wall and CPU seconds to spent[0] (subject) and
** spent[1] (baseline). */
void bench_interleave(BenchChunk subject, void *subject_state, BenchChunk baseline,
                      void *baseline_state, int chunks, BenchClock spent[2]);
/* The same for `sides` sides: round c starts with side c % sides and goes round once. */
void bench_rotate(BenchChunk *chunk, void **state, int sides, int rounds, BenchClock *spent);

/* Bytes this process has handed to write(2) and friends so far (wchar of /proc/self/io). */
long long bench_bytes_written(void);

/* Opens (creating) a database; loads nxm when `extension` is not 0; sets synchronous (such as
** "NORMAL") and a 10 s busy_timeout. A floor database gets its schema from
** bench_create_floor_schema(). */
sqlite3 *bench_open(const char *path, const char *extension, const char *synchronous);
void bench_create_floor_schema(sqlite3 *db);
void bench_exec(sqlite3 *db, const char *sql);
sqlite3_stmt *bench_prepare(sqlite3 *db, const char *sql);
/* Steps to the end (ignoring rows) and resets; dies on an error. */
void bench_run(sqlite3_stmt *stmt);
/* Deletes a database and its -wal and -shm files. */
void bench_remove_db(const char *path);
/* Joins dir and name into a static buffer of its own per slot (slot 0..3). */
const char *bench_path(const BenchArgs *args, int slot, const char *name);

/* A distinct JSON object of exactly `bytes` bytes (at least 64) for result number `index`, written
** into `out`, which has room for bytes + 1. */
void bench_result_text(char *out, size_t bytes, long index);

/* Output. */
void bench_row(const char *item, const char *label, const char *subject, const char *baseline,
               double ratio, const char *target, const char *verdict, const char *detail);
void bench_note(const char *item, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Formats a duration in seconds as "12.3 us", "4.56 ms" or "1.23 s" (a static ring of buffers). */
const char *bench_time(double seconds);
const char *bench_bytes(double bytes);
/* A count with thousands separators: 1,000,000. */
const char *bench_count(long count);
const char *bench_text(const char *format, ...) __attribute__((format(printf, 1, 2)));

#endif
