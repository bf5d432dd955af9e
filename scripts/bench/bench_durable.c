/*
** bench_durable.c: item 4 of the benchmark, durable appends.
**
** With synchronous=FULL and one append per transaction, each nxm append waits for the disk once
** (the WAL is synced at every commit). Its rate is compared, in short rounds that visit every side
** in a rotating order, with the raw rate of this disk: write(2) of a record of the result's size to
** the end of a file, then fdatasync(2). Three more sides say what bounds the figure: the floor
** (writer.h) under the same settings; the raw rate for records as large as what nxm hands to
** write(2) per append (a WAL frame is a whole page, and an append changes several pages); and
** rewriting one block in place.
*/
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "writer.h"

#define PER_CHUNK 5

enum { SIDE_NXM, SIDE_RAW, SIDE_FLOOR, SIDE_RAW_LARGE, SIDE_IN_PLACE, SIDES };

typedef struct SqlSide {
  Writer writer;
  const char *result;
  int bytes;
  long long written; /* bytes handed to write(2) during the chunks */
} SqlSide;

typedef struct RawSide {
  int fd;
  const char *record;
  int bytes;
  int in_place; /* 1: pwrite at offset 0 each time; 0: append to the end */
} RawSide;

static void sql_chunk(void *state) {
  SqlSide *side = state;
  long long before = bench_bytes_written();
  for (int i = 0; i < PER_CHUNK; i++) {
    writer_append(&side->writer, side->result, side->bytes);
  }
  side->written += bench_bytes_written() - before;
}

static void raw_chunk(void *state) {
  RawSide *side = state;
  for (int i = 0; i < PER_CHUNK; i++) {
    ssize_t done = side->in_place ? pwrite(side->fd, side->record, (size_t)side->bytes, 0)
                                  : write(side->fd, side->record, (size_t)side->bytes);
    if (done != side->bytes || fdatasync(side->fd) != 0) {
      bench_die("raw write+fdatasync failed");
    }
  }
}

static void open_sql(SqlSide *side, WriterKind kind, const BenchArgs *args, const char *name) {
  const char *path = bench_path(args, kind, name);
  bench_remove_db(path);
  writer_open(&side->writer, kind, path, args->extension, "FULL", "bench-durable");
  writer_start_execution(&side->writer, side->result);
  for (int i = 0; i < 20; i++) {
    writer_append(&side->writer, side->result, side->bytes);
  }
}

static void open_raw(RawSide *side, const BenchArgs *args, const char *name) {
  const char *path = bench_path(args, 2, name);
  side->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | (side->in_place ? 0 : O_APPEND), 0644);
  /* the in-place file gets its block before timing, so that later writes change no size */
  if (side->fd < 0 || write(side->fd, side->record, (size_t)side->bytes) != side->bytes ||
      fdatasync(side->fd) != 0) {
    bench_die("cannot write %s", path);
  }
}

static void close_raw(RawSide *side, const BenchArgs *args, const char *name) {
  close(side->fd);
  unlink(bench_path(args, 2, name));
}

/* Bytes nxm hands to write(2) per append of `result`, measured on a scratch database. */
static int nxm_bytes_per_append(const BenchArgs *args, const char *result, int bytes) {
  SqlSide probe = {.result = result, .bytes = bytes};
  open_sql(&probe, WRITER_NXM, args, "durable_probe.db");
  for (int i = 0; i < 5; i++) {
    sql_chunk(&probe);
  }
  writer_close(&probe.writer);
  bench_remove_db(bench_path(args, 0, "durable_probe.db"));
  return (int)(probe.written / (5 * PER_CHUNK));
}

int main(int argc, char **argv) {
  BenchArgs args;
  bench_parse_args(argc, argv, &args);
  static const int sizes[] = {200, 2048, 20480};
  int reps = args.quick ? 1 : 3;
  int rounds = args.quick ? 4 : 20;

  for (int s = 0; s < 3; s++) {
    char *result = malloc((size_t)sizes[s] + 1);
    int large = 0;
    if (result == 0) {
      bench_die("out of memory");
    }
    bench_result_text(result, (size_t)sizes[s], s);
    large = nxm_bytes_per_append(&args, result, sizes[s]);
    char *large_record = calloc(1, (size_t)large);
    if (large_record == 0) {
      bench_die("out of memory");
    }

    /* per round: each side's appends per second in that round; the summary takes medians over
    ** all rounds of all repetitions, so that a stall of the shared disk weighs as one round */
    int samples = reps * rounds;
    double *rate[SIDES];
    for (int side = 0; side < SIDES; side++) {
      rate[side] = malloc(sizeof(double) * (size_t)samples);
      if (rate[side] == 0) {
        bench_die("out of memory");
      }
    }
    for (int r = 0; r < reps; r++) {
      SqlSide nxm = {.result = result, .bytes = sizes[s]}, hand = nxm;
      RawSide raw = {.record = result, .bytes = sizes[s]};
      RawSide raw_large = {.record = large_record, .bytes = large};
      RawSide in_place = {.record = result, .bytes = sizes[s], .in_place = 1};
      open_sql(&nxm, WRITER_NXM, &args, "durable_nxm.db");
      open_sql(&hand, WRITER_FLOOR, &args, "durable_floor.db");
      open_raw(&raw, &args, "durable.raw");
      open_raw(&raw_large, &args, "durable.raw_large");
      open_raw(&in_place, &args, "durable.in_place");

      BenchChunk chunk[SIDES] = {sql_chunk, raw_chunk, sql_chunk, raw_chunk, raw_chunk};
      void *state[SIDES] = {&nxm, &raw, &hand, &raw_large, &in_place};
      for (int round = 0; round < rounds; round++) {
        BenchClock spent[SIDES];
        memset(spent, 0, sizeof spent);
        /* the order of the sides rotates from round to round */
        BenchChunk rotated_chunk[SIDES];
        void *rotated_state[SIDES];
        for (int k = 0; k < SIDES; k++) {
          rotated_chunk[k] = chunk[(round + k) % SIDES];
          rotated_state[k] = state[(round + k) % SIDES];
        }
        bench_rotate(rotated_chunk, rotated_state, SIDES, 1, spent);
        for (int k = 0; k < SIDES; k++) {
          rate[(round + k) % SIDES][r * rounds + round] = PER_CHUNK / spent[k].wall;
        }
      }

      writer_close(&nxm.writer);
      writer_close(&hand.writer);
      bench_remove_db(bench_path(&args, WRITER_NXM, "durable_nxm.db"));
      bench_remove_db(bench_path(&args, WRITER_FLOOR, "durable_floor.db"));
      close_raw(&raw, &args, "durable.raw");
      close_raw(&raw_large, &args, "durable.raw_large");
      close_raw(&in_place, &args, "durable.in_place");
    }

    BenchSummary sum = bench_summary(rate[SIDE_NXM], rate[SIDE_RAW], samples);
    bench_row("4",
              bench_text("%s, sync=FULL, autocommit", sizes[s] == 200    ? "200 B"
                                                      : sizes[s] == 2048 ? "2 KB"
                                                                         : "20 KB"),
              bench_text("%.0f appends/s", sum.subject),
              bench_text("write+fdatasync %.0f/s", sum.baseline), sum.ratio, ">= 0.80",
              sum.ratio >= 0.8 ? "ok" : "MISSED",
              bench_text("floor %.0f/s; raw %s records %.0f/s; in place %.0f/s",
                         bench_median(rate[SIDE_FLOOR], samples), bench_bytes(large),
                         bench_median(rate[SIDE_RAW_LARGE], samples),
                         bench_median(rate[SIDE_IN_PLACE], samples)));
    for (int side = 0; side < SIDES; side++) {
      free(rate[side]);
    }
    free(large_record);
    free(result);
  }
  bench_note("4",
             "ratio = nxm rate / raw rate (higher is better); raw = append a record of the "
             "result's size to a file and fdatasync; rounds of %d appends per side over 5 sides "
             "in rotating order, %d rounds in each of %d repetition(s); rates and ratio are "
             "medians over the rounds",
             PER_CHUNK, rounds, reps);
  return 0;
}
