/*
** errors.c: the one voice nxm speaks errors in, and the argument checks every function shares.
**
** Every message starts with the SQL function's name, names the argument at fault, and quotes the
** bad value when it is short: "nxm_wal_append: completed (7) exceeds total (5)". Out-of-memory and
** too-big are reported as SQLITE_NOMEM and SQLITE_TOOBIG, the codes callers test for.
*/
#include <stdarg.h>
#include <string.h>

#include "nxm.h"

/* Not sqlite3_result_error_nomem(): that marks the whole connection as out of memory until the
** caller's statement ends, and the rollback that must follow would be refused. */
static void out_of_memory(sqlite3_context *ctx) {
  sqlite3_result_error(ctx, "out of memory", -1);
  sqlite3_result_error_code(ctx, SQLITE_NOMEM);
}

void nxm_error(sqlite3_context *ctx, int code, const char *function, const char *format, ...) {
  if (code == SQLITE_NOMEM) {
    out_of_memory(ctx);
    return;
  }
  va_list args;
  va_start(args, format);
  char *detail = sqlite3_vmprintf(format, args);
  va_end(args);
  char *message = detail ? sqlite3_mprintf("%s: %s", function, detail) : 0;
  sqlite3_free(detail);
  if (message == 0) {
    out_of_memory(ctx);
    return;
  }
  sqlite3_result_error(ctx, message, -1);
  sqlite3_result_error_code(ctx, code);
  sqlite3_free(message);
}

/* Passes on the error a statement of nxm's own just hit, with SQLite's message and code. */
void nxm_error_from_db(sqlite3_context *ctx, NxmConnection *conn, int code, const char *function) {
  nxm_error(ctx, code, function, "%s", sqlite3_errmsg(conn->db));
}

static const char *type_name(int type) {
  switch (type) {
  case SQLITE_INTEGER: return "an integer";
  case SQLITE_FLOAT: return "a real";
  case SQLITE_BLOB: return "a blob";
  case SQLITE_NULL: return "NULL";
  default: return "text";
  }
}

/*
** Reads argument `index` as text. NULL is accepted (as *out == 0) unless `required`; a present
** value must be non-empty text of at most `max_bytes` bytes (0: no cap here). Returns 0 after
** setting an error.
*/
int nxm_arg_text(sqlite3_context *ctx, const char *function, sqlite3_value **argv, int index,
                 const char *name, int required, int max_bytes, const char **out, int *out_bytes) {
  sqlite3_value *value = argv[index];
  int type = sqlite3_value_type(value);
  *out = 0;
  *out_bytes = 0;
  if (type == SQLITE_NULL && !required) {
    return 1;
  }
  if (type != SQLITE_TEXT) {
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s must be text, not %s", name, type_name(type));
    return 0;
  }
  int bytes = sqlite3_value_bytes(value);
  if (max_bytes > 0 && bytes > max_bytes) {
    nxm_error(ctx, SQLITE_TOOBIG, function, "%s is %d bytes; the limit is %d", name, bytes,
              max_bytes);
    return 0;
  }
  const char *text = (const char *)sqlite3_value_text(value);
  if (text == 0) {
    nxm_error(ctx, SQLITE_NOMEM, function, "");
    return 0;
  }
  if (bytes == 0) {
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s must not be empty", name);
    return 0;
  }
  if ((int)strlen(text) != bytes) {
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s contains a NUL byte", name);
    return 0;
  }
  if (nxm_utf8_invalid_at(text, bytes) >= 0) {
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s is not valid UTF-8", name);
    return 0;
  }
  *out = text;
  *out_bytes = bytes;
  return 1;
}

/*
** Reads argument `index` as a count: NULL (*out = -1) or a non-negative whole number. A real that
** holds a whole number (4.0) is taken too: some clients (Node's better-sqlite3, for one) bind every
** JavaScript number as a real.
*/
int nxm_arg_count(sqlite3_context *ctx, const char *function, sqlite3_int64 *out,
                  sqlite3_value **argv, int index, const char *name) {
  sqlite3_value *value = argv[index];
  int type = sqlite3_value_type(value);
  *out = -1;
  if (type == SQLITE_NULL) {
    return 1;
  }
  double real = type == SQLITE_FLOAT ? sqlite3_value_double(value) : 0;
  /* Beyond 2^53 a real no longer holds every whole number: refuse rather than round. */
  int real_in_range =
      type == SQLITE_FLOAT && real >= -9007199254740992.0 && real <= 9007199254740992.0;
  int whole_real = real_in_range && real == (double)(sqlite3_int64)real;
  if (type == SQLITE_FLOAT && !real_in_range) {
    nxm_error(ctx, SQLITE_MISMATCH, function,
              "%s must be a non-negative whole number, not a real out of range (%g)", name, real);
    return 0;
  }
  if (type != SQLITE_INTEGER && !whole_real) {
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s must be a non-negative whole number, not %s%s",
              name, type_name(type), type == SQLITE_FLOAT ? " with a fraction" : "");
    return 0;
  }
  sqlite3_int64 count = whole_real ? (sqlite3_int64)real : sqlite3_value_int64(value);
  if (count < 0) {
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s must not be negative (got %lld)", name, count);
    return 0;
  }
  *out = count;
  return 1;
}

/* Reads an age in hours: a finite, non-negative integer or real. */
int nxm_arg_hours(sqlite3_context *ctx, const char *function, sqlite3_value *value,
                  const char *name, double *out) {
  int type = sqlite3_value_type(value);
  if (type != SQLITE_INTEGER && type != SQLITE_FLOAT) {
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s must be a number of hours, not %s", name,
              type_name(type));
    return 0;
  }
  double hours = sqlite3_value_double(value);
  if (!(hours >= 0) || hours > 1e9) {
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s must be between 0 and 1e9 hours (got %g)", name,
              hours);
    return 0;
  }
  *out = hours;
  return 1;
}
