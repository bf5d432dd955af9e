/*
** harness.c: the helpers of harness.h, and ledger_verify(), the one judge of a database after a
*fault.
**
** What ledger_verify() holds a database to:
**   - PRAGMA integrity_check says ok;
**   - every acknowledged append is there exactly once, with the payload of its latest
*acknowledgement
**     (or of a later attempt whose fate the caller never learned);
**   - no execution's completed is below a completed count an append returned;
**   - each execution's recorded count equals its result rows, completed <= total, no orphan rows,
*and
**     every acknowledged plan has all its tasks;
**   - nothing an acknowledged cleanup or sweep deleted came back;
**   - nxm_recover returns exactly the stored rows and completed count;
**   - the next append succeeds.
*/
#define _GNU_SOURCE /* program_invocation_short_name */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3ext.h>

#include "fault_vfs.h"

int sqlite3_nxm_init(sqlite3 *db, char **error, const sqlite3_api_routines *api);

void harness_init(void) {
  if (sqlite3_auto_extension((void (*)(void))sqlite3_nxm_init) != SQLITE_OK ||
      fault_vfs_register() != SQLITE_OK) {
    fprintf(stderr, "harness: cannot register nxm or faultvfs\n");
    exit(2);
  }
}

int harness_open(const char *path, const char *vfs, sqlite3 **db) {
  int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
  if (rc == SQLITE_OK)
    sqlite3_busy_timeout(*db, 5000);
  return rc;
}

int harness_exec(sqlite3 *db, const char *sql, int quiet) {
  char *error = 0;
  int rc = sqlite3_exec(db, sql, 0, 0, &error);
  if (rc != SQLITE_OK && !quiet)
    fprintf(stderr, "harness: %s: %s\n", sql, error ? error : "?");
  sqlite3_free(error);
  return rc;
}

int harness_text(sqlite3 *db, const char *sql, char *out, int out_bytes) {
  sqlite3_stmt *stmt = 0;
  out[0] = 0;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, 0);
  if (rc != SQLITE_OK)
    return rc;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const char *text = (const char *)sqlite3_column_text(stmt, 0);
    snprintf(out, (size_t)out_bytes, "%s", text ? text : "");
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  }
  sqlite3_finalize(stmt);
  return rc;
}

int harness_int(sqlite3 *db, const char *sql, long long *out) {
  char text[64];
  int rc = harness_text(db, sql, text, sizeof(text));
  *out = rc == SQLITE_OK ? atoll(text) : -1;
  return rc;
}

void harness_payload(int index, int big, char *out) {
  int pad = big ? 1500 + (index * 977) % 3500 : 40 + (index * 131) % 400;
  int at = snprintf(out, HARNESS_PAYLOAD_BYTES, "{\"n\":%d,\"pad\":\"", index);
  for (int i = 0; i < pad; i++)
    out[at++] = (char)('a' + (index + i) % 26);
  memcpy(out + at, "\"}", 3);
}

int harness_append(sqlite3 *db, const char *execution, const char *task, int index, int big,
                   long long total, long long *completed) {
  static char payload[HARNESS_PAYLOAD_BYTES];
  harness_payload(index, big, payload);
  sqlite3_stmt *stmt = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT nxm_wal_append(?1, ?2, NULL, ?3, 'brand', 'model', ?4)",
                              -1, &stmt, 0);
  if (rc != SQLITE_OK)
    return rc;
  sqlite3_bind_text(stmt, 1, execution, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, payload, -1, SQLITE_STATIC);
  if (total >= 0)
    sqlite3_bind_int64(stmt, 3, total);
  sqlite3_bind_text(stmt, 4, task, -1, SQLITE_STATIC);
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    if (completed)
      *completed = sqlite3_column_int64(stmt, 0);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(stmt);
  return rc;
}

void harness_make_dir(const char *dir) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "harness: cannot create %s\n", dir);
    exit(2);
  }
}

void harness_remove_db(const char *path) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char name[4096];
  for (int i = 0; i < 4; i++) {
    snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
    unlink(name);
  }
}

int harness_copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY);
  if (in < 0)
    return -1;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) {
    close(in);
    return -1;
  }
  char buffer[65536];
  ssize_t n;
  int rc = 0;
  while ((n = read(in, buffer, sizeof(buffer))) > 0) {
    if (write(out, buffer, (size_t)n) != n)
      rc = -1;
  }
  close(in);
  close(out);
  return rc;
}

/* ---- the ledger ---------------------------------------------------------------------------------
 */

void ledger_clear(Ledger *ledger) {
  memset(ledger, 0, sizeof(*ledger));
}

static LedgerEntry *entry_for(Ledger *ledger, const char *execution, const char *task, int big) {
  for (int i = 0; i < ledger->count; i++) {
    LedgerEntry *e = &ledger->entries[i];
    if (strcmp(e->execution, execution) == 0 && strcmp(e->task, task) == 0)
      return e;
  }
  if (ledger->count == HARNESS_MAX_ENTRIES) {
    fprintf(stderr, "harness: ledger full\n");
    exit(2);
  }
  LedgerEntry *e = &ledger->entries[ledger->count++];
  memset(e, 0, sizeof(*e));
  snprintf(e->execution, sizeof(e->execution), "%s", execution);
  snprintf(e->task, sizeof(e->task), "%s", task);
  e->big = big;
  e->acked_index = -1;
  return e;
}

void ledger_attempt(Ledger *ledger, const char *execution, const char *task, int index, int big) {
  LedgerEntry *e = entry_for(ledger, execution, task, big);
  if (e->attempt_count < HARNESS_MAX_ATTEMPTS)
    e->attempts[e->attempt_count++] = index;
}

void ledger_ack(Ledger *ledger, const char *execution, const char *task, int index, int big,
                long long completed) {
  LedgerEntry *e = entry_for(ledger, execution, task, big);
  e->acked_index = index;
  e->ack_order = ++ledger->acks;
  e->attempt_count = 0;
  int i = 0;
  while (i < ledger->execution_count && strcmp(ledger->executions[i], execution) != 0)
    i++;
  if (i == ledger->execution_count) {
    if (i == (int)(sizeof(ledger->completed) / sizeof(ledger->completed[0])))
      return;
    snprintf(ledger->executions[i], HARNESS_NAME_BYTES, "%s", execution);
    ledger->completed[i] = completed;
    ledger->execution_count++;
  } else if (completed > ledger->completed[i]) {
    ledger->completed[i] = completed;
  }
}

static void add_prefix(char (*list)[HARNESS_NAME_BYTES], int *count, const char *prefix) {
  for (int i = 0; i < *count; i++) {
    if (strcmp(list[i], prefix) == 0)
      return;
  }
  if (*count < HARNESS_MAX_PREFIXES)
    snprintf(list[(*count)++], HARNESS_NAME_BYTES, "%s", prefix);
}

void ledger_gone(Ledger *ledger, const char *prefix) {
  add_prefix(ledger->gone, &ledger->gone_count, prefix);
}

void ledger_deletable(Ledger *ledger, const char *prefix) {
  add_prefix(ledger->deletable, &ledger->deletable_count, prefix);
}

void ledger_planned(Ledger *ledger, const char *execution, int tasks) {
  if (ledger->planned_count < HARNESS_MAX_PREFIXES) {
    snprintf(ledger->planned[ledger->planned_count], HARNESS_NAME_BYTES, "%s", execution);
    ledger->planned_order[ledger->planned_count] = ++ledger->acks;
    ledger->planned_tasks[ledger->planned_count++] = tasks;
  }
}

void ledger_line(Ledger *ledger, const char *line) {
  char a[HARNESS_NAME_BYTES], b[HARNESS_NAME_BYTES];
  int index = 0, big = 0;
  long long completed = 0;
  if (sscanf(line, "T %47s %47s %d %d", a, b, &index, &big) == 4) {
    ledger_attempt(ledger, a, b, index, big);
  } else if (sscanf(line, "A %47s %47s %d %d %lld", a, b, &index, &big, &completed) == 5) {
    ledger_ack(ledger, a, b, index, big, completed);
  } else if (sscanf(line, "G %47s", a) == 1) {
    ledger_gone(ledger, a);
  } else if (sscanf(line, "K %47s %d", a, &index) == 2) {
    ledger_planned(ledger, a, index);
  }
}

static int has_prefix(const char (*list)[HARNESS_NAME_BYTES], int count, const char *name) {
  for (int i = 0; i < count; i++) {
    if (strncmp(name, list[i], strlen(list[i])) == 0)
      return 1;
  }
  return 0;
}

__attribute__((format(printf, 2, 3))) static void problem(Verdict *verdict, const char *format,
                                                          ...) {
  if (verdict->first_problem[0] != 0)
    return;
  va_list args;
  va_start(args, format);
  vsnprintf(verdict->first_problem, sizeof(verdict->first_problem), format, args);
  va_end(args);
}

/* 1 when execution `name` has a row. */
static int execution_exists(sqlite3 *db, const char *name) {
  sqlite3_stmt *stmt = 0;
  int found = 0;
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM nxm_executions WHERE execution_id = ?1", -1, &stmt,
                         0) == SQLITE_OK) {
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(stmt) == SQLITE_ROW;
  }
  sqlite3_finalize(stmt);
  return found;
}

static void verify_entries(const Ledger *ledger, sqlite3 *db, Verdict *verdict) {
  static char payload[HARNESS_PAYLOAD_BYTES];
  sqlite3_stmt *stmt = 0;
  if (sqlite3_prepare_v2(
          db,
          "SELECT result, (SELECT count(*) FROM nxm_results WHERE execution_id = ?1 "
          "AND task_id = ?2) FROM nxm_results WHERE execution_id = ?1 AND task_id = ?2",
          -1, &stmt, 0) != SQLITE_OK) {
    verdict->corrupt = 1;
    problem(verdict, "cannot read nxm_results: %s", sqlite3_errmsg(db));
    return;
  }
  for (int i = 0; i < ledger->count; i++) {
    const LedgerEntry *e = &ledger->entries[i];
    if (e->acked_index < 0)
      continue;
    sqlite3_bind_text(stmt, 1, e->execution, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, e->task, -1, SQLITE_STATIC);
    int found = sqlite3_step(stmt) == SQLITE_ROW;
    const char *stored = found ? (const char *)sqlite3_column_text(stmt, 0) : 0;
    int copies = found ? sqlite3_column_int(stmt, 1) : 0;
    int gone = has_prefix(ledger->gone, ledger->gone_count, e->execution);
    int matches = 0;
    if (stored != 0) {
      harness_payload(e->acked_index, e->big, payload);
      matches = strcmp(stored, payload) == 0;
      for (int j = 0; j < e->attempt_count && !matches; j++) {
        harness_payload(e->attempts[j], e->big, payload);
        matches = strcmp(stored, payload) == 0;
      }
    }
    if (gone) {
      if (found) {
        verdict->resurrected++;
        problem(verdict, "%s/%s came back after its deletion was acknowledged", e->execution,
                e->task);
      }
    } else if (!found && has_prefix(ledger->deletable, ledger->deletable_count, e->execution) &&
               !execution_exists(db, e->execution)) {
      /* deleted whole by a cleanup whose answer was never seen: allowed */
    } else if (!found || !matches || copies != 1) {
      verdict->lost++;
      if (verdict->lost_oldest < 0 || e->ack_order < verdict->lost_oldest) {
        verdict->lost_oldest = e->ack_order;
      }
      problem(verdict, "acknowledged %s/%s (payload %d, ack #%ld) is %s", e->execution, e->task,
              e->acked_index, e->ack_order,
              !found        ? "missing"
              : copies != 1 ? "stored more than once"
                            : "holding another payload");
    } else if (e->ack_order > verdict->kept_newest) {
      verdict->kept_newest = e->ack_order;
    }
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
}

static void verify_summaries(const Ledger *ledger, sqlite3 *db, Verdict *verdict) {
  char sql[512];
  long long count = 0;
  for (int i = 0; i < ledger->execution_count; i++) {
    if (has_prefix(ledger->gone, ledger->gone_count, ledger->executions[i]))
      continue;
    char *query = sqlite3_mprintf("SELECT coalesce((SELECT completed FROM nxm_executions WHERE "
                                  "execution_id = %Q), -1)",
                                  ledger->executions[i]);
    harness_int(db, query, &count);
    sqlite3_free(query);
    if (count >= 0 && count < ledger->completed[i]) {
      verdict->backwards++;
      problem(verdict, "%s: completed is %lld, but an append returned %lld", ledger->executions[i],
              count, ledger->completed[i]);
    }
  }
  harness_int(
      db,
      "SELECT count(*) FROM nxm_executions AS e WHERE e.completed > e.total OR e.recorded <> "
      "(SELECT count(*) FROM nxm_results AS r WHERE r.execution_id = e.execution_id)",
      &count);
  if (count != 0) {
    verdict->inconsistent += (int)(count < 0 ? 1 : count);
    problem(verdict, "%lld executions whose recorded count differs from their rows", count);
  }
  harness_int(db,
              "SELECT (SELECT count(*) FROM nxm_results AS r WHERE NOT EXISTS (SELECT 1 FROM "
              "nxm_executions AS e WHERE e.execution_id = r.execution_id)) + (SELECT count(*) FROM "
              "nxm_tasks AS t WHERE NOT EXISTS (SELECT 1 FROM nxm_executions AS e WHERE "
              "e.execution_id = t.execution_id))",
              &count);
  if (count != 0) {
    verdict->inconsistent += (int)(count < 0 ? 1 : count);
    problem(verdict, "%lld orphan result or task rows", count);
  }
  for (int i = 0; i < ledger->planned_count; i++) {
    snprintf(sql, sizeof(sql),
             "SELECT (SELECT count(*) FROM nxm_tasks WHERE execution_id = '%s') || ' ' || "
             "coalesce((SELECT planned FROM nxm_executions WHERE execution_id = '%s'), -1)",
             ledger->planned[i], ledger->planned[i]);
    char text[64];
    long long tasks = -1, planned = -1;
    if (harness_text(db, sql, text, sizeof(text)) == SQLITE_OK)
      sscanf(text, "%lld %lld", &tasks, &planned);
    if (tasks == 0 && planned < 0) {
      verdict->lost++;
      if (verdict->lost_oldest < 0 || ledger->planned_order[i] < verdict->lost_oldest) {
        verdict->lost_oldest = ledger->planned_order[i];
      }
      problem(verdict, "the acknowledged plan of %s is missing", ledger->planned[i]);
    } else if (tasks != ledger->planned_tasks[i] || planned != ledger->planned_tasks[i]) {
      verdict->inconsistent++;
      problem(verdict, "the plan of %s has %lld of %d tasks (planned %lld)", ledger->planned[i],
              tasks, ledger->planned_tasks[i], planned);
    } else if (ledger->planned_order[i] > verdict->kept_newest) {
      verdict->kept_newest = ledger->planned_order[i];
    }
  }
}

static void verify_recover(sqlite3 *db, Verdict *verdict) {
  long long count = 0;
  int rc =
      harness_int(db,
                  "SELECT count(*) FROM nxm_executions AS e WHERE e.completed < e.total "
                  "AND e.updated_at > unixepoch('now') - 23 * 3600 AND ("
                  "json_extract(nxm_recover(e.execution_id), '$.completed') IS NOT e.completed OR "
                  "json_extract(nxm_recover(e.execution_id), '$.results') IS NOT (SELECT "
                  "json_group_array(json(result)) FROM (SELECT result FROM nxm_results AS r WHERE "
                  "r.execution_id = e.execution_id ORDER BY seq)))",
                  &count);
  if (rc != SQLITE_OK || count != 0) {
    verdict->recover_mismatch += count > 0 ? (int)count : 1;
    problem(verdict, "nxm_recover disagrees with the rows of %lld executions (%s)", count,
            sqlite3_errmsg(db));
  }
}

void ledger_verify(const Ledger *ledger, const char *path, Verdict *verdict) {
  memset(verdict, 0, sizeof(*verdict));
  verdict->lost_oldest = verdict->kept_newest = -1;
  sqlite3 *db = 0;
  char text[256];
  if (harness_open(path, 0, &db) != SQLITE_OK ||
      harness_text(db, "PRAGMA integrity_check", text, sizeof(text)) != SQLITE_OK ||
      strcmp(text, "ok") != 0) {
    verdict->corrupt = 1;
    problem(verdict, "integrity_check: %s", text[0] ? text : sqlite3_errmsg(db));
    sqlite3_close(db);
    return;
  }
  /* The checks' own writes need no durability: spare the disk their fsyncs. */
  harness_exec(db, "PRAGMA synchronous = OFF", 1);
  verify_entries(ledger, db, verdict);
  verify_summaries(ledger, db, verdict);
  verify_recover(db, verdict);
  long long completed = 0;
  if (harness_append(db, "after-fault", "check", 1, 0, 1000, &completed) != SQLITE_OK) {
    verdict->unusable = 1;
    problem(verdict, "the next append failed: %s", sqlite3_errmsg(db));
  }
  if (sqlite3_close(db) != SQLITE_OK) {
    verdict->unusable = 1;
    problem(verdict, "close failed");
  }
}

void harness_must(sqlite3 *db, int rc, const char *what) {
  if (rc != SQLITE_OK) {
    fprintf(stderr, "%s: set-up step %s failed: %s\n", program_invocation_short_name, what,
            db ? sqlite3_errmsg(db) : "?");
    exit(2);
  }
}

void harness_say(const char *format, ...) {
  static int printed = 0;
  if (printed++ >= 12)
    return;
  va_list args;
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  fputc('\n', stderr);
}
