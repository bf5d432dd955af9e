/*
** pretend_sqlite.c: a preload library that makes a process report an older SQLite than it runs.
**
** Built with -DNXM_PRETEND_SQLITE='"3.37.2"' -shared and put in LD_PRELOAD, its
** sqlite3_libversion() and sqlite3_libversion_number() replace libsqlite3's, so the shared object's
** load-time check can be seen from a real client without building an old SQLite:
**
**   LD_PRELOAD=build/pretend_sqlite.so sqlite3 :memory: '.load build/nxm'
**   Error: error during initialization: nxm 0.2.0 needs SQLite 3.38.0 or newer; this process runs
**   SQLite 3.37.2
**
** Only the version report changes; the library underneath is still the system's.
*/
#include <stdio.h>

#include <sqlite3.h>

#ifndef NXM_PRETEND_SQLITE
#error "build with -DNXM_PRETEND_SQLITE='\"3.37.2\"' (the version to report)"
#endif

__attribute__((visibility("default"))) const char *sqlite3_libversion(void) {
  return NXM_PRETEND_SQLITE;
}

__attribute__((visibility("default"))) int sqlite3_libversion_number(void) {
  int major = 0, minor = 0, patch = 0;
  sscanf(NXM_PRETEND_SQLITE, "%d.%d.%d", &major, &minor, &patch);
  return major * 1000000 + minor * 1000 + patch;
}
