/*
** fault_vfs.h: "faultvfs", a wrapper around the default unix VFS that the fault drivers register in
*their
** own process. It does three jobs, each switched on by the driver:
**
**   power loss  every write, truncate and sync of the main database, its -wal and its journal is
**               recorded per file; a sync makes that file's recorded writes durable. At a chosen
**               operation the power "fails": each file is rewritten as its durable image plus a
*random
**               fate for every write made since its last sync (kept, dropped, torn in 512-byte
*pieces
**               or replaced by garbage), and the process calls the crash hook (normally _exit).
**   I/O faults  the k-th read, write, sync or truncate (counted from arming) returns an error code
**               instead of running; once, or for every later call until disarmed.
**   watching    counts operations per kind and the times the write lock is taken, so a test can say
**               that a call wrote nothing and never locked.
**
** Real fsyncs are never made: durability is the model's, which is both faster and exact.
*/
#ifndef FAULT_VFS_H
#define FAULT_VFS_H

#include <sqlite3.h>

#define FAULT_VFS_NAME "faultvfs"

typedef enum FaultKind {
  FAULT_READ,
  FAULT_WRITE,
  FAULT_SYNC,
  FAULT_TRUNCATE,
  FAULT_KIND_COUNT
} FaultKind;

/* Registers the VFS (not as the default). Returns an SQLite code. */
int fault_vfs_register(void);

/* Forgets every file's recorded state and every counter, crash point and armed fault. */
void fault_vfs_reset(void);

/* Power loss: the crash happens instead of operation number `at` (writes, truncates and syncs of
*the
** tracked files, counted from 1 since the last reset; 0 never). `seed` picks the fates of unsynced
** writes. Then `hook` runs; it must not return (the default calls _exit(FAULT_CRASH_EXIT)). */
#define FAULT_CRASH_EXIT 77
void fault_vfs_crash_at(long at, unsigned seed, void (*hook)(void));

/* With `on`, syncs still count but make nothing durable: the self-check that a lossy disk is seen.
 */
void fault_vfs_sync_is_noop(int on);

/* Writes, truncates and syncs of tracked files since the last reset. */
long fault_vfs_durability_ops(void);

/* I/O faults: from now on the k-th operation of `kind` (k >= 1) returns `code`; with `persistent`,
*so
** does every later operation of that kind until fault_vfs_disarm(). */
void fault_vfs_arm(FaultKind kind, long k, int persistent, int code);
void fault_vfs_disarm(void);
long fault_vfs_faults_injected(void);

/* Watching: operations of each kind, and write-lock acquisitions, since the last reset. */
long fault_vfs_count(FaultKind kind);
long fault_vfs_write_locks(void);

#endif
