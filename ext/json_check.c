/*
** json_check.c: decides whether a result is JSON, by the same rule as SQLite's own json(), so that
** plain-SQL recovery with json() never trips on a stored result.
**
** The verdict comes from SQLite's json_valid() (the version 3.40 on Debian 12 has no
** json_error_position()). Only for a rejected value is cJSON asked where parsing stopped, to name a
** byte offset in the error; cJSON is used through its length-aware parse with its own end pointer,
** never its process-wide error state.
*/
#include <cjson/cJSON.h>

#include "nxm.h"

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
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      valid = sqlite3_column_int(stmt, 0);
      rc = SQLITE_OK;
    } else {
      rc = sqlite3_reset(stmt);
    }
  }
  nxm_statement_done(conn, stmt);
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, function);
    return 0;
  }
  if (valid) {
    return 1;
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
