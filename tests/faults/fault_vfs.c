/*
** fault_vfs.c: the wrapper VFS of fault_vfs.h.
**
** Model of a disk, per tracked file (main database, -wal, rollback journal):
**   durable image   the bytes a power failure cannot take away: the file as of its last sync
**   pending writes  every write and truncate since that sync, in order, with its data
** A sync moves the pending writes into the durable image. A power failure starts again from the
*durable
** image and gives each pending write a fate: kept whole, dropped, or torn, where each 512-byte
*piece of
** it is kept, dropped or filled with garbage on its own. Garbage lands only inside ranges that were
** written: the unix VFS promises powersafe overwrite, and SQLite relies on no more than that. A
*file
** created since the last reset and never synced may vanish altogether. A file deleted through the
*VFS
** stays deleted. The -shm file is left as it was: after a reboot it holds stale bytes, which SQLite
*must
** ignore.
**
** The real file always receives every write at once, so reads inside the process see them; the
*model
** only rewrites the files at the moment of the crash.
*/
#define _XOPEN_SOURCE 700
#include "fault_vfs.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIECE_BYTES 512

typedef struct Pending {
  struct Pending *next;
  sqlite3_int64 offset; /* write: where; truncate: the new size */
  int amount;           /* bytes of data; -1 for a truncate */
  unsigned char data[];
} Pending;

typedef struct Node {
  struct Node *next;
  char *path;
  unsigned char *image;
  sqlite3_int64 image_size;
  sqlite3_int64 image_capacity;
  int durable_exists;
  Pending *first;
  Pending *last;
} Node;

typedef struct FaultFile {
  sqlite3_file base;
  Node *node;         /* 0: not tracked (temporary files, -shm is not opened through xOpen) */
  sqlite3_file *real; /* the unix VFS's file, allocated right after this struct */
} FaultFile;

static struct {
  sqlite3_vfs *real;
  sqlite3_vfs vfs;
  Node *nodes;
  long durability_ops;
  long crash_at;
  unsigned random_state;
  void (*crash_hook)(void);
  int sync_noop;
  int armed;
  FaultKind armed_kind;
  long armed_k;
  long armed_seen;
  int armed_persistent;
  int armed_code;
  long injected;
  long counts[FAULT_KIND_COUNT];
  long write_locks;
} state;

/* ---- the model
 * ------------------------------------------------------------------------------------ */

static unsigned next_random(void) {
  unsigned x = state.random_state ? state.random_state : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  state.random_state = x;
  return x;
}

static void die(const char *what) {
  static const char prefix[] = "fault_vfs: ";
  (void)!write(2, prefix, sizeof(prefix) - 1);
  (void)!write(2, what, strlen(what));
  (void)!write(2, "\n", 1);
  _exit(3);
}

static void image_resize(unsigned char **image, sqlite3_int64 *size, sqlite3_int64 *capacity,
                         sqlite3_int64 new_size) {
  if (new_size > *capacity) {
    sqlite3_int64 grown = *capacity ? *capacity : 4096;
    while (grown < new_size)
      grown *= 2;
    unsigned char *bigger = realloc(*image, (size_t)grown);
    if (bigger == 0)
      die("out of memory for a file image");
    *image = bigger;
    *capacity = grown;
  }
  if (new_size > *size)
    memset(*image + *size, 0, (size_t)(new_size - *size));
  *size = new_size;
}

static void image_put(unsigned char **image, sqlite3_int64 *size, sqlite3_int64 *capacity,
                      sqlite3_int64 offset, const unsigned char *data, int amount) {
  if (offset + amount > *size)
    image_resize(image, size, capacity, offset + amount);
  memcpy(*image + offset, data, (size_t)amount);
}

static void pending_free(Node *node) {
  Pending *p = node->first;
  while (p != 0) {
    Pending *next = p->next;
    free(p);
    p = next;
  }
  node->first = node->last = 0;
}

static void pending_add(Node *node, sqlite3_int64 offset, const void *data, int amount) {
  Pending *p = malloc(sizeof(*p) + (amount > 0 ? (size_t)amount : 0));
  if (p == 0)
    die("out of memory for a pending write");
  p->next = 0;
  p->offset = offset;
  p->amount = amount;
  if (amount > 0)
    memcpy(p->data, data, (size_t)amount);
  if (node->last)
    node->last->next = p;
  else
    node->first = p;
  node->last = p;
}

/* A sync: every pending write becomes durable. */
static void make_durable(Node *node) {
  for (Pending *p = node->first; p != 0; p = p->next) {
    if (p->amount < 0) {
      if (p->offset < node->image_size)
        node->image_size = p->offset;
      else
        image_resize(&node->image, &node->image_size, &node->image_capacity, p->offset);
    } else {
      image_put(&node->image, &node->image_size, &node->image_capacity, p->offset, p->data,
                p->amount);
    }
  }
  pending_free(node);
  node->durable_exists = 1;
}

/* One pending write after a power failure: 4 in 10 kept, 3 in 10 lost, 3 in 10 torn piece by piece.
 */
static void apply_fate(unsigned char **image, sqlite3_int64 *size, sqlite3_int64 *capacity,
                       const Pending *p) {
  if (p->amount < 0) {
    if (next_random() % 2 == 0) {
      if (p->offset < *size)
        *size = p->offset;
      else
        image_resize(image, size, capacity, p->offset);
    }
    return;
  }
  unsigned fate = next_random() % 10;
  if (fate < 4) {
    image_put(image, size, capacity, p->offset, p->data, p->amount);
    return;
  }
  if (fate < 7)
    return;
  sqlite3_int64 start = p->offset;
  sqlite3_int64 end = p->offset + p->amount;
  while (start < end) {
    sqlite3_int64 piece_end = (start / PIECE_BYTES + 1) * PIECE_BYTES;
    if (piece_end > end)
      piece_end = end;
    int bytes = (int)(piece_end - start);
    unsigned choice = next_random() % 3;
    if (choice == 0) {
      image_put(image, size, capacity, start, p->data + (start - p->offset), bytes);
    } else if (choice == 1) {
      unsigned char garbage[PIECE_BYTES];
      for (int i = 0; i < bytes; i++)
        garbage[i] = (unsigned char)next_random();
      image_put(image, size, capacity, start, garbage, bytes);
    }
    start = piece_end;
  }
}

static void write_whole_file(const char *path, const unsigned char *bytes, sqlite3_int64 size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    die("cannot rewrite a file at the crash");
  sqlite3_int64 done = 0;
  while (done < size) {
    ssize_t n = write(fd, bytes + done, (size_t)(size - done));
    if (n <= 0)
      die("cannot write a file at the crash");
    done += n;
  }
  close(fd);
}

static void default_crash_hook(void) {
  _exit(FAULT_CRASH_EXIT);
}

/* The power fails: each tracked file becomes what a disk could hold afterwards. */
static void power_failure(void) {
  for (Node *node = state.nodes; node != 0; node = node->next) {
    unsigned char *image = 0;
    sqlite3_int64 size = 0, capacity = 0;
    image_resize(&image, &size, &capacity, node->image_size);
    if (node->image_size > 0)
      memcpy(image, node->image, (size_t)node->image_size);
    for (Pending *p = node->first; p != 0; p = p->next)
      apply_fate(&image, &size, &capacity, p);
    if (!node->durable_exists && next_random() % 2 == 0) {
      unlink(node->path);
    } else {
      write_whole_file(node->path, image, size);
    }
    free(image);
  }
  (state.crash_hook ? state.crash_hook : default_crash_hook)();
  _exit(FAULT_CRASH_EXIT);
}

/* Counts a write, truncate or sync of a tracked file; the crash point fires here. */
static void durability_op(void) {
  state.durability_ops++;
  if (state.crash_at > 0 && state.durability_ops == state.crash_at)
    power_failure();
}

/* Counts an operation of `kind`; returns the code to fail it with, or SQLITE_OK. */
static int injected_fault(FaultKind kind) {
  state.counts[kind]++;
  if (!state.armed || kind != state.armed_kind)
    return SQLITE_OK;
  state.armed_seen++;
  if (state.armed_seen == state.armed_k ||
      (state.armed_persistent && state.armed_seen > state.armed_k)) {
    state.injected++;
    return state.armed_code;
  }
  return SQLITE_OK;
}

static Node *node_find(const char *path) {
  for (Node *node = state.nodes; node != 0; node = node->next) {
    if (strcmp(node->path, path) == 0)
      return node;
  }
  return 0;
}

/* The file as it stands when first opened counts as durable (the drivers build it before a trial).
 */
static Node *node_for(const char *path, int existed) {
  Node *node = node_find(path);
  if (node != 0)
    return node;
  node = calloc(1, sizeof(*node));
  if (node == 0 || (node->path = strdup(path)) == 0)
    die("out of memory for a node");
  node->durable_exists = existed;
  if (existed) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
      unsigned char buffer[65536];
      ssize_t n;
      sqlite3_int64 at = 0;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
        image_put(&node->image, &node->image_size, &node->image_capacity, at, buffer, (int)n);
        at += n;
      }
      close(fd);
    }
  }
  node->next = state.nodes;
  state.nodes = node;
  return node;
}

static void node_forget(const char *path) {
  for (Node **link = &state.nodes; *link != 0; link = &(*link)->next) {
    if (strcmp((*link)->path, path) == 0) {
      Node *node = *link;
      *link = node->next;
      pending_free(node);
      free(node->image);
      free(node->path);
      free(node);
      return;
    }
  }
}

/* ---- file methods
 * --------------------------------------------------------------------------------- */

#define REAL(file) (((FaultFile *)(file))->real)
#define NODE(file) (((FaultFile *)(file))->node)

static int fv_close(sqlite3_file *file) {
  return REAL(file)->pMethods->xClose(REAL(file));
}

static int fv_read(sqlite3_file *file, void *buffer, int amount, sqlite3_int64 offset) {
  if (NODE(file)) {
    int rc = injected_fault(FAULT_READ);
    if (rc != SQLITE_OK)
      return rc;
  }
  return REAL(file)->pMethods->xRead(REAL(file), buffer, amount, offset);
}

static int fv_write(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset) {
  Node *node = NODE(file);
  if (node) {
    int rc = injected_fault(FAULT_WRITE);
    if (rc != SQLITE_OK)
      return rc;
    pending_add(node, offset, data, amount);
    durability_op();
  }
  return REAL(file)->pMethods->xWrite(REAL(file), data, amount, offset);
}

static int fv_truncate(sqlite3_file *file, sqlite3_int64 size) {
  Node *node = NODE(file);
  if (node) {
    int rc = injected_fault(FAULT_TRUNCATE);
    if (rc != SQLITE_OK)
      return rc;
    pending_add(node, size, 0, -1);
    durability_op();
  }
  return REAL(file)->pMethods->xTruncate(REAL(file), size);
}

static int fv_sync(sqlite3_file *file, int flags) {
  Node *node = NODE(file);
  if (node == 0)
    return REAL(file)->pMethods->xSync(REAL(file), flags);
  int rc = injected_fault(FAULT_SYNC);
  if (rc != SQLITE_OK)
    return rc;
  durability_op();
  if (!state.sync_noop)
    make_durable(node);
  return SQLITE_OK;
}

static int fv_file_size(sqlite3_file *file, sqlite3_int64 *size) {
  return REAL(file)->pMethods->xFileSize(REAL(file), size);
}

static int fv_lock(sqlite3_file *file, int level) {
  if (NODE(file) && level >= SQLITE_LOCK_RESERVED)
    state.write_locks++;
  return REAL(file)->pMethods->xLock(REAL(file), level);
}

static int fv_unlock(sqlite3_file *file, int level) {
  return REAL(file)->pMethods->xUnlock(REAL(file), level);
}

static int fv_check_reserved(sqlite3_file *file, int *out) {
  return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}

static int fv_file_control(sqlite3_file *file, int op, void *arg) {
  return REAL(file)->pMethods->xFileControl(REAL(file), op, arg);
}

static int fv_sector_size(sqlite3_file *file) {
  return REAL(file)->pMethods->xSectorSize(REAL(file));
}

static int fv_device_characteristics(sqlite3_file *file) {
  return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}

static int fv_shm_map(sqlite3_file *file, int region, int size, int extend, void volatile **out) {
  return REAL(file)->pMethods->xShmMap(REAL(file), region, size, extend, out);
}

/* Slot 0 of the WAL index locks is the writer lock: BEGIN IMMEDIATE takes it exclusively. */
static int fv_shm_lock(sqlite3_file *file, int offset, int n, int flags) {
  if (offset == 0 && n == 1 && flags == (SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE))
    state.write_locks++;
  return REAL(file)->pMethods->xShmLock(REAL(file), offset, n, flags);
}

static void fv_shm_barrier(sqlite3_file *file) {
  REAL(file)->pMethods->xShmBarrier(REAL(file));
}

static int fv_shm_unmap(sqlite3_file *file, int delete_flag) {
  return REAL(file)->pMethods->xShmUnmap(REAL(file), delete_flag);
}

static int fv_fetch(sqlite3_file *file, sqlite3_int64 offset, int amount, void **out) {
  return REAL(file)->pMethods->xFetch(REAL(file), offset, amount, out);
}

static int fv_unfetch(sqlite3_file *file, sqlite3_int64 offset, void *page) {
  return REAL(file)->pMethods->xUnfetch(REAL(file), offset, page);
}

static const sqlite3_io_methods file_methods = {
    .iVersion = 3,
    .xClose = fv_close,
    .xRead = fv_read,
    .xWrite = fv_write,
    .xTruncate = fv_truncate,
    .xSync = fv_sync,
    .xFileSize = fv_file_size,
    .xLock = fv_lock,
    .xUnlock = fv_unlock,
    .xCheckReservedLock = fv_check_reserved,
    .xFileControl = fv_file_control,
    .xSectorSize = fv_sector_size,
    .xDeviceCharacteristics = fv_device_characteristics,
    .xShmMap = fv_shm_map,
    .xShmLock = fv_shm_lock,
    .xShmBarrier = fv_shm_barrier,
    .xShmUnmap = fv_shm_unmap,
    .xFetch = fv_fetch,
    .xUnfetch = fv_unfetch,
};

/* ---- VFS methods
 * ---------------------------------------------------------------------------------- */

static int fv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags) {
  (void)vfs;
  FaultFile *wrapper = (FaultFile *)file;
  wrapper->real = (sqlite3_file *)(wrapper + 1);
  int tracked = name != 0 &&
                (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0;
  int existed = tracked && access(name, F_OK) == 0;
  int rc = state.real->xOpen(state.real, name, wrapper->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    file->pMethods = 0;
    return rc;
  }
  wrapper->node = tracked ? node_for(name, existed) : 0;
  file->pMethods = &file_methods;
  return SQLITE_OK;
}

/* Deletion is taken as durable at once; no real directory sync is made. */
static int fv_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  (void)vfs;
  (void)sync_dir;
  node_forget(name);
  return state.real->xDelete(state.real, name, 0);
}

static int fv_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  (void)vfs;
  return state.real->xAccess(state.real, name, flags, out);
}

static int fv_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
  (void)vfs;
  return state.real->xFullPathname(state.real, name, size, out);
}

static void *fv_dlopen(sqlite3_vfs *vfs, const char *name) {
  (void)vfs;
  return state.real->xDlOpen(state.real, name);
}

static void fv_dlerror(sqlite3_vfs *vfs, int size, char *out) {
  (void)vfs;
  state.real->xDlError(state.real, size, out);
}

static void (*fv_dlsym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void) {
  (void)vfs;
  return state.real->xDlSym(state.real, handle, symbol);
}

static void fv_dlclose(sqlite3_vfs *vfs, void *handle) {
  (void)vfs;
  state.real->xDlClose(state.real, handle);
}

static int fv_randomness(sqlite3_vfs *vfs, int size, char *out) {
  (void)vfs;
  return state.real->xRandomness(state.real, size, out);
}

static int fv_sleep(sqlite3_vfs *vfs, int microseconds) {
  (void)vfs;
  return state.real->xSleep(state.real, microseconds);
}

static int fv_current_time(sqlite3_vfs *vfs, double *out) {
  (void)vfs;
  return state.real->xCurrentTime(state.real, out);
}

static int fv_last_error(sqlite3_vfs *vfs, int size, char *out) {
  (void)vfs;
  return state.real->xGetLastError(state.real, size, out);
}

static int fv_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
  (void)vfs;
  return state.real->xCurrentTimeInt64(state.real, out);
}

int fault_vfs_register(void) {
  if (state.real != 0)
    return SQLITE_OK;
  state.real = sqlite3_vfs_find(0);
  if (state.real == 0 || state.real->iVersion < 2)
    return SQLITE_ERROR;
  sqlite3_vfs *vfs = &state.vfs;
  vfs->iVersion = 2;
  vfs->szOsFile = (int)sizeof(FaultFile) + state.real->szOsFile;
  vfs->mxPathname = state.real->mxPathname;
  vfs->zName = FAULT_VFS_NAME;
  vfs->xOpen = fv_open;
  vfs->xDelete = fv_delete;
  vfs->xAccess = fv_access;
  vfs->xFullPathname = fv_full_pathname;
  vfs->xDlOpen = fv_dlopen;
  vfs->xDlError = fv_dlerror;
  vfs->xDlSym = fv_dlsym;
  vfs->xDlClose = fv_dlclose;
  vfs->xRandomness = fv_randomness;
  vfs->xSleep = fv_sleep;
  vfs->xCurrentTime = fv_current_time;
  vfs->xGetLastError = fv_last_error;
  vfs->xCurrentTimeInt64 = fv_current_time_int64;
  return sqlite3_vfs_register(vfs, 0);
}

/* ---- controls
 * ------------------------------------------------------------------------------------- */

void fault_vfs_reset(void) {
  while (state.nodes != 0)
    node_forget(state.nodes->path);
  state.durability_ops = 0;
  state.crash_at = 0;
  state.crash_hook = 0;
  state.sync_noop = 0;
  state.injected = 0;
  state.write_locks = 0;
  memset(state.counts, 0, sizeof(state.counts));
  fault_vfs_disarm();
}

void fault_vfs_crash_at(long at, unsigned seed, void (*hook)(void)) {
  state.crash_at = at;
  state.random_state = seed * 2654435761u + 1;
  state.crash_hook = hook;
}

void fault_vfs_sync_is_noop(int on) {
  state.sync_noop = on;
}

long fault_vfs_durability_ops(void) {
  return state.durability_ops;
}

void fault_vfs_arm(FaultKind kind, long k, int persistent, int code) {
  state.armed = 1;
  state.armed_kind = kind;
  state.armed_k = k;
  state.armed_seen = 0;
  state.armed_persistent = persistent;
  state.armed_code = code;
}

void fault_vfs_disarm(void) {
  state.armed = 0;
}

long fault_vfs_faults_injected(void) {
  return state.injected;
}

long fault_vfs_count(FaultKind kind) {
  return state.counts[kind];
}

long fault_vfs_write_locks(void) {
  return state.write_locks;
}
