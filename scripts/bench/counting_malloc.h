/*
** counting_malloc.h: an allocator for SQLite that counts what is live and the peak, so that a
** benchmark can say how much memory one call needed (item 5: nxm_recover against the size of its
** document).
**
** It wraps SQLite's own allocator and must be installed before SQLite initializes. A realloc is
** counted as a copying one: for the moment of the copy both the old and the new block are live.
*/
#ifndef COUNTING_MALLOC_H
#define COUNTING_MALLOC_H

#include <sqlite3.h>

void counting_malloc_install(void);
sqlite3_int64 counting_malloc_live(void);
/* Restarts the peak from what is live now. */
void counting_malloc_reset_peak(void);
sqlite3_int64 counting_malloc_peak(void);

#endif
