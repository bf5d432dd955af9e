/*
** populate.h: builds a large nxm database fast, for the benchmarks that need one (items 6 and 7).
**
** The first execution is created through nxm_wal_append, so the schema is nxm's own; every other
** row is inserted with plain SQL in one transaction, exactly as nxm would have stored it.
*/
#ifndef POPULATE_H
#define POPULATE_H

#include <sqlite3.h>

/* Adds `executions` executions named <prefix>000000, <prefix>000001, ... with `results` results of
** 64 bytes each; their latest append is `age` seconds ago (0: now). `db` has nxm loaded. */
void populate(sqlite3 *db, const char *prefix, long first, long executions, int results,
              double age);
/* Unix seconds now, as nxm stores them. */
double populate_now(void);

#endif
