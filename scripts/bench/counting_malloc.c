/*
** counting_malloc.c: the counting allocator (see counting_malloc.h). Single-threaded use only.
*/
#include "counting_malloc.h"

#include "bench_util.h"

static sqlite3_mem_methods underlying;
static sqlite3_int64 live, peak;

static void raise_peak(sqlite3_int64 candidate) {
  if (candidate > peak) {
    peak = candidate;
  }
}

static void *counting_malloc(int bytes) {
  void *block = underlying.xMalloc(bytes);
  if (block != 0) {
    live += underlying.xSize(block);
    raise_peak(live);
  }
  return block;
}

static void counting_free(void *block) {
  if (block != 0) {
    live -= underlying.xSize(block);
  }
  underlying.xFree(block);
}

static void *counting_realloc(void *block, int bytes) {
  int old = block ? underlying.xSize(block) : 0;
  raise_peak(live + bytes);
  void *moved = underlying.xRealloc(block, bytes);
  if (moved != 0) {
    live += underlying.xSize(moved) - old;
    raise_peak(live);
  }
  return moved;
}

static int counting_size(void *block) {
  return underlying.xSize(block);
}
static int counting_roundup(int bytes) {
  return underlying.xRoundup(bytes);
}
static int counting_init(void *data) {
  return underlying.xInit(data);
}
static void counting_shutdown(void *data) {
  underlying.xShutdown(data);
}

void counting_malloc_install(void) {
  if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &underlying) != SQLITE_OK) {
    bench_die("cannot read SQLite's allocator (SQLite already initialized?)");
  }
  sqlite3_mem_methods counting = {counting_malloc,   counting_free,      counting_realloc,
                                  counting_size,     counting_roundup,   counting_init,
                                  counting_shutdown, underlying.pAppData};
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &counting) != SQLITE_OK) {
    bench_die("cannot install the counting allocator");
  }
}

sqlite3_int64 counting_malloc_live(void) {
  return live;
}
void counting_malloc_reset_peak(void) {
  peak = live;
}
sqlite3_int64 counting_malloc_peak(void) {
  return peak;
}
