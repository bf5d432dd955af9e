/* The one place the version of nxm is written. The Makefile reads it for `make dist`. */
#ifndef NXM_VERSION_H
#define NXM_VERSION_H
#define NXM_VERSION "0.2.0"
#define NXM_SCHEMA_VERSION 2
/* Oldest SQLite this code is written for: JSON functions built in (3.38), STRICT tables (3.37). */
#define NXM_MIN_SQLITE_VERSION_NUMBER 3038000
#define NXM_MIN_SQLITE_VERSION "3.38.0"
#endif
