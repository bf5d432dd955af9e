/*
** bench_append.c: items 1 and 2 of the benchmark.
**
**  1. The cost of one append through nxm versus the floor (writer.h), in autocommit and in batches
**     of 100 and 1,000 per transaction, with synchronous NORMAL and FULL, for results of 200 B, 2
**     KB and 20 KB. Each repetition opens two fresh databases in the work directory and alternates
**     chunks of appends between them (bench_interleave), so both sides see the same load.
**  2. Whether that cost stays flat as one execution grows: every call of 100,600 appends is timed,
**     and the median of the 100 calls around the 100th is compared with the median around the
**     100,000th (and the means of 1,000 calls around each, which include the WAL checkpoints).
*/
#include <stdio.h>
#include <stdlib.h>

#include "writer.h"

#define POOL 64

typedef struct Pool {
  int bytes;
  char *text[POOL];
} Pool;

static void pool_fill(Pool *pool, int bytes) {
  pool->bytes = bytes;
  for (int i = 0; i < POOL; i++) {
    pool->text[i] = malloc((size_t)bytes + 1);
    if (pool->text[i] == 0) {
      bench_die("out of memory");
    }
    bench_result_text(pool->text[i], (size_t)bytes, i);
  }
}

static void pool_free(Pool *pool) {
  for (int i = 0; i < POOL; i++) {
    free(pool->text[i]);
  }
}

/* Appends `count` results in transactions of `batch` (1: autocommit). */
static void appends(Writer *w, const Pool *pool, long count, int batch) {
  for (long i = 0; i < count; i++) {
    if (batch > 1 && i % batch == 0) {
      writer_begin(w);
    }
    writer_append(w, pool->text[(w->appended + 1) % POOL], pool->bytes);
    if (batch > 1 && (i + 1) % batch == 0) {
      writer_commit(w);
    }
  }
  if (w->in_transaction) {
    writer_commit(w);
  }
}

typedef struct AppendChunk {
  Writer writer;
  const Pool *pool;
  int batch;
  long count;
} AppendChunk;

static void append_chunk(void *state) {
  AppendChunk *chunk = state;
  appends(&chunk->writer, chunk->pool, chunk->count, chunk->batch);
}

static const char *db_name(WriterKind kind) {
  return kind == WRITER_NXM ? "append_nxm.db" : "append_floor.db";
}

static void open_fresh(Writer *w, WriterKind kind, const BenchArgs *args, const char *synchronous,
                       const Pool *pool) {
  const char *path = bench_path(args, kind, db_name(kind));
  bench_remove_db(path);
  writer_open(w, kind, path, args->extension, synchronous, "bench-append");
  writer_start_execution(w, pool->text[0]);
  appends(w, pool, 50, 1); /* warm the caches and the statements */
}

static void close_and_remove(Writer *w, const BenchArgs *args) {
  WriterKind kind = w->kind;
  writer_close(w);
  bench_remove_db(bench_path(args, kind, db_name(kind)));
}

/* Appends per chunk, and chunks per side and repetition: about 0.1 to 0.3 s of work per side. */
static void plan_runs(int bytes, int full, int batch, int quick, long *per_chunk, int *chunks) {
  if (batch > 1) {
    *per_chunk = batch;
    *chunks = (bytes >= 20480 ? 3000 : 6000) / batch;
  } else {
    *per_chunk = full ? 10 : 50;
    *chunks = full ? (bytes >= 20480 ? 30 : 40) : (bytes >= 20480 ? 30 : 80);
  }
  if (quick) {
    *chunks = *chunks / 10 < 2 ? 2 : *chunks / 10;
  }
}

static void item1(const BenchArgs *args) {
  static const int sizes[] = {200, 2048, 20480};
  static const char *const syncs[] = {"NORMAL", "FULL"};
  static const int batches[] = {1, 100, 1000};
  int reps = args->quick ? 1 : 4;

  for (int s = 0; s < 3; s++) {
    Pool pool;
    pool_fill(&pool, sizes[s]);
    for (int y = 0; y < 2; y++) {
      for (int b = 0; b < 3; b++) {
        long per_chunk;
        int chunks;
        plan_runs(sizes[s], y == 1, batches[b], args->quick, &per_chunk, &chunks);
        double wall[2][8], cpu[2][8];
        for (int r = 0; r < reps; r++) {
          AppendChunk nxm = {.pool = &pool, .batch = batches[b], .count = per_chunk};
          AppendChunk hand = nxm;
          open_fresh(&nxm.writer, WRITER_NXM, args, syncs[y], &pool);
          open_fresh(&hand.writer, WRITER_FLOOR, args, syncs[y], &pool);
          BenchClock spent[2] = {{0, 0}, {0, 0}};
          bench_interleave(append_chunk, &nxm, append_chunk, &hand, chunks, spent);
          close_and_remove(&nxm.writer, args);
          close_and_remove(&hand.writer, args);
          for (int side = 0; side < 2; side++) {
            wall[side][r] = spent[side].wall / (double)(per_chunk * chunks);
            cpu[side][r] = spent[side].cpu / (double)(per_chunk * chunks);
          }
        }
        BenchSummary by_wall = bench_summary(wall[0], wall[1], reps);
        BenchSummary by_cpu = bench_summary(cpu[0], cpu[1], reps);
        const char *label = bench_text("%s, %s, sync=%s",
                                       sizes[s] == 200    ? "200 B"
                                       : sizes[s] == 2048 ? "2 KB"
                                                          : "20 KB",
                                       batches[b] == 1     ? "autocommit"
                                       : batches[b] == 100 ? "batch 100"
                                                           : "batch 1000",
                                       syncs[y]);
        bench_row("1", label, bench_time(by_wall.subject),
                  bench_text("floor %s", bench_time(by_wall.baseline)), by_wall.ratio, "<= 1.20",
                  by_wall.ratio <= 1.2 ? "ok" : "MISSED",
                  bench_text("cpu %s vs %s (%.2fx)", bench_time(by_cpu.subject),
                             bench_time(by_cpu.baseline), by_cpu.ratio));
      }
    }
    pool_free(&pool);
  }
  bench_note("1",
             "wall time per append; median over %d repetition(s), each on two fresh databases "
             "with nxm and floor chunks interleaved (10 to 1,000 appends per chunk)",
             reps);
}

static double window_median(const double *per_call, long center, long width, double *scratch) {
  for (long i = 0; i < width; i++) {
    scratch[i] = per_call[center - width / 2 + i];
  }
  return bench_median(scratch, (int)width);
}

static double window_mean(const double *per_call, long center, long width) {
  double sum = 0;
  for (long i = 0; i < width; i++) {
    sum += per_call[center - width / 2 + i];
  }
  return sum / (double)width;
}

static double timed_append(Writer *w, const Pool *pool) {
  double start = bench_now();
  writer_append(w, pool->text[w->appended % POOL], pool->bytes);
  return bench_now() - start;
}

static void item2(const BenchArgs *args) {
  long far = args->quick ? 10000 : 100000;
  long count = far + 600;
  int reps = args->quick ? 1 : 2;
  double *per_call[2] = {malloc(sizeof(double) * (size_t)count),
                         malloc(sizeof(double) * (size_t)count)};
  double scratch[1000];
  Pool pool;
  pool_fill(&pool, 2048);
  if (per_call[0] == 0 || per_call[1] == 0) {
    bench_die("out of memory");
  }

  /* [side][repetition]: medians of 100 calls and means of 1,000 calls, near call 100 and `far` */
  double near_median[2][4], far_median[2][4], near_mean[2][4], far_mean[2][4];
  for (int r = 0; r < reps; r++) {
    Writer w[2];
    for (int side = 0; side < 2; side++) {
      const char *path =
          bench_path(args, side, side == WRITER_NXM ? "flat_nxm.db" : "flat_floor.db");
      bench_remove_db(path);
      writer_open(&w[side], (WriterKind)side, path, args->extension, "NORMAL", "bench-flat");
      /* the first append creates the execution: call number i (from 1) is per_call[side][i - 1] */
      per_call[side][0] = 0;
      writer_start_execution(&w[side], pool.text[0]);
    }
    for (long i = 1; i < count; i++) {
      int first = (int)(i % 2);
      per_call[first][i] = timed_append(&w[first], &pool);
      per_call[!first][i] = timed_append(&w[!first], &pool);
    }
    for (int side = 0; side < 2; side++) {
      writer_close(&w[side]);
      bench_remove_db(bench_path(args, side, side == WRITER_NXM ? "flat_nxm.db" : "flat_floor.db"));
      near_median[side][r] = window_median(per_call[side], 99, 100, scratch);
      far_median[side][r] = window_median(per_call[side], far - 1, 100, scratch);
      near_mean[side][r] = window_mean(per_call[side], 599, 1000);
      far_mean[side][r] = window_mean(per_call[side], far - 1, 1000);
    }
  }

  const char *far_name = args->quick ? "10,000th" : "100,000th";
  for (int side = 0; side < 2; side++) {
    double n = bench_median(near_median[side], reps), f = bench_median(far_median[side], reps);
    double nm = bench_median(near_mean[side], reps), fm = bench_median(far_mean[side], reps);
    int is_nxm = side == WRITER_NXM;
    bench_row("2", bench_text("%s: %s vs 100th append", writer_name((WriterKind)side), far_name),
              bench_time(f), bench_text("100th %s", bench_time(n)), f / n,
              is_nxm ? "<= 1.20" : "(reference)", is_nxm ? (f / n <= 1.2 ? "ok" : "MISSED") : "-",
              "median of the 100 calls around each");
    bench_row("2", bench_text("%s: same, mean of 1,000 calls", writer_name((WriterKind)side)),
              bench_time(fm), bench_text("calls 100-1,099 %s", bench_time(nm)), fm / nm,
              "(reference)", "-", "WAL checkpoints included");
  }
  bench_note("2",
             "2 KB results, sync=NORMAL, autocommit, one execution per database; nxm and floor "
             "appends alternate call by call, every call timed; median of %d repetition(s)",
             reps);
  pool_free(&pool);
  free(per_call[0]);
  free(per_call[1]);
}

int main(int argc, char **argv) {
  BenchArgs args;
  bench_parse_args(argc, argv, &args);
  item1(&args);
  item2(&args);
  return 0;
}
