/*
** writer.h: one way to append results, as nxm does it or as the floor does it, behind one
** interface, so that every benchmark drives both sides with the same loop.
**
**   nxm:   SELECT nxm_wal_append(?1, ?2, NULL, ?3, ?4, ?5)   (execution_id, result, total, brand,
**   model) floor: the same two writes by hand, with prepared statements on the same schema:
**          UPDATE nxm_executions (the summary row) + INSERT INTO nxm_results (the result row),
**          in one BEGIN IMMEDIATE ... COMMIT per append in autocommit mode.
** The floor does no JSON check, no schema check and no read of the summary row: it is what any
** SQLite design must at least pay for one appended row.
*/
#ifndef WRITER_H
#define WRITER_H

#include "bench_util.h"

typedef enum WriterKind { WRITER_NXM, WRITER_FLOOR } WriterKind;

typedef struct Writer {
  WriterKind kind;
  sqlite3 *db;
  char execution_id[64];
  long appended;                /* appends by this writer to execution_id */
  int in_transaction;           /* writer_begin() called, no writer_commit() yet */
  double lock_wait;             /* floor: seconds waiting for the lock in its own BEGIN IMMEDIATE */
  sqlite3_stmt *begin, *commit; /* both: a batch of appends in one transaction */
  sqlite3_stmt *append;         /* nxm */
  sqlite3_stmt *create, *update, *insert; /* floor */
} Writer;

/* Opens `path` (creating the floor schema for a floor writer) and prepares the statements. */
void writer_open(Writer *w, WriterKind kind, const char *path, const char *extension,
                 const char *synchronous, const char *execution_id);
/* Creates the execution (the first append) unless it already exists; not meant to be timed. */
void writer_start_execution(Writer *w, const char *result);
/* One append, in the open transaction or (when none is open) as its own transaction. */
void writer_append(Writer *w, const char *result, int bytes);
void writer_begin(Writer *w);
void writer_commit(Writer *w);
void writer_close(Writer *w);
const char *writer_name(WriterKind kind);

#endif
