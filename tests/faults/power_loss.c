/*
** power_loss.c: simulated power failures at every write, truncate and sync of a workload, then a
*check
** of what survived.
**
**   power_loss --dir DIR [--scenario append|checkpoint|cleanup|all] [--sync full|normal|off|noop]
**              [--seeds N] [--stride S] [--expect clean|tail-loss|losses]
**
** For each scenario a base database is built with the real VFS. A crash-free run through faultvfs
*counts
** the durability operations N of the workload (its closing checkpoint included). Then, for every
*crash
** point k = 1, 1+S, ... <= N and every seed, a child process copies the base, runs the workload
*through
** faultvfs and loses power at operation k: unsynced writes are dropped, torn or garbled
*(fault_vfs.c) and
** the child exits. The workload reports on a pipe, before and after each call, what it attempted
*and
** what was acknowledged; the parent opens the remains with the real VFS and holds them to the
*ledger
** (harness.c). One JSON line of figures goes to stdout.
**
** --sync: full issues no PRAGMA at all, so the test runs on the synchronous setting the extension
** leaves in place (FULL, SQLite's default); normal and off set it; noop keeps FULL but makes every
*sync
** of the shim a no-op. --expect: clean (nothing lost, nothing corrupt), tail-loss (losses only
*among the
** newest acknowledgements, nothing corrupt: what NORMAL promises), losses (the self-check:
*something
** must be lost, or this harness could not see a loss). Exit status 1 when the expectation fails.
*/
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_vfs.h"
#include "harness.h"

typedef struct Scenario {
  const char *name;
  void (*base)(sqlite3 *db, Ledger *ledger);
  void (*workload)(sqlite3 *db);
} Scenario;

/* ---- the child's side: run the workload, report on the pipe
 * --------------------------------------- */

static int report_fd = -1;

__attribute__((format(printf, 1, 2))) static void report(const char *format, ...) {
  char line[256];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(line, sizeof(line) - 1, format, args);
  va_end(args);
  line[n++] = '\n';
  if (write(report_fd, line, (size_t)n) != n)
    _exit(5);
}

static void must(sqlite3 *db, int rc, const char *what) {
  if (rc != SQLITE_OK) {
    fprintf(stderr, "power_loss: workload step %s failed: %s\n", what, sqlite3_errmsg(db));
    _exit(4);
  }
}

/* An append outside any transaction: reported as attempted, then as acknowledged. */
static void append_now(sqlite3 *db, const char *execution, const char *task, int index, int big,
                       long long total) {
  long long completed = 0;
  report("T %s %s %d %d", execution, task, index, big);
  must(db, harness_append(db, execution, task, index, big, total, &completed), task);
  report("A %s %s %d %d %lld", execution, task, index, big, completed);
}

typedef struct Batch {
  int count;
  char execution[4][HARNESS_NAME_BYTES];
  char task[4][HARNESS_NAME_BYTES];
  int index[4];
  long long completed[4];
} Batch;

/* Appends inside BEGIN IMMEDIATE ... COMMIT: acknowledged only once COMMIT returned. */
static void batch_add(sqlite3 *db, Batch *batch, const char *execution, const char *task, int index,
                      long long total) {
  int i = batch->count++;
  snprintf(batch->execution[i], HARNESS_NAME_BYTES, "%s", execution);
  snprintf(batch->task[i], HARNESS_NAME_BYTES, "%s", task);
  batch->index[i] = index;
  report("T %s %s %d 0", execution, task, index);
  must(db, harness_append(db, execution, task, index, 0, total, &batch->completed[i]), task);
}

static void batch_commit(sqlite3 *db, Batch *batch) {
  must(db, harness_exec(db, "COMMIT", 0), "COMMIT");
  for (int i = 0; i < batch->count; i++) {
    report("A %s %s %d 0 %lld", batch->execution[i], batch->task[i], batch->index[i],
           batch->completed[i]);
  }
  batch->count = 0;
}

static void report_sync_level(sqlite3 *db) {
  long long level = -1;
  harness_int(db, "PRAGMA synchronous", &level);
  report("S %lld", level);
}

/* ---- scenarios
 * ------------------------------------------------------------------------------------- */

/* Every scenario starts from base-1 with five results, acknowledged before the trial. */
static void base_common(sqlite3 *db, Ledger *ledger) {
  char task[16];
  for (int i = 0; i < 5; i++) {
    snprintf(task, sizeof(task), "b%d", i);
    long long completed = 0;
    if (harness_append(db, "base-1", task, 1000 + i, 0, 1000, &completed) != SQLITE_OK) {
      fprintf(stderr, "power_loss: base: %s\n", sqlite3_errmsg(db));
      exit(2);
    }
    ledger_ack(ledger, "base-1", task, 1000 + i, 0, completed);
  }
}

/* Single appends, replacements of a task's result, transactions of three, a plan and its tasks. */
static void workload_append(sqlite3 *db) {
  char task[16], other[16];
  must(db,
       harness_exec(
           db, "SELECT nxm_wal_begin('plan-1', '[\"p0\",\"p1\",\"p2\",\"p3\",\"p4\",\"p5\"]')", 0),
       "nxm_wal_begin");
  report("K plan-1 6");
  for (int i = 0; i < 18; i++) {
    Batch batch = {0};
    switch (i % 6) {
    case 0:
    case 1:
      snprintf(task, sizeof(task), "s%d", i);
      append_now(db, "shared-1", task, i, 0, 1000);
      if (i == 0)
        report_sync_level(db);
      break;
    case 2:
      must(db, harness_exec(db, "BEGIN IMMEDIATE", 0), "BEGIN IMMEDIATE");
      snprintf(task, sizeof(task), "t%da", i);
      batch_add(db, &batch, "txn-1", task, i, 1000);
      snprintf(task, sizeof(task), "t%db", i);
      batch_add(db, &batch, "txn-1", task, 100 + i, 1000);
      snprintf(task, sizeof(task), "p%d", i / 6);
      batch_add(db, &batch, "plan-1", task, 200 + i, -1);
      batch_commit(db, &batch);
      break;
    case 3:
      snprintf(other, sizeof(other), "s%d", i - 3);
      append_now(db, "shared-1", other, 300 + i, 0, 1000);
      break;
    case 4:
      snprintf(task, sizeof(task), "p%d", 3 + i / 6);
      append_now(db, "plan-1", task, 400 + i, 0, -1);
      break;
    default:
      snprintf(task, sizeof(task), "n%d", i);
      append_now(db, "base-1", task, 500 + i, 0, -1);
      break;
    }
  }
}

/* Results large enough to span overflow pages, a tiny auto-checkpoint threshold, and explicit
** TRUNCATE, RESTART and PASSIVE checkpoints between appends. */
static void workload_checkpoint(sqlite3 *db) {
  char task[16];
  must(db, harness_exec(db, "PRAGMA wal_autocheckpoint = 3", 0), "wal_autocheckpoint");
  for (int i = 0; i < 12; i++) {
    snprintf(task, sizeof(task), "c%d", i);
    if (i == 6) {
      Batch batch = {0};
      must(db, harness_exec(db, "BEGIN IMMEDIATE", 0), "BEGIN IMMEDIATE");
      batch_add(db, &batch, "ck-1", task, i, 1000);
      batch_add(db, &batch, "base-1", "ck6", 600 + i, -1);
      batch_commit(db, &batch);
    } else {
      append_now(db, "ck-1", task, i, 1, 1000);
    }
    if (i == 0)
      report_sync_level(db);
    if (i % 4 == 3)
      must(db, harness_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", 0), "TRUNCATE");
    if (i % 4 == 1)
      must(db, harness_exec(db, "PRAGMA wal_checkpoint(RESTART)", 0), "RESTART");
    if (i % 4 == 2)
      must(db, harness_exec(db, "PRAGMA wal_checkpoint(PASSIVE)", 0), "PASSIVE");
  }
}

/* Base for the TTL: old-a* idle for two days (the next new execution's sweep removes them), old-b*
** live until the workload ages them and nxm_cleanup() removes them. */
static void base_cleanup(sqlite3 *db, Ledger *ledger) {
  base_common(db, ledger);
  char execution[16], task[16];
  for (int group = 0; group < 2; group++) {
    for (int i = 1; i <= 3; i++) {
      snprintf(execution, sizeof(execution), "old-%c%d", group == 0 ? 'a' : 'b', i);
      for (int j = 0; j < 2; j++) {
        snprintf(task, sizeof(task), "o%d", j);
        long long completed = 0;
        int index = 2000 + group * 100 + i * 10 + j;
        if (harness_append(db, execution, task, index, 0, 1000, &completed) != SQLITE_OK)
          exit(2);
        ledger_ack(ledger, execution, task, index, 0, completed);
      }
    }
  }
  if (harness_exec(db,
                   "UPDATE nxm_executions SET updated_at = updated_at - 172800, "
                   "created_at = created_at - 172800 WHERE execution_id LIKE 'old-a%'",
                   0) != SQLITE_OK) {
    exit(2);
  }
  ledger_deletable(ledger, "old-");
}

static void workload_cleanup(sqlite3 *db) {
  long long removed = 0;
  append_now(db, "live-1", "l0", 0, 0, 1000);
  report_sync_level(db);
  append_now(db, "fresh-1", "f0", 1, 0, 1000); /* a new execution: its sweep deletes old-a* */
  report("G old-a");
  append_now(db, "live-1", "l1", 2, 0, 1000);
  must(db,
       harness_exec(db,
                    "UPDATE nxm_executions SET updated_at = updated_at - 172800 "
                    "WHERE execution_id LIKE 'old-b%'",
                    0),
       "aging old-b");
  must(db, harness_int(db, "SELECT nxm_cleanup()", &removed), "nxm_cleanup");
  if (removed != 3) {
    fprintf(stderr, "power_loss: nxm_cleanup() removed %lld executions, expected 3\n", removed);
    _exit(4);
  }
  report("G old-b");
  append_now(db, "live-1", "l2", 3, 0, 1000);
  Batch batch = {0};
  must(db, harness_exec(db, "BEGIN IMMEDIATE", 0), "BEGIN IMMEDIATE");
  batch_add(db, &batch, "live-1", "l3", 4, 1000);
  batch_add(db, &batch, "fresh-1", "f1", 5, 1000);
  batch_commit(db, &batch);
  must(db, harness_int(db, "SELECT nxm_cleanup()", &removed), "nxm_cleanup");
}

static const Scenario scenarios[] = {
    {"append", base_common, workload_append},
    {"checkpoint", base_common, workload_checkpoint},
    {"cleanup", base_cleanup, workload_cleanup},
};
#define SCENARIO_COUNT (int)(sizeof(scenarios) / sizeof(scenarios[0]))

/* ---- the parent's side
 * ------------------------------------------------------------------------------ */

typedef struct Options {
  const char *dir;
  const char *scenario;
  const char *sync;
  int seeds;
  int stride;
  const char *expect;
} Options;

typedef struct Tally {
  long power_losses, crash_free_runs, acked, lost, crashes_with_loss, max_lost, losses_not_newest;
  long corrupt, inconsistent, resurrected, backwards, recover_mismatch, unusable, child_failures;
  long long sync_level;
} Tally;

typedef struct Trial {
  int crashed;     /* the child lost power (1), finished (0), failed (-1) */
  long ops;        /* durability operations, reported by a crash-free run */
  long acked;      /* appends acknowledged in this trial */
  long long level; /* PRAGMA synchronous seen by the workload */
} Trial;

static void build_base(const Scenario *scenario, const char *path, Ledger *ledger) {
  sqlite3 *db = 0;
  harness_remove_db(path);
  ledger_clear(ledger);
  if (harness_open(path, 0, &db) != SQLITE_OK)
    exit(2);
  scenario->base(db, ledger);
  if (sqlite3_close(db) != SQLITE_OK)
    exit(2);
}

static void child(const Options *options, const Scenario *scenario, const char *path, long crash_at,
                  unsigned seed, int fd) {
  report_fd = fd;
  fault_vfs_reset();
  fault_vfs_crash_at(crash_at, seed, 0);
  fault_vfs_sync_is_noop(strcmp(options->sync, "noop") == 0);
  sqlite3 *db = 0;
  if (harness_open(path, FAULT_VFS_NAME, &db) != SQLITE_OK)
    _exit(4);
  if (strcmp(options->sync, "normal") == 0)
    must(db, harness_exec(db, "PRAGMA synchronous = NORMAL", 0), "sync");
  if (strcmp(options->sync, "off") == 0)
    must(db, harness_exec(db, "PRAGMA synchronous = OFF", 0), "sync");
  scenario->workload(db);
  if (sqlite3_close(db) != SQLITE_OK)
    _exit(4);
  report("O %ld", fault_vfs_durability_ops());
  _exit(0);
}

/* Runs one trial into `ledger` (which holds the base's acknowledgements on entry). */
static void run_trial(const Options *options, const Scenario *scenario, const char *base,
                      const char *path, long crash_at, unsigned seed, Ledger *ledger,
                      Trial *trial) {
  memset(trial, 0, sizeof(*trial));
  trial->level = -1;
  harness_remove_db(path);
  if (harness_copy_file(base, path) != 0)
    exit(2);
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0)
    exit(2);
  fflush(0);
  pid_t pid = fork();
  if (pid < 0)
    exit(2);
  if (pid == 0) {
    close(pipe_fds[0]);
    child(options, scenario, path, crash_at, seed, pipe_fds[1]);
  }
  close(pipe_fds[1]);

  long acks_before = ledger->acks;
  char buffer[4096];
  char line[512];
  int used = 0;
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0 || (n < 0 && errno == EINTR)) {
    for (ssize_t i = 0; i < n; i++) {
      if (buffer[i] != '\n') {
        if (used < (int)sizeof(line) - 1)
          line[used++] = buffer[i];
        continue;
      }
      line[used] = 0;
      used = 0;
      if (line[0] == 'O')
        trial->ops = atol(line + 2);
      else if (line[0] == 'S')
        trial->level = atoll(line + 2);
      else
        ledger_line(ledger, line);
    }
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  trial->acked = ledger->acks - acks_before;
  if (WIFEXITED(status) && WEXITSTATUS(status) == FAULT_CRASH_EXIT)
    trial->crashed = 1;
  else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    trial->crashed = 0;
  else
    trial->crashed = -1;
}

static int quiet_problems; /* the self-check expects losses: do not print them */

static void tally_verdict(Tally *tally, const Verdict *v, const Trial *trial, const char *label) {
  tally->acked += trial->acked;
  if (trial->level >= 0)
    tally->sync_level = trial->level;
  if (trial->crashed < 0)
    tally->child_failures++;
  if (trial->crashed > 0)
    tally->power_losses++;
  if (trial->crashed == 0)
    tally->crash_free_runs++;
  if (v->lost > 0) {
    tally->lost += v->lost;
    tally->crashes_with_loss++;
    if (v->lost > tally->max_lost)
      tally->max_lost = v->lost;
    if (v->kept_newest > v->lost_oldest)
      tally->losses_not_newest++;
  }
  tally->corrupt += v->corrupt;
  tally->inconsistent += v->inconsistent;
  tally->resurrected += v->resurrected;
  tally->backwards += v->backwards;
  tally->recover_mismatch += v->recover_mismatch;
  tally->unusable += v->unusable;
  static int printed = 0;
  if ((v->first_problem[0] || trial->crashed < 0) && printed < 3 && !quiet_problems) {
    printed++;
    fprintf(stderr, "power_loss: %s: %s\n", label,
            v->first_problem[0] ? v->first_problem : "the workload failed");
  }
}

static int parse_options(int argc, char **argv, Options *options) {
  options->dir = 0;
  options->scenario = "all";
  options->sync = "full";
  options->seeds = 1;
  options->stride = 1;
  options->expect = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--dir") == 0)
      options->dir = argv[i + 1];
    else if (strcmp(argv[i], "--scenario") == 0)
      options->scenario = argv[i + 1];
    else if (strcmp(argv[i], "--sync") == 0)
      options->sync = argv[i + 1];
    else if (strcmp(argv[i], "--seeds") == 0)
      options->seeds = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--stride") == 0)
      options->stride = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--expect") == 0)
      options->expect = argv[i + 1];
    else
      return 0;
  }
  return options->dir != 0 && options->seeds > 0 && options->stride > 0 && argc % 2 == 1 &&
         (strcmp(options->sync, "full") == 0 || strcmp(options->sync, "normal") == 0 ||
          strcmp(options->sync, "off") == 0 || strcmp(options->sync, "noop") == 0);
}

int main(int argc, char **argv) {
  Options options;
  if (!parse_options(argc, argv, &options)) {
    fprintf(stderr, "usage: power_loss --dir DIR [--scenario append|checkpoint|cleanup|all] "
                    "[--sync full|normal|off|noop] [--seeds N] [--stride S] "
                    "[--expect clean|tail-loss|losses]\n");
    return 2;
  }
  harness_init();
  harness_make_dir(options.dir);
  quiet_problems = options.expect != 0 && strcmp(options.expect, "losses") == 0;
  static Ledger base_ledger, ledger;
  Tally tally;
  memset(&tally, 0, sizeof(tally));
  tally.sync_level = -1;
  char base[4096], path[4096], label[256], ops_text[256] = "";
  snprintf(base, sizeof(base), "%s/base.db", options.dir);
  snprintf(path, sizeof(path), "%s/trial.db", options.dir);

  for (int s = 0; s < SCENARIO_COUNT; s++) {
    const Scenario *scenario = &scenarios[s];
    if (strcmp(options.scenario, "all") != 0 && strcmp(options.scenario, scenario->name) != 0)
      continue;
    build_base(scenario, base, &base_ledger);

    Trial trial;
    Verdict verdict;
    ledger = base_ledger;
    run_trial(&options, scenario, base, path, 0, 1, &ledger, &trial);
    ledger_verify(&ledger, path, &verdict);
    snprintf(label, sizeof(label), "%s crash-free run", scenario->name);
    tally_verdict(&tally, &verdict, &trial, label);
    long ops = trial.ops;
    size_t at = strlen(ops_text);
    snprintf(ops_text + at, sizeof(ops_text) - at, "%s\"%s\":%ld", at ? "," : "", scenario->name,
             ops);

    for (int seed = 1; seed <= options.seeds; seed++) {
      for (long k = 1 + (seed - 1) % options.stride; k <= ops; k += options.stride) {
        ledger = base_ledger;
        run_trial(&options, scenario, base, path, k, (unsigned)(seed * 7919 + k), &ledger, &trial);
        ledger_verify(&ledger, path, &verdict);
        snprintf(label, sizeof(label), "%s, sync %s, crash at op %ld, seed %d", scenario->name,
                 options.sync, k, seed);
        tally_verdict(&tally, &verdict, &trial, label);
      }
    }
  }
  harness_remove_db(path);
  harness_remove_db(base);

  printf("{\"driver\":\"power_loss\",\"sync\":\"%s\",\"scenario\":\"%s\",\"synchronous\":%lld,"
         "\"ops_per_run\":{%s},\"power_losses\":%ld,\"crash_free_runs\":%ld,\"acked\":%ld,"
         "\"lost\":%ld,\"crashes_with_loss\":%ld,\"max_lost_in_one_crash\":%ld,"
         "\"losses_not_newest\":%ld,\"corrupt\":%ld,\"inconsistent\":%ld,\"resurrected\":%ld,"
         "\"backwards\":%ld,\"recover_mismatch\":%ld,\"unusable\":%ld,\"child_failures\":%ld}\n",
         options.sync, options.scenario, tally.sync_level, ops_text, tally.power_losses,
         tally.crash_free_runs, tally.acked, tally.lost, tally.crashes_with_loss, tally.max_lost,
         tally.losses_not_newest, tally.corrupt, tally.inconsistent, tally.resurrected,
         tally.backwards, tally.recover_mismatch, tally.unusable, tally.child_failures);

  long damage = tally.corrupt + tally.inconsistent + tally.recover_mismatch + tally.unusable +
                tally.child_failures;
  if (options.expect == 0)
    return 0;
  if (strcmp(options.expect, "clean") == 0) {
    return (damage || tally.lost || tally.resurrected || tally.backwards || tally.power_losses == 0)
               ? 1
               : 0;
  }
  if (strcmp(options.expect, "tail-loss") == 0) {
    return (damage || tally.losses_not_newest || tally.power_losses == 0) ? 1 : 0;
  }
  if (strcmp(options.expect, "losses") == 0)
    return tally.lost > 0 ? 0 : 1;
  fprintf(stderr, "power_loss: unknown --expect %s\n", options.expect);
  return 2;
}
