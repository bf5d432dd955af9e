/*
** writer.c: the nxm writer and the hand-written floor writer (see writer.h).
*/
#define _GNU_SOURCE
#include "writer.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define TOTAL 1000000000 /* the total passed to nxm: never reached, so every append is accepted */
#define BRAND "Brand A"
#define MODEL "model-1"

static double unix_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void writer_open(Writer *w, WriterKind kind, const char *path, const char *extension,
                 const char *synchronous, const char *execution_id) {
  memset(w, 0, sizeof *w);
  w->kind = kind;
  snprintf(w->execution_id, sizeof w->execution_id, "%s", execution_id);
  w->db = bench_open(path, kind == WRITER_NXM ? extension : 0, synchronous);
  if (kind == WRITER_FLOOR) {
    bench_create_floor_schema(w->db);
  }
  w->begin = bench_prepare(w->db, "BEGIN IMMEDIATE");
  w->commit = bench_prepare(w->db, "COMMIT");
  if (kind == WRITER_NXM) {
    w->append = bench_prepare(w->db, "SELECT nxm_wal_append(?1, ?2, NULL, ?3, ?4, ?5)");
    sqlite3_bind_text(w->append, 1, w->execution_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(w->append, 3, TOTAL);
    sqlite3_bind_text(w->append, 4, BRAND, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->append, 5, MODEL, -1, SQLITE_STATIC);
    return;
  }
  w->create = bench_prepare(
      w->db, "INSERT OR IGNORE INTO nxm_executions (execution_id, completed, total, recorded, "
             "brand, model, created_at, updated_at) VALUES (?1, 0, ?2, 0, ?3, ?4, ?5, ?5)");
  w->update = bench_prepare(
      w->db, "UPDATE nxm_executions SET completed = completed + 1, recorded = recorded + 1, "
             "brand = ?2, model = ?3, updated_at = ?4 WHERE execution_id = ?1");
  w->insert = bench_prepare(
      w->db, "INSERT INTO nxm_results (execution_id, task_id, brand, model, result, appended_at) "
             "VALUES (?1, NULL, ?2, ?3, ?4, ?5)");
  sqlite3_bind_text(w->update, 1, w->execution_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(w->update, 2, BRAND, -1, SQLITE_STATIC);
  sqlite3_bind_text(w->update, 3, MODEL, -1, SQLITE_STATIC);
  sqlite3_bind_text(w->insert, 1, w->execution_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(w->insert, 2, BRAND, -1, SQLITE_STATIC);
  sqlite3_bind_text(w->insert, 3, MODEL, -1, SQLITE_STATIC);
}

void writer_start_execution(Writer *w, const char *result) {
  if (w->kind == WRITER_FLOOR) {
    sqlite3_bind_text(w->create, 1, w->execution_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(w->create, 2, TOTAL);
    sqlite3_bind_text(w->create, 3, BRAND, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->create, 4, MODEL, -1, SQLITE_STATIC);
    sqlite3_bind_double(w->create, 5, unix_time());
    bench_run(w->create);
  }
  writer_append(w, result, -1);
}

static void step_or_die(Writer *w, sqlite3_stmt *stmt) {
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    bench_die("%s append failed: %s", writer_name(w->kind), sqlite3_errmsg(w->db));
  }
  sqlite3_reset(stmt);
}

void writer_begin(Writer *w) {
  step_or_die(w, w->begin);
  w->in_transaction = 1;
}

void writer_commit(Writer *w) {
  step_or_die(w, w->commit);
  w->in_transaction = 0;
}

void writer_append(Writer *w, const char *result, int bytes) {
  if (w->kind == WRITER_NXM) {
    sqlite3_bind_text(w->append, 2, result, bytes, SQLITE_STATIC);
    step_or_die(w, w->append);
    w->appended++;
    return;
  }
  int own = !w->in_transaction;
  double now = unix_time();
  if (own) {
    double start = bench_now();
    step_or_die(w, w->begin);
    w->lock_wait += bench_now() - start;
  }
  sqlite3_bind_double(w->update, 4, now);
  step_or_die(w, w->update);
  sqlite3_bind_text(w->insert, 4, result, bytes, SQLITE_STATIC);
  sqlite3_bind_double(w->insert, 5, now);
  step_or_die(w, w->insert);
  if (own) {
    step_or_die(w, w->commit);
  }
  w->appended++;
}

void writer_close(Writer *w) {
  sqlite3_stmt *statements[] = {w->append, w->begin, w->commit, w->create, w->update, w->insert};
  for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
    sqlite3_finalize(statements[i]);
  }
  if (sqlite3_close(w->db) != SQLITE_OK) {
    bench_die("cannot close the %s database: %s", writer_name(w->kind), sqlite3_errmsg(w->db));
  }
  w->db = 0;
}

const char *writer_name(WriterKind kind) {
  return kind == WRITER_NXM ? "nxm" : "floor";
}
