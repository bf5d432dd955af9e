/*
** harness.h: what the fault drivers share: opening a database with nxm linked in, small SQL
*helpers,
** deterministic result payloads, and the ledger of acknowledged work that a database is checked
*against
** after a fault.
**
** The drivers are built with the sources of ext/ compiled in (-DSQLITE_CORE); harness_init() makes
*every new
** connection load nxm through sqlite3_auto_extension, so connections opened through the test VFS
*get it
** too.
*/
#ifndef HARNESS_H
#define HARNESS_H

#include <sqlite3.h>

#define HARNESS_NAME_BYTES 48
#define HARNESS_MAX_ENTRIES 4096
#define HARNESS_MAX_ATTEMPTS 8
#define HARNESS_MAX_PREFIXES 8

/* Registers nxm as an automatic extension and faultvfs. Exits on failure. */
void harness_init(void);

/* Exits with status 2, saying which set-up step failed and why, unless rc is SQLITE_OK. */
void harness_must(sqlite3 *db, int rc, const char *what);

/* Opens `path` read-write (created when missing) through `vfs` (0: the default), busy_timeout 5000.
 */
int harness_open(const char *path, const char *vfs, sqlite3 **db);

/* Runs `sql`; on failure prints it with the error to stderr (unless quiet) and returns the code. */
int harness_exec(sqlite3 *db, const char *sql, int quiet);

/* First column of the first row of `sql`, as text (empty when NULL or no row). Returns an SQLite
 * code. */
int harness_text(sqlite3 *db, const char *sql, char *out, int out_bytes);
int harness_int(sqlite3 *db, const char *sql, long long *out);

/* The result JSON of payload number `index`: {"n":index,"pad":"..."} with a length picked from the
** index; `big` makes it span overflow pages. `out` must hold HARNESS_PAYLOAD_BYTES. */
#define HARNESS_PAYLOAD_BYTES 8192
void harness_payload(int index, int big, char *out);

/* Appends through SQL: SELECT nxm_wal_append(execution, payload(index), NULL, total, 'brand',
*'model',
** task); total < 0 passes NULL. Returns the SQLite code; *completed gets the result. */
int harness_append(sqlite3 *db, const char *execution, const char *task, int index, int big,
                   long long total, long long *completed);

/* Creates directory `dir` when missing (its parent must exist). Exits on failure. */
void harness_make_dir(const char *dir);

/* Deletes path, path-wal, path-shm and path-journal; copies a file. */
void harness_remove_db(const char *path);
int harness_copy_file(const char *from, const char *to);

/* ---- the ledger ---------------------------------------------------------------------------------
 */

typedef struct LedgerEntry {
  char execution[HARNESS_NAME_BYTES];
  char task[HARNESS_NAME_BYTES];
  int big;
  int acked_index;                    /* payload of the latest acknowledged append; -1: none yet */
  long ack_order;                     /* when it was acknowledged */
  int attempts[HARNESS_MAX_ATTEMPTS]; /* payloads tried since then, whose fate is unknown */
  int attempt_count;
} LedgerEntry;

typedef struct Ledger {
  LedgerEntry entries[HARNESS_MAX_ENTRIES];
  int count;
  long acks;
  char gone[HARNESS_MAX_PREFIXES][HARNESS_NAME_BYTES]; /* acknowledged deletions, by prefix */
  int gone_count;
  char deletable[HARNESS_MAX_PREFIXES]
                [HARNESS_NAME_BYTES]; /* may be deleted by an unacknowledged call */
  int deletable_count;
  char planned[HARNESS_MAX_PREFIXES][HARNESS_NAME_BYTES]; /* acknowledged plans ... */
  int planned_tasks[HARNESS_MAX_PREFIXES];                /* ... their task counts ... */
  long planned_order[HARNESS_MAX_PREFIXES];               /* ... and when they were acknowledged */
  int planned_count;
  char executions[HARNESS_MAX_PREFIXES * 8][HARNESS_NAME_BYTES]; /* completed counts acknowledged */
  long long completed[HARNESS_MAX_PREFIXES * 8];                 /* the highest, per execution */
  int execution_count;
} Ledger;

void ledger_clear(Ledger *ledger);
void ledger_attempt(Ledger *ledger, const char *execution, const char *task, int index, int big);
void ledger_ack(Ledger *ledger, const char *execution, const char *task, int index, int big,
                long long completed);
void ledger_gone(Ledger *ledger, const char *prefix);
void ledger_deletable(Ledger *ledger, const char *prefix);
void ledger_planned(Ledger *ledger, const char *execution, int tasks);

/* Reads one protocol line written by a workload (see power_loss.c) into the ledger. */
void ledger_line(Ledger *ledger, const char *line);

typedef struct Verdict {
  int corrupt;      /* integrity_check was not ok, or the database would not open */
  int lost;         /* acknowledged appends (or plans) absent, or holding an older payload */
  long lost_oldest; /* smallest ack_order among the lost (-1 when none) */
  long kept_newest; /* largest ack_order among the present (-1 when none) */
  int inconsistent; /* summary rows that disagree with the result rows; orphans; partial plans */
  int resurrected;  /* rows of an acknowledged deletion that came back */
  int backwards;    /* executions whose completed is below an acknowledged completed */
  int recover_mismatch; /* nxm_recover disagreeing with the rows */
  int unusable;         /* the next append after the fault failed */
  char first_problem[512];
} Verdict;

/* Checks the database at `path` (opened with the default VFS) against the ledger. */
void ledger_verify(const Ledger *ledger, const char *path, Verdict *verdict);

/* Prints one problem to stderr, the first dozen only: the figures count them all. */
__attribute__((format(printf, 1, 2))) void harness_say(const char *format, ...);

#endif
