/*
** json_check.c: decides whether a result is JSON, by the same rule as SQLite's own json(), so that
** plain-SQL recovery with json() never trips on a stored result.
**
** The verdict comes from SQLite's own parser, through json_type() (the version 3.40 on Debian 12
*has no
** json_error_position()). Only for a rejected value is cJSON asked where parsing stopped, to name a
** byte offset in the error; cJSON is used through its length-aware parse with its own end pointer,
** never its process-wide error state.
*/
#include <cjson/cJSON.h>

#include "nxm.h"

/* The nesting json_valid() allows: 2000 levels up to SQLite 3.44, 1000 since 3.45. */
static int sqlite_json_depth_limit(void) {
  return sqlite3_libversion_number() >= 3045000 ? 1000 : 2000;
}

/* How deeply arrays and objects nest in `text`, counting only brackets outside strings. */
static int nesting_depth(const char *text, int bytes) {
  int depth = 0, deepest = 0, in_string = 0;
  for (int i = 0; i < bytes; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        i++;
      } else if (c == '"') {
        in_string = 0;
      }
    } else if (c == '"') {
      in_string = 1;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) {
        deepest = depth;
      }
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return deepest;
}

/* Returns 1 when valid; otherwise sets an error naming `function`, `name` and the offset, and
** returns 0. */
int nxm_json_check(sqlite3_context *ctx, NxmConnection *conn, const char *function,
                   const char *name, const char *text, int bytes) {
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, NXM_SQL_JSON_VALID, &stmt);
  if (rc == SQLITE_OK) {
    rc = sqlite3_bind_text(stmt, 1, text, bytes, SQLITE_STATIC);
  }
  int valid = 0;
  if (rc == SQLITE_OK) {
    /* json_type() answers a row for JSON, fails with SQLITE_ERROR ("malformed JSON") for
    ** anything else, and with SQLITE_NOMEM when it runs out of memory; json_valid() would
    ** answer 0 for both of the last two. */
    rc = sqlite3_step(stmt);
    valid = rc == SQLITE_ROW;
    rc = valid ? SQLITE_OK : sqlite3_reset(stmt);
  }
  nxm_statement_done(conn, stmt);
  if (valid) {
    return 1;
  }
  if (rc != SQLITE_ERROR) {
    nxm_error_from_db(ctx, conn, rc, function);
    return 0;
  }

  int limit = sqlite_json_depth_limit();
  if (nesting_depth(text, bytes) > limit) {
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s is nested deeper than %d levels", name, limit);
    return 0;
  }
  const char *end = 0;
  /* The length counts SQLite's terminating NUL: cJSON wants to see it to accept the end. */
  cJSON *parsed = cJSON_ParseWithLengthOpts(text, (size_t)bytes + 1, &end, 1);
  if (parsed == 0 && end != 0 && end >= text && end <= text + bytes) {
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s is not valid JSON (error at byte %lld of %d)",
              name, (long long)(end - text), bytes);
  } else {
    /* cJSON is more lenient than RFC 8259 (it takes "01" or "1."): no offset to give. */
    nxm_error(ctx, SQLITE_MISMATCH, function, "%s is not valid JSON (RFC 8259, as json() reads it)",
              name);
  }
  cJSON_Delete(parsed);
  return 0;
}
