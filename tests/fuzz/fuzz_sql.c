/*
** fuzz_sql.c: a libFuzzer harness that drives nxm's whole SQL surface on a real database file.
**
** Every input is a small program: a run of operations, each chosen and parameterised by the bytes
*that
** follow (any byte string is a valid program; running out of bytes ends it). The operations call
*every
** nxm function and both virtual tables with generated arguments (wrong types, NULLs, edge integers,
** NaN and infinities, invalid UTF-8, NUL bytes, ids at and past the caps, megabyte texts, JSON that
*is
** deep, broken or full of duplicate keys and lone surrogates), inside and outside transactions,
*from
** writing statements and triggers, under a lowered SQLITE_LIMIT_LENGTH, after a second connection
** changed the file, after the nxm_ tables were altered by plain SQL, and on a byte-corrupted image.
**
** Besides ASan and UBSan, the harness checks what nxm promises and aborts when a promise is broken:
**   - a writing call that fails leaves the database (schema and nxm_ rows) exactly as it was;
**   - an error raised by an nxm function starts with that function's name, or is one of SQLite's
*own
**     generic messages (out of memory, too big, busy, read-only, "unsafe use of ...");
**   - nxm_recover returns NULL or valid JSON naming the execution asked for;
**   - nxm_progress never shows completed > total or an unknown state;
**   - the file passes PRAGMA quick_check at the end.
**
** Built by `make fuzz` / `make fuzz-short` (Makefile, issue 5 section): the ext/ sources are
*compiled in
** with -DSQLITE_CORE and registered with sqlite3_auto_extension, against the system libsqlite3 and
** libcjson. Set NXM_FUZZ_VERBOSE=1 to print every statement and error while replaying one input.
*/
#define _POSIX_C_SOURCE 200809L /* unlink, access, getpid, strdup */

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

int sqlite3_nxm_init(sqlite3 *db, char **error, const sqlite3_api_routines *api);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- reading the program ------------------------------------------------------------------------
 */

typedef struct Input {
  const uint8_t *data;
  size_t size;
  size_t used;
} Input;

static int more(const Input *in) {
  return in->used < in->size;
}

static unsigned byte(Input *in) {
  return more(in) ? in->data[in->used++] : 0;
}

static unsigned choose(Input *in, unsigned n) {
  return byte(in) % n;
}

static uint64_t word64(Input *in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; i++) {
    value = (value << 8) | byte(in);
  }
  return value;
}

/* ---- a growable byte buffer ---------------------------------------------------------------------
 */

typedef struct Buffer {
  char *bytes;
  size_t length;
  size_t capacity;
} Buffer;

static void put(Buffer *b, const void *bytes, size_t n) {
  if (b->length + n + 1 > b->capacity) {
    size_t capacity = b->capacity ? b->capacity : 64;
    while (capacity < b->length + n + 1) {
      capacity *= 2;
    }
    char *grown = realloc(b->bytes, capacity);
    if (grown == 0) {
      abort();
    }
    b->bytes = grown;
    b->capacity = capacity;
  }
  memcpy(b->bytes + b->length, bytes, n);
  b->length += n;
  b->bytes[b->length] = 0;
}

static void puts_(Buffer *b, const char *text) {
  put(b, text, strlen(text));
}

static void repeat(Buffer *b, char c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    put(b, &c, 1);
  }
}

/* ---- generated values
 * ----------------------------------------------------------------------------- */

/* Texts that collide on purpose, so that appends, plans and reads meet the same executions. */
static const char *const ID_POOL[] = {"e1", "e2", "e3", "a", "b", "c", "task-1", "Ωmega"};
#define ID_POOL_SIZE (sizeof(ID_POOL) / sizeof(ID_POOL[0]))

static const char *const NUMBER_LITERALS[] = {"0",
                                              "-0",
                                              "1",
                                              "1.5",
                                              "-1e-7",
                                              "1e999",
                                              "-1e999",
                                              "123456789012345678901234567890",
                                              "01",
                                              "1.",
                                              ".5",
                                              "+1",
                                              "NaN",
                                              "Infinity",
                                              "-Infinity",
                                              "0x10",
                                              "1e",
                                              "9223372036854775808",
                                              "-9223372036854775809",
                                              "1E+2"};
#define NUMBER_LITERALS_SIZE (sizeof(NUMBER_LITERALS) / sizeof(NUMBER_LITERALS[0]))

static const char *const STRING_BODIES[] = {"",
                                            "a",
                                            "\\ud800",
                                            "\\udc00\\ud800",
                                            "\\u0000",
                                            "a\\u0000b",
                                            "\\\"",
                                            "\\\\",
                                            "\\x41",
                                            "\\u12",
                                            "\xff",
                                            "\xc3\x28",
                                            "\xed\xa0\x80",
                                            "\xf4\x90\x80\x80",
                                            "Ωmega",
                                            "\t",
                                            "\x7f",
                                            "e1"};
#define STRING_BODIES_SIZE (sizeof(STRING_BODIES) / sizeof(STRING_BODIES[0]))

/* Raw bytes from the input, any of them: NULs, control bytes, invalid UTF-8. */
static void raw_bytes(Input *in, Buffer *out, size_t max) {
  size_t n = choose(in, (unsigned)max + 1);
  for (size_t i = 0; i < n && more(in); i++) {
    char c = (char)byte(in);
    put(out, &c, 1);
  }
}

static void json_value(Input *in, Buffer *out, int depth);

static void json_string(Input *in, Buffer *out) {
  puts_(out, "\"");
  if (choose(in, 2)) {
    puts_(out, STRING_BODIES[choose(in, STRING_BODIES_SIZE)]);
  } else {
    raw_bytes(in, out, 12);
  }
  puts_(out, "\"");
}

static void json_value(Input *in, Buffer *out, int depth) {
  unsigned kind = depth > 6 ? choose(in, 5) : choose(in, 8);
  switch (kind) {
  case 0: puts_(out, "null"); break;
  case 1: puts_(out, choose(in, 2) ? "true" : "false"); break;
  case 2: puts_(out, NUMBER_LITERALS[choose(in, NUMBER_LITERALS_SIZE)]); break;
  case 3:
  case 4: json_string(in, out); break;
  case 5: {
    unsigned n = choose(in, 5);
    puts_(out, "[");
    for (unsigned i = 0; i < n; i++) {
      if (i)
        puts_(out, ",");
      json_value(in, out, depth + 1);
    }
    puts_(out, "]");
    break;
  }
  case 6: {
    /* Objects repeat keys now and then: "a" comes from a pool of two. */
    unsigned n = choose(in, 4);
    puts_(out, "{");
    for (unsigned i = 0; i < n; i++) {
      if (i)
        puts_(out, ",");
      puts_(out, choose(in, 2) ? "\"a\"" : "\"b\"");
      puts_(out, ":");
      json_value(in, out, depth + 1);
    }
    puts_(out, "}");
    break;
  }
  default: {
    /* Something that is not quite JSON: a bare word, a stray comma, raw bytes. */
    static const char *const broken[] = {"[1,]", "{\"a\"}", "[", "}", "'x'", "nul", "[1 2]", " "};
    if (choose(in, 2)) {
      puts_(out, broken[choose(in, 8)]);
    } else {
      raw_bytes(in, out, 6);
    }
    break;
  }
  }
}

/* Nesting right at and past the limits of SQLite's json_valid() (2000) and cJSON (1000). */
static void deep_json(Input *in, Buffer *out) {
  static const size_t depths[] = {999, 1000, 1001, 1999, 2000, 2001, 5000};
  size_t depth = depths[choose(in, 7)];
  int objects = (int)choose(in, 3);
  for (size_t i = 0; i < depth; i++) {
    puts_(out, objects == 1 ? "{\"a\":" : "[");
  }
  puts_(out, objects == 2 ? "\"x\"" : "1");
  for (size_t i = 0; i < depth; i++) {
    puts_(out, objects == 1 ? "}" : "]");
  }
}

/* A plan: mostly a JSON array of task ids, with the ways a plan can be wrong. */
static void plan_json(Input *in, Buffer *out) {
  unsigned shape = choose(in, 10);
  if (shape == 0) {
    json_value(in, out, 0);
    return;
  }
  if (shape == 1) {
    /* Many tasks: a plan of a few thousand ids. */
    unsigned n = 1000 + choose(in, 4) * 1500;
    puts_(out, "[");
    for (unsigned i = 0; i < n; i++) {
      char id[32];
      snprintf(id, sizeof(id), "%s\"t%u\"", i ? "," : "", i);
      puts_(out, id);
    }
    puts_(out, "]");
    return;
  }
  unsigned n = choose(in, 6);
  puts_(out, "[");
  for (unsigned i = 0; i < n; i++) {
    if (i)
      puts_(out, ",");
    unsigned kind = choose(in, 12);
    if (kind < 7) {
      puts_(out, "\"");
      puts_(out, ID_POOL[choose(in, 3 + (kind == 0 ? 5 : 0))]);
      puts_(out, "\"");
    } else if (kind == 7) {
      json_string(in, out);
    } else if (kind == 8) {
      puts_(out, "\"");
      repeat(out, 'x', choose(in, 2) ? 1024 : 1025);
      puts_(out, "\"");
    } else {
      json_value(in, out, 1);
    }
  }
  puts_(out, "]");
}

typedef enum ValueType { V_NULL, V_INT, V_DOUBLE, V_TEXT, V_BLOB } ValueType;

typedef struct Value {
  ValueType type;
  sqlite3_int64 integer;
  double real;
  Buffer text; /* text or blob bytes */
} Value;

static void value_clear(Value *v) {
  free(v->text.bytes);
  memset(v, 0, sizeof(*v));
}

static void value_text(Value *v, const char *text) {
  v->type = V_TEXT;
  puts_(&v->text, text);
}

static sqlite3_int64 edge_integer(Input *in) {
  static const sqlite3_int64 edges[] = {0,
                                        1,
                                        2,
                                        3,
                                        5,
                                        -1,
                                        1000,
                                        1000000,
                                        INT64_MAX,
                                        INT64_MIN,
                                        INT64_MAX - 1,
                                        2147483647,
                                        2147483648LL,
                                        -2147483648LL};
  if (choose(in, 4) == 0) {
    return (sqlite3_int64)word64(in);
  }
  return edges[choose(in, sizeof(edges) / sizeof(edges[0]))];
}

static double edge_double(Input *in) {
  static const double edges[] = {0.5, -0.0, 1.0, 24.0, 1e9, 1e9 + 1, 1e308, -1.5, 1e-300};
  unsigned kind = choose(in, 5);
  if (kind == 0)
    return NAN;
  if (kind == 1)
    return choose(in, 2) ? INFINITY : -INFINITY;
  if (kind == 2) {
    uint64_t bits = word64(in);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
  }
  return edges[choose(in, sizeof(edges) / sizeof(edges[0]))];
}

/* Big texts: at and past the id caps, and a few megabytes. Capped per input by the caller. */
static size_t big_size(Input *in) {
  static const size_t sizes[] = {1024, 1025, 65536, 1048577, 3 * 1048576};
  return sizes[choose(in, 5)];
}

/*
** A value for an argument. `role` nudges it toward what the position expects (0 any, 1 an id,
** 2 a result, 3 a count, 4 a plan, 5 hours) so that most calls get past the first check.
*/
static void gen_value(Input *in, Value *v, int role, size_t *budget) {
  memset(v, 0, sizeof(*v));
  unsigned kind = choose(in, 16);
  if (kind < 8 && role != 0) {
    switch (role) {
    case 1: value_text(v, ID_POOL[choose(in, ID_POOL_SIZE)]); return;
    case 2:
      v->type = V_TEXT;
      json_value(in, &v->text, 0);
      return;
    case 3:
      v->type = V_INT;
      v->integer = choose(in, 4) ? (sqlite3_int64)choose(in, 8) : edge_integer(in);
      return;
    case 4:
      v->type = V_TEXT;
      plan_json(in, &v->text);
      return;
    default:
      v->type = V_DOUBLE;
      v->real = choose(in, 2) ? (double)choose(in, 48) : edge_double(in);
      return;
    }
  }
  switch (kind % 8) {
  case 0: v->type = V_NULL; return;
  case 1:
    v->type = V_INT;
    v->integer = edge_integer(in);
    return;
  case 2:
    v->type = V_DOUBLE;
    v->real = edge_double(in);
    return;
  case 3:
    v->type = V_TEXT;
    raw_bytes(in, &v->text, 16);
    return;
  case 4:
    v->type = V_BLOB;
    raw_bytes(in, &v->text, 8);
    return;
  case 5:
    v->type = V_TEXT;
    json_value(in, &v->text, 0);
    return;
  case 6: {
    size_t n = big_size(in);
    if (n > *budget) {
      n = 1025;
    }
    *budget -= n < *budget ? n : *budget;
    v->type = V_TEXT;
    unsigned fill = choose(in, 3);
    if (fill == 0) {
      repeat(&v->text, 'x', n); /* an id or label */
    } else {
      puts_(&v->text, "\""); /* a JSON string result */
      repeat(&v->text, fill == 1 ? 'y' : ' ', n);
      puts_(&v->text, "\"");
    }
    return;
  }
  default:
    v->type = V_TEXT;
    deep_json(in, &v->text);
    return;
  }
}

static int bind_value(sqlite3_stmt *stmt, int index, const Value *v) {
  switch (v->type) {
  case V_NULL: return sqlite3_bind_null(stmt, index);
  case V_INT: return sqlite3_bind_int64(stmt, index, v->integer);
  case V_DOUBLE: return sqlite3_bind_double(stmt, index, v->real);
  case V_TEXT:
    return sqlite3_bind_text64(stmt, index, v->text.bytes ? v->text.bytes : "", v->text.length,
                               SQLITE_TRANSIENT, SQLITE_UTF8);
  default:
    return sqlite3_bind_blob64(stmt, index, v->text.bytes ? v->text.bytes : "", v->text.length,
                               SQLITE_TRANSIENT);
  }
}

/* ---- the database under test --------------------------------------------------------------------
 */

typedef struct Session {
  sqlite3 *db;
  sqlite3 *other; /* a second connection to the same file, opened on demand */
  char path[256];
  int verbose;
  int corrupted;       /* the image was damaged on purpose: reads may fail, checks relax */
  int length_limited;  /* SQLITE_LIMIT_LENGTH was lowered */
  int checks_bypassed; /* a row was planted past a CHECK constraint, which quick_check reports */
  size_t budget;       /* bytes of big texts still allowed in this input */
} Session;

static void fail(Session *s, const char *what, const char *detail) {
  fprintf(stderr, "nxm fuzz: broken promise: %s%s%s\n", what, detail ? ": " : "",
          detail ? detail : "");
  (void)s;
  abort();
}

static void remove_files(const char *path) {
  char name[300];
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  for (int i = 0; i < 4; i++) {
    snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
    unlink(name);
  }
}

static sqlite3 *open_db(Session *s) {
  sqlite3 *db = 0;
  if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0) != SQLITE_OK) {
    fail(s, "cannot open the fuzz database", sqlite3_errmsg(db));
  }
  sqlite3_exec(db, "PRAGMA synchronous = OFF", 0, 0, 0);
  return db;
}

/* A digest of everything a failing call must not change: the schema and every nxm_ row. */
static int digest(sqlite3 *db, uint64_t *out) {
  static const char *const queries[] = {
      "SELECT type, name, tbl_name, sql FROM main.sqlite_schema ORDER BY name",
      "SELECT * FROM main.nxm_meta ORDER BY key",
      "SELECT * FROM main.nxm_executions ORDER BY execution_id",
      "SELECT * FROM main.nxm_results ORDER BY seq",
      "SELECT * FROM main.nxm_tasks ORDER BY execution_id, position"};
  uint64_t hash = 1469598103934665603ULL;
  for (int q = 0; q < 5; q++) {
    sqlite3_stmt *stmt = 0;
    if (sqlite3_prepare_v2(db, queries[q], -1, &stmt, 0) != SQLITE_OK) {
      hash = hash * 1099511628211ULL + 0xdead; /* an absent table is part of the state */
      continue;
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(stmt); c++) {
        const unsigned char *bytes = sqlite3_column_blob(stmt, c);
        int n = sqlite3_column_bytes(stmt, c);
        hash = (hash ^ (uint64_t)sqlite3_column_type(stmt, c)) * 1099511628211ULL;
        for (int i = 0; i < n; i++) {
          hash = (hash ^ bytes[i]) * 1099511628211ULL;
        }
      }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
      return 0;
    }
  }
  *out = hash;
  return 1;
}

/* SQLite's own messages that may reach the caller of an nxm function unprefixed. */
static int generic_message(const char *message) {
  static const char *const allowed[] = {"out of memory",
                                        "string or blob too big",
                                        "database is locked",
                                        "database table is locked",
                                        "attempt to write a readonly database",
                                        "unsafe use of ",
                                        "wrong number of arguments",
                                        "database disk image is malformed",
                                        "file is not a database",
                                        "no such table",
                                        "interrupted",
                                        "not authorized"};
  for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
    if (strncmp(message, allowed[i], strlen(allowed[i])) == 0) {
      return 1;
    }
  }
  return 0;
}

/*
** Runs one statement with bound values and steps it to the end. `function` names the nxm function
*it
** calls (for the message check) or is 0; `writes` says the call may write (for the unchanged
*check).
** Returns the step's result code; *first_text receives the first row's first column when asked.
*/
static int run(Session *s, const char *sql, const Value *values, int count, const char *function,
               int writes, char **first_text) {
  if (first_text)
    *first_text = 0;
  uint64_t before = 0;
  int have_before = writes && !s->corrupted && digest(s->db, &before);
  int was_autocommit = sqlite3_get_autocommit(s->db);

  sqlite3_stmt *stmt = 0;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, 0);
  if (rc != SQLITE_OK) {
    if (s->verbose)
      fprintf(stderr, "  prepare %s -> %s\n", sql, sqlite3_errmsg(s->db));
    return rc;
  }
  for (int i = 0; i < count && i < sqlite3_bind_parameter_count(stmt); i++) {
    bind_value(stmt, i + 1, &values[i]);
    if (s->verbose) {
      const Value *v = &values[i];
      fprintf(stderr, "    ?%d type %d int %lld real %g bytes %zu: %.60s\n", i + 1, (int)v->type,
              (long long)v->integer, v->real, v->text.length, v->text.bytes ? v->text.bytes : "");
    }
  }
  int rows = 0;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (rows++ == 0 && first_text && sqlite3_column_type(stmt, 0) == SQLITE_TEXT) {
      *first_text = strdup((const char *)sqlite3_column_text(stmt, 0));
    }
  }
  const char *message = sqlite3_errmsg(s->db);
  if (s->verbose)
    fprintf(stderr, "  %s -> rc %d, %d rows, %s\n", sql, rc, rows,
            rc == SQLITE_DONE ? "" : message);

  /* Below a message's length, SQLite drops the text of an error and keeps only its code's name. */
  int message_dropped = s->length_limited && strcmp(message, sqlite3_errstr(rc)) == 0;
  if (rc != SQLITE_DONE && function != 0 && !s->corrupted &&
      strncmp(message, function, strlen(function)) != 0 && !generic_message(message) &&
      !message_dropped) {
    fprintf(stderr, "statement: %s\nmessage: %s\n", sql, message);
    fail(s, "an nxm error without the function's name", function);
  }
  sqlite3_finalize(stmt);

  if (writes && was_autocommit && !sqlite3_get_autocommit(s->db)) {
    fprintf(stderr, "statement: %s\nmessage: %s\n", sql, message);
    fail(s, "a call made outside a transaction left one open", function);
  }
  uint64_t after = 0;
  if (rc != SQLITE_DONE && have_before && digest(s->db, &after) && after != before) {
    fprintf(stderr, "statement: %s\nmessage: %s\n", sql, message);
    fail(s, "a failing call changed the database", function);
  }
  return rc;
}

static void check_recover(Session *s, const char *document, const Value *id) {
  /* Rows tampered with by plain SQL included: nxm re-checks stored results before it answers. */
  if (document == 0 || s->corrupted) {
    return;
  }
  sqlite3_stmt *stmt = 0;
  if (sqlite3_prepare_v2(s->db, "SELECT json_valid(?1), json_extract(?1, '$.execution_id') = ?2",
                         -1, &stmt, 0) != SQLITE_OK) {
    return;
  }
  sqlite3_bind_text(stmt, 1, document, -1, SQLITE_STATIC);
  bind_value(stmt, 2, id);
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    if (sqlite3_column_int(stmt, 0) != 1)
      fail(s, "nxm_recover returned invalid JSON", document);
    if (sqlite3_column_int(stmt, 1) != 1)
      fail(s, "nxm_recover answered for another execution", document);
  }
  sqlite3_finalize(stmt);
}

static void check_progress(Session *s) {
  if (s->corrupted)
    return;
  sqlite3_stmt *stmt = 0;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT count(*) FROM nxm_progress WHERE completed > total OR "
                         "state NOT IN ('running', 'complete', 'expired') OR percent > 100",
                         -1, &stmt, 0) != SQLITE_OK) {
    return;
  }
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) != 0) {
    fail(s, "nxm_progress shows an impossible row", 0);
  }
  sqlite3_finalize(stmt);
}

/* ---- operations
 * ------------------------------------------------------------------------------------ */

#define MAX_ARGS 9

static void call_function(Session *s, Input *in, const char *name, const int *roles, int max_args,
                          int writes) {
  Value values[MAX_ARGS];
  int argc = (int)choose(in, (unsigned)max_args + 2); /* 0 .. max_args + 1: too many now and then */
  if (argc > MAX_ARGS)
    argc = MAX_ARGS;
  for (int i = 0; i < argc; i++) {
    gen_value(in, &values[i], i < max_args ? roles[i] : 0, &s->budget);
  }

  char sql[200];
  int at = snprintf(sql, sizeof(sql), "SELECT %s(", name);
  for (int i = 0; i < argc; i++) {
    at += snprintf(sql + at, sizeof(sql) - (size_t)at, "%s?", i ? ", " : "");
  }
  snprintf(sql + at, sizeof(sql) - (size_t)at, ")");

  char *document = 0;
  int rc = run(s, sql, values, argc, name, writes, &document);
  if (rc == SQLITE_DONE && strcmp(name, "nxm_recover") == 0 && argc >= 1) {
    check_recover(s, document, &values[0]);
  }
  free(document);
  for (int i = 0; i < argc; i++) {
    value_clear(&values[i]);
  }
}

static void op_pending(Session *s, Input *in) {
  static const char *const shapes[] = {
      "SELECT task_id FROM nxm_pending(?)",
      "SELECT task_id FROM nxm_pending WHERE execution_id = ?", "SELECT task_id FROM nxm_pending",
      ("SELECT count(*) FROM nxm_progress AS p, nxm_pending(p.execution_id) AS t "
       "WHERE p.execution_id >= ?"),
      /* two cursors at once: the outer one holds the cached statement while the subquery runs */
      "SELECT a.task_id, (SELECT count(*) FROM nxm_pending(?2)) FROM nxm_pending(?1) AS a LIMIT 3",
      "SELECT task_id FROM nxm_pending(?) ORDER BY task_id DESC LIMIT 2",
      "SELECT * FROM nxm_pending(?, ?)"};
  Value values[2];
  for (int i = 0; i < 2; i++)
    gen_value(in, &values[i], 1, &s->budget);
  run(s, shapes[choose(in, 7)], values, 2, "nxm_", 0, 0);
  for (int i = 0; i < 2; i++)
    value_clear(&values[i]);
}

static void op_progress(Session *s, Input *in) {
  static const char *const shapes[] = {
      "SELECT * FROM nxm_progress",
      "SELECT * FROM nxm_progress WHERE execution_id = ?",
      "SELECT state, percent FROM nxm_progress WHERE execution_id IN (?, ?)",
      "SELECT * FROM nxm_progress WHERE execution_id > ? ORDER BY execution_id DESC",
      "SELECT count(*) FROM nxm_progress AS a JOIN nxm_progress AS b USING (execution_id)",
      "SELECT * FROM nxm_progress WHERE completed = ? OR execution_id = ?",
      "INSERT INTO nxm_progress (execution_id) VALUES (?)",
      "DELETE FROM nxm_progress WHERE execution_id = ?"};
  Value values[2];
  for (int i = 0; i < 2; i++)
    gen_value(in, &values[i], 1, &s->budget);
  run(s, shapes[choose(in, 8)], values, 2, "nxm_", 0, 0);
  for (int i = 0; i < 2; i++)
    value_clear(&values[i]);
  check_progress(s);
}

static void op_transaction(Session *s, Input *in) {
  static const char *const statements[] = {"BEGIN",
                                           "BEGIN IMMEDIATE",
                                           "BEGIN EXCLUSIVE",
                                           "COMMIT",
                                           "ROLLBACK",
                                           "SAVEPOINT fz",
                                           "RELEASE fz",
                                           "ROLLBACK TO fz",
                                           "PRAGMA query_only = ON",
                                           "PRAGMA query_only = OFF",
                                           "BEGIN; SELECT count(*) FROM sqlite_schema",
                                           "PRAGMA journal_mode = DELETE",
                                           "PRAGMA journal_mode = WAL",
                                           "PRAGMA wal_checkpoint(TRUNCATE)"};
  const char *sql = statements[choose(in, sizeof(statements) / sizeof(statements[0]))];
  int rc = sqlite3_exec(s->db, sql, 0, 0, 0);
  if (s->verbose)
    fprintf(stderr, "  %s -> %d\n", sql, rc);
}

/* Plain SQL against the nxm_ objects, as another program or an attacker would run it. */
static void op_tamper(Session *s, Input *in) {
  static const char *const statements[] = {
      "ALTER TABLE nxm_results ADD COLUMN extra TEXT",
      "ALTER TABLE nxm_results RENAME TO nxm_results_old",
      "CREATE TRIGGER nxm_planted AFTER INSERT ON nxm_results BEGIN SELECT nxm_cleanup(0); END",
      "CREATE TRIGGER planted AFTER INSERT ON nxm_results BEGIN DELETE FROM nxm_tasks; END",
      "CREATE VIEW nxm_view AS SELECT * FROM nxm_results",
      "CREATE VIEW plain_view AS SELECT nxm_recover('e1')",
      "CREATE TABLE nxm_progress (execution_id TEXT)",
      "CREATE INDEX planted_index ON nxm_results (result)",
      "DROP TRIGGER nxm_ttl_sweep",
      "DROP INDEX nxm_results_by_task",
      "UPDATE nxm_meta SET value = 2 WHERE key = 'schema_version'",
      "UPDATE nxm_meta SET value = 'x' WHERE key = 'ttl_hours'",
      "UPDATE nxm_meta SET value = -1e308 WHERE key = 'ttl_hours'",
      "DELETE FROM nxm_meta",
      "UPDATE nxm_results SET result = 'not json' WHERE seq % 2 = 0",
      "UPDATE nxm_results SET result = '1],\"completed\":999,\"x\":[2'",
      "DELETE FROM nxm_results WHERE seq % 3 = 0",
      "DELETE FROM nxm_tasks WHERE position = 0",
      "UPDATE nxm_executions SET updated_at = 0",
      "UPDATE nxm_executions SET updated_at = 1e300, created_at = -1e300",
      "UPDATE nxm_executions SET planned = NULL",
      "DELETE FROM nxm_executions",
      ("DROP TABLE IF EXISTS nxm_progress; DROP VIEW IF EXISTS nxm_view; "
       "DROP VIEW IF EXISTS plain_view"),
      ("CREATE TABLE IF NOT EXISTS fz_t (x); CREATE TRIGGER IF NOT EXISTS fz_tr AFTER INSERT ON "
       "fz_t "
       "BEGIN SELECT nxm_wal_append('e1', '1', 0, 1); END; INSERT INTO fz_t VALUES (1)"),
      ("CREATE TEMP TABLE IF NOT EXISTS fz_temp (x); CREATE TEMP TRIGGER IF NOT EXISTS fz_temp_tr "
       "AFTER INSERT ON fz_temp BEGIN SELECT nxm_wal_begin('e2', '[\"a\"]'); END; "
       "INSERT INTO fz_temp VALUES (1)"),
      ("DROP TABLE nxm_tasks; CREATE VIEW nxm_tasks AS SELECT 'e1' AS execution_id, 0 AS position, "
       "'forged' AS task_id"),
      ("PRAGMA ignore_check_constraints = ON; UPDATE nxm_meta SET value = -100 "
       "WHERE key = 'ttl_hours'; PRAGMA ignore_check_constraints = OFF"),
      "PRAGMA trusted_schema = OFF",
  };
  unsigned pick = choose(in, sizeof(statements) / sizeof(statements[0]));
  int rc = sqlite3_exec(s->db, statements[pick], 0, 0, 0);
  if (strstr(statements[pick], "ignore_check_constraints") != 0) {
    s->checks_bypassed = 1;
  }
  if (s->verbose)
    fprintf(stderr, "  %s -> %d %s\n", statements[pick], rc, sqlite3_errmsg(s->db));
}

/* nxm functions called where they must refuse: inside writing statements and triggers. */
static void op_inside_write(Session *s, Input *in) {
  static const char *const statements[] = {
      "INSERT INTO fz_w VALUES (nxm_wal_append(?, ?, 0, 3))",
      "INSERT INTO fz_w SELECT nxm_wal_begin(?, ?)",
      "UPDATE fz_w SET x = nxm_cleanup(0) WHERE x = ? OR x = ?",
      "INSERT INTO fz_w VALUES (nxm_recover(?)), (?)",
      "WITH c(x) AS (SELECT nxm_wal_append(?, ?, NULL, 5)) SELECT x FROM c",
      "SELECT nxm_wal_append(?, ?, 0, 9) FROM (SELECT 1 UNION ALL SELECT 2)",
      /* Unbounded on purpose: a scan of nxm_executions must meet each row once, however its own
      ** appends rewrite them (finding 17 of the fuzz runs, see sql/schema.sql). */
      "SELECT nxm_wal_append(execution_id, ?, NULL, NULL, NULL, NULL, ?) FROM nxm_executions",
      "INSERT INTO fz_w SELECT task_id FROM nxm_pending(?) WHERE ? IS NOT NULL"};
  sqlite3_exec(s->db, "CREATE TEMP TABLE IF NOT EXISTS fz_w (x)", 0, 0, 0);
  Value values[2];
  gen_value(in, &values[0], 1, &s->budget);
  gen_value(in, &values[1], 2, &s->budget);
  unsigned pick = choose(in, 8);
  static const char *const names[] = {"nxm_wal_append", "nxm_wal_begin",  "nxm_cleanup",
                                      "nxm_recover",    "nxm_wal_append", "nxm_wal_append",
                                      "nxm_wal_append", "nxm_pending"};
  /* The two statements that call once per row may fail on a later row after an earlier one wrote.
   */
  int single_call = pick != 5 && pick != 6;
  run(s, statements[pick], values, 2, names[pick], single_call, 0);
  for (int i = 0; i < 2; i++)
    value_clear(&values[i]);
}

static void op_limit(Session *s, Input *in) {
  static const int lengths[] = {100, 1000, 4096, 100000, 1000000000};
  int length = lengths[choose(in, 5)];
  sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, length);
  s->length_limited = length < 1000000000;
  if (s->verbose)
    fprintf(stderr, "  limit length %d\n", length);
}

/* A second connection writes to the same file: the schema cookie and the data move under us. */
static void op_other(Session *s, Input *in) {
  if (s->other == 0) {
    s->other = open_db(s); /* nxm is loaded by sqlite3_auto_extension */
    sqlite3_busy_timeout(s->other, 0);
  }
  static const char *const statements[] = {
      "SELECT nxm_wal_append('e1', '{\"o\":1}', NULL, 10, 'brand', 'model')",
      "SELECT nxm_wal_begin('e3', '[\"a\",\"b\",\"c\"]')",
      "SELECT nxm_cleanup(0)",
      "CREATE TABLE IF NOT EXISTS fz_other (x); DROP TABLE fz_other",
      "SELECT nxm_ttl(0.001)",
      "BEGIN IMMEDIATE",
      "COMMIT"};
  const char *sql = statements[choose(in, 7)];
  int rc = sqlite3_exec(s->other, sql, 0, 0, 0);
  if (s->verbose)
    fprintf(stderr, "  [other] %s -> %d %s\n", sql, rc, sqlite3_errmsg(s->other));
}

static void op_reopen(Session *s) {
  sqlite3_close(s->db);
  s->db = open_db(s);
  sqlite3_busy_timeout(s->db, 0);
  s->corrupted = 0; /* the damaged image lived in memory; the file is whole again */
}

/*
** Damages a few bytes of the image and carries on with it in memory, on a fresh connection: every
*call
** must then fail cleanly or work. (The image is marked as a rollback-journal database, which an
** in-memory copy must be.)
*/
static void op_corrupt(Session *s, Input *in) {
  sqlite3_exec(s->db, "ROLLBACK", 0, 0, 0);
  sqlite3_int64 size = 0;
  unsigned char *image = sqlite3_serialize(s->db, "main", &size, 0);
  if (image == 0 || size < 512) {
    sqlite3_free(image);
    return;
  }
  image[18] = image[19] = 1;
  unsigned flips = 1 + choose(in, 16);
  for (unsigned i = 0; i < flips; i++) {
    uint64_t at = word64(in) % (uint64_t)size;
    if (at < 100 && choose(in, 4) != 0) {
      at += 100; /* mostly spare the file header, so the damage reaches the b-trees */
    }
    image[at] = (unsigned char)byte(in);
  }
  sqlite3_close(s->db);
  if (sqlite3_open(":memory:", &s->db) != SQLITE_OK) {
    fail(s, "cannot open an in-memory database", 0);
  }
  int rc = sqlite3_deserialize(s->db, "main", image, size, size,
                               SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
  s->corrupted = 1;
  if (s->verbose)
    fprintf(stderr, "  corrupt %u bytes of %lld -> %d\n", flips, size, rc);
}

/* ---- one input
 * ------------------------------------------------------------------------------------- */

static char fuzz_dir[200];

/* Removes the files of earlier harness processes that died mid-input (a crash, a timeout, the end
*of
** a fork-mode job): in /dev/shm they would hold memory until the next reboot. */
static void remove_orphans(void) {
  DIR *directory = opendir(fuzz_dir);
  if (directory == 0)
    return;
  struct dirent *entry;
  while ((entry = readdir(directory)) != 0) {
    int pid = 0;
    if (sscanf(entry->d_name, "nxm-fuzz-%d.db", &pid) == 1 && pid > 0 && pid != (int)getpid() &&
        kill(pid, 0) != 0 && errno == ESRCH) {
      char path[512];
      snprintf(path, sizeof(path), "%s/%s", fuzz_dir, entry->d_name);
      unlink(path);
    }
  }
  closedir(directory);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *dir = getenv("NXM_FUZZ_DIR");
  if (dir == 0)
    dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(fuzz_dir, sizeof(fuzz_dir), "%s", dir);
  remove_orphans();
  sqlite3_auto_extension((void (*)(void))sqlite3_nxm_init);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Session session;
  Session *s = &session;
  memset(s, 0, sizeof(*s));
  s->verbose = getenv("NXM_FUZZ_VERBOSE") != 0;
  s->budget = 8u << 20;
  snprintf(s->path, sizeof(s->path), "%s/nxm-fuzz-%d.db", fuzz_dir, (int)getpid());
  remove_files(s->path);
  s->db = open_db(s);
  sqlite3_busy_timeout(s->db, 0);

  static const int append_roles[] = {1, 2, 3, 3, 1, 1, 1, 0, 0};
  static const int plan_roles[] = {1, 4, 0};
  static const int recover_roles[] = {1, 5, 0};
  static const int hours_roles[] = {5, 0};
  Input in = {data, size, 0};
  int operations = 0;
  while (more(&in) && operations++ < 64) {
    switch (choose(&in, 20)) {
    case 0:
    case 1:
    case 2:
    case 3: call_function(s, &in, "nxm_wal_append", append_roles, 7, 1); break;
    case 4:
    case 5: call_function(s, &in, "nxm_wal_begin", plan_roles, 2, 1); break;
    case 6:
    case 7: call_function(s, &in, "nxm_recover", recover_roles, 2, 0); break;
    case 8: call_function(s, &in, "nxm_cleanup", hours_roles, 1, 1); break;
    case 9: call_function(s, &in, "nxm_ttl", hours_roles, 1, 1); break;
    case 10: call_function(s, &in, "nxm_version", hours_roles, 0, 0); break;
    case 11: op_pending(s, &in); break;
    case 12: op_progress(s, &in); break;
    case 13: op_transaction(s, &in); break;
    case 14: op_tamper(s, &in); break;
    case 15: op_inside_write(s, &in); break;
    case 16: op_limit(s, &in); break;
    case 17: op_other(s, &in); break;
    case 18:
      if (choose(&in, 4) == 0)
        op_corrupt(s, &in);
      else
        op_reopen(s);
      break;
    default: op_progress(s, &in); break;
    }
  }

  /* Whatever happened, the file is a sound SQLite database. */
  sqlite3_exec(s->db, "ROLLBACK", 0, 0, 0);
  sqlite3_close(s->other);
  if (!s->corrupted && !s->checks_bypassed) {
    sqlite3_stmt *stmt = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &stmt, 0) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") != 0) {
      fail(s, "quick_check failed", (const char *)sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  if (sqlite3_close(s->db) != SQLITE_OK) {
    fail(s, "sqlite3_close left statements behind", sqlite3_errmsg(s->db));
  }
  remove_files(s->path);
  return 0;
}
