/*
** bench_concurrency.c: item 8 of the benchmark, appends per second with 1, 2 and 4 writer processes
** on one database.
**
** Each writer is a forked process with its own connection (opened after the fork) and a 10 s
** busy_timeout, appending 2 KB results in autocommit mode to one shared execution; all start
** together on a pipe. nxm and the floor (writer.h: BEGIN IMMEDIATE, UPDATE, INSERT, COMMIT) run the
** same scenario on their own database, in alternating order. The detail column says what limits the
** figure: the rate against one writer, the writers' CPU use against the machine's, and the share of
** the floor writers' time spent waiting for the write lock in BEGIN IMMEDIATE (nxm takes the same
** lock inside the call, where it cannot be timed apart).
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "writer.h"

#define RESULT_BYTES 2048

typedef struct Run {
  double rate;       /* appends per second, all writers together */
  double cpu_share;  /* writers' CPU seconds / (wall seconds * online CPUs) */
  double lock_share; /* floor only: share of the writers' time spent waiting in BEGIN IMMEDIATE */
} Run;

static double children_cpu(void) {
  struct rusage usage;
  getrusage(RUSAGE_CHILDREN, &usage);
  return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec * 1e-6 +
         (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec * 1e-6;
}

/* One writer: waits for the start, appends, reports its seconds and its lock wait on report_fd. */
static void writer_process(WriterKind kind, const char *path, const BenchArgs *args,
                           const char *synchronous, int start_fd, int report_fd, long appends) {
  char result[RESULT_BYTES + 1];
  char go;
  bench_result_text(result, RESULT_BYTES, getpid());
  Writer w;
  writer_open(&w, kind, path, args->extension, synchronous, "bench-concurrency");
  if (read(start_fd, &go, 1) != 1) {
    _exit(2);
  }
  double begin = bench_now();
  for (long i = 0; i < appends; i++) {
    writer_append(&w, result, RESULT_BYTES);
  }
  double report[2] = {bench_now() - begin, w.lock_wait};
  writer_close(&w);
  _exit(write(report_fd, report, sizeof report) == sizeof report ? 0 : 3);
}

static Run run(WriterKind kind, const BenchArgs *args, const char *synchronous, int writers,
               long total) {
  const char *path = bench_path(args, kind, kind == WRITER_NXM ? "conc_nxm.db" : "conc_floor.db");
  bench_remove_db(path);
  char result[RESULT_BYTES + 1];
  bench_result_text(result, RESULT_BYTES, 0);
  Writer creator;
  writer_open(&creator, kind, path, args->extension, synchronous, "bench-concurrency");
  writer_start_execution(&creator, result);
  writer_close(&creator);

  int start[2], report[2];
  if (pipe(start) != 0 || pipe(report) != 0) {
    bench_die("pipe failed");
  }
  fflush(stdout);
  for (int i = 0; i < writers; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      bench_die("fork failed");
    }
    if (pid == 0) {
      close(start[1]);
      close(report[0]);
      writer_process(kind, path, args, synchronous, start[0], report[1], total / writers);
    }
  }
  close(start[0]);
  close(report[1]);
  usleep(50000); /* every writer has opened its connection and waits on the pipe */
  double cpu_before = children_cpu();
  double begin = bench_now();
  char go[8] = {0};
  if (write(start[1], go, (size_t)writers) != writers) {
    bench_die("cannot start the writers");
  }
  int failed = 0;
  for (int i = 0; i < writers; i++) {
    int status = 0;
    wait(&status);
    failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  double wall = bench_now() - begin;
  close(start[1]);
  if (failed) {
    bench_die("a %s writer failed", writer_name(kind));
  }
  double seconds = 0, waited = 0, figures_of_one[2];
  for (int i = 0; i < writers; i++) {
    if (read(report[0], figures_of_one, sizeof figures_of_one) != sizeof figures_of_one) {
      bench_die("a %s writer sent no report", writer_name(kind));
    }
    seconds += figures_of_one[0];
    waited += figures_of_one[1];
  }
  close(report[0]);
  bench_remove_db(path);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  Run figures = {(double)(total / writers * writers) / wall,
                 (children_cpu() - cpu_before) / (wall * (double)(cpus > 0 ? cpus : 1)),
                 waited / seconds};
  return figures;
}

int main(int argc, char **argv) {
  BenchArgs args;
  bench_parse_args(argc, argv, &args);
  static const char *const syncs[] = {"NORMAL", "FULL"};
  static const int writer_counts[] = {1, 2, 4};
  int reps = args.quick ? 1 : 9;

  for (int y = 0; y < 2; y++) {
    long total = y == 0 ? (args.quick ? 400 : 800) : (args.quick ? 60 : 120);
    double single = 0;
    for (int c = 0; c < 3; c++) {
      double nxm_rate[16], floor_rate[16], nxm_cpu[16], floor_wait[16];
      for (int r = 0; r < reps; r++) {
        int nxm_first = r % 2 == 0;
        Run first =
            run(nxm_first ? WRITER_NXM : WRITER_FLOOR, &args, syncs[y], writer_counts[c], total);
        Run second =
            run(nxm_first ? WRITER_FLOOR : WRITER_NXM, &args, syncs[y], writer_counts[c], total);
        Run nxm = nxm_first ? first : second, hand = nxm_first ? second : first;
        nxm_rate[r] = nxm.rate;
        floor_rate[r] = hand.rate;
        nxm_cpu[r] = nxm.cpu_share;
        floor_wait[r] = hand.lock_share;
      }
      /* rates: the ratio is nxm / floor, higher is better */
      BenchSummary sum = bench_summary(nxm_rate, floor_rate, reps);
      if (c == 0) {
        single = sum.subject;
      }
      bench_row("8",
                bench_text("%d writer process%s, 2 KB, sync=%s", writer_counts[c],
                           writer_counts[c] > 1 ? "es" : "", syncs[y]),
                bench_text("%.0f appends/s", sum.subject), bench_text("floor %.0f/s", sum.baseline),
                sum.ratio, ">= 0.80", sum.ratio >= 0.8 ? "ok" : "MISSED",
                bench_text("%.2fx one writer; nxm writers use %.0f%% of the CPUs; floor writers "
                           "wait %.0f%% of their time for the write lock",
                           sum.subject / single, 100 * bench_median(nxm_cpu, reps),
                           100 * bench_median(floor_wait, reps)));
    }
  }
  bench_note("8",
             "ratio = nxm rate / floor rate (higher is better); %d repetition(s) per case, nxm "
             "and floor alternating; 800 (NORMAL) or 120 (FULL) appends per run shared among "
             "the writers",
             reps);
  return 0;
}
