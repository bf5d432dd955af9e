/*
** bench_hot.c: one hot loop at a time, untimed, for a profiler to look at:
**   perf record -g build/bench/bench_hot <dir> build/nxm.so <loop> [iterations]
**   valgrind --tool=callgrind build/bench/bench_hot <dir> build/nxm.so <loop> [iterations]
** Loops: append-batch[:bytes] (results of 2 KB or `bytes`, 1,000 per transaction, sync=NORMAL),
** append-autocommit[:bytes] (one per transaction), floor-batch[:bytes] and floor-autocommit[:bytes]
** (the floor writer of writer.h), cleanup (nxm_cleanup with nothing expired), lookup (nxm_progress
** by execution_id among 10,000 executions), and sql:<statement> (any statement on that database of
** 10,000 executions; ?1 gets an execution_id).
** scripts/bench/profile.sh runs each under callgrind and prints where the instructions go.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "populate.h"
#include "writer.h"

__attribute__((noinline)) static void hot_appends(Writer *w, const char *result, int bytes,
                                                  int batch, long count) {
  for (long i = 0; i < count; i++) {
    if (batch > 1 && i % batch == 0) {
      writer_begin(w);
    }
    writer_append(w, result, bytes);
    if (batch > 1 && (i + 1) % batch == 0) {
      writer_commit(w);
    }
  }
  if (w->in_transaction) {
    writer_commit(w);
  }
}

static void appends(const char *dir, const char *extension, WriterKind kind, int batch, long count,
                    int bytes) {
  char path[4096];
  char *result = malloc((size_t)bytes + 1);
  snprintf(path, sizeof path, "%s/hot_%s.db", dir, writer_name(kind));
  bench_remove_db(path);
  Writer w;
  writer_open(&w, kind, path, extension, "NORMAL", "hot");
  if (result == 0) {
    bench_die("out of memory");
  }
  bench_result_text(result, (size_t)bytes, 0);
  writer_start_execution(&w, result);
  hot_appends(&w, result, bytes, batch, count);
  writer_close(&w);
  free(result);
  bench_remove_db(path);
}

/* The loops themselves, kept out of line: callgrind --toggle-collect='hot_*' counts only them. */
__attribute__((noinline)) static void hot_statement(sqlite3_stmt *stmt, int bind_id, long count) {
  char id[32];
  for (long i = 0; i < count; i++) {
    if (bind_id) {
      snprintf(id, sizeof id, "exec-%06ld", (i * 7919) % 10000);
      sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
    }
    bench_run(stmt);
  }
}

static void statements(const char *dir, const char *extension, const char *sql, int bind_id,
                       long count) {
  char path[4096];
  snprintf(path, sizeof path, "%s/hot_tables.db", dir);
  bench_remove_db(path);
  sqlite3 *db = bench_open(path, extension, "NORMAL");
  populate(db, "exec-", 0, 10000, 2, 0);
  sqlite3_stmt *stmt = bench_prepare(db, sql);
  hot_statement(stmt, bind_id, count);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  bench_remove_db(path);
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 5) {
    bench_die("usage: %s <dir> <nxm.so> <loop> [iterations]   (loops: see bench_hot.c)", argv[0]);
  }
  const char *dir = argv[1], *extension = argv[2], *loop = argv[3];
  long count = argc == 5 ? atol(argv[4]) : 20000;
  const char *size = strchr(loop, ':');
  int bytes = size && strncmp(loop, "sql:", 4) != 0 ? atoi(size + 1) : 2048;
  size_t name = size && strncmp(loop, "sql:", 4) != 0 ? (size_t)(size - loop) : strlen(loop);
  if (strncmp(loop, "append-batch", name) == 0 && name == 12) {
    appends(dir, extension, WRITER_NXM, 1000, count, bytes);
  } else if (strncmp(loop, "floor-batch", name) == 0 && name == 11) {
    appends(dir, extension, WRITER_FLOOR, 1000, count, bytes);
  } else if (strncmp(loop, "append-autocommit", name) == 0 && name == 17) {
    appends(dir, extension, WRITER_NXM, 1, count, bytes);
  } else if (strncmp(loop, "floor-autocommit", name) == 0 && name == 16) {
    appends(dir, extension, WRITER_FLOOR, 1, count, bytes);
  } else if (strcmp(loop, "cleanup") == 0) {
    statements(dir, extension, "SELECT nxm_cleanup()", 0, count);
  } else if (strcmp(loop, "lookup") == 0) {
    statements(dir, extension, "SELECT * FROM nxm_progress WHERE execution_id = ?1", 1, count);
  } else if (strncmp(loop, "sql:", 4) == 0) {
    statements(dir, extension, loop + 4, strstr(loop, "?1") != 0, count);
  } else {
    bench_die("unknown loop %s", loop);
  }
  return 0;
}
