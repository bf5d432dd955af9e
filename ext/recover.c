/*
** recover.c: nxm_recover(execution_id [, max_age_hours]) returns what a restarted backend needs.
**
** The answer is one JSON object with the fields the old pickle file had: execution_id, results (in
** the order first appended), completed, total, brand, model, timestamp (unix seconds of the latest
** append) and last_updated (ISO-8601, UTC); plus pending (planned task ids without a result, in
** plan order) when a plan exists. It is NULL when the execution is unknown, idle for longer than
** max_age_hours (default: the TTL), or complete.
**
** Results were validated when stored, so their text is spliced in as is: memory is the returned
** document plus one row at a time. All reads run in one savepoint, so they see one snapshot.
*/
#include "nxm.h"

static const char *const FUNCTION = "nxm_recover";

/* JSON subtype, so that SQLite's JSON functions take the answer as JSON rather than as a string. */
#define JSON_SUBTYPE 74

/* SQLite 3.45 and later want functions that set a subtype to say so; older headers lack the flag.
 */
#ifdef SQLITE_RESULT_SUBTYPE
#define RESULT_SUBTYPE SQLITE_RESULT_SUBTYPE
#else
#define RESULT_SUBTYPE 0
#endif

static int append_results(NxmConnection *conn, sqlite3_str *out, const char *execution_id,
                          int id_bytes) {
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, NXM_SQL_RECOVER_RESULTS, &stmt);
  if (rc != SQLITE_OK) {
    return rc;
  }
  sqlite3_bind_text(stmt, 1, execution_id, id_bytes, SQLITE_STATIC);
  const char *separator = "";
  /* json_type() re-reads each result: a row that is not JSON (written by hand, or planted) fails
  ** the statement instead of being spliced into the document. */
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    sqlite3_str_appendall(out, separator);
    sqlite3_str_append(out, (const char *)sqlite3_column_text(stmt, 0),
                       sqlite3_column_bytes(stmt, 0));
    separator = ",";
  }
  rc = rc == SQLITE_DONE ? SQLITE_OK : sqlite3_reset(stmt);
  nxm_statement_done(conn, stmt);
  return rc;
}

static int append_pending(NxmConnection *conn, sqlite3_str *out, const char *execution_id,
                          int id_bytes) {
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, NXM_SQL_RECOVER_PENDING, &stmt);
  if (rc != SQLITE_OK) {
    return rc;
  }
  sqlite3_bind_text(stmt, 1, execution_id, id_bytes, SQLITE_STATIC);
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    sqlite3_str_appendf(out, ",\"pending\":%s", (const char *)sqlite3_column_text(stmt, 0));
    rc = SQLITE_OK;
  } else {
    rc = sqlite3_reset(stmt);
  }
  nxm_statement_done(conn, stmt);
  return rc;
}

/*
** Builds the document into *document (0 when the answer is NULL). Returns an SQLite code; for an
** error of a statement, *message holds SQLite's words, taken before other statements are reset.
*/
static int build(NxmConnection *conn, const char *execution_id, int id_bytes, double cutoff,
                 char **document, sqlite3_uint64 *length, char **message) {
  *document = 0;
  sqlite3_stmt *header = 0;
  int rc = nxm_statement(conn, NXM_SQL_RECOVER_HEADER, &header);
  if (rc != SQLITE_OK) {
    return rc;
  }
  sqlite3_bind_text(header, 1, execution_id, id_bytes, SQLITE_STATIC);
  sqlite3_bind_double(header, 2, cutoff);
  rc = sqlite3_step(header);
  if (rc != SQLITE_ROW || sqlite3_column_int64(header, 1) >= sqlite3_column_int64(header, 2)) {
    rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? SQLITE_OK : sqlite3_reset(header);
    nxm_statement_done(conn, header);
    return rc;
  }

  sqlite3_str *out = sqlite3_str_new(conn->db);
  sqlite3_str_appendf(out, "{\"execution_id\":%s,\"results\":[",
                      (const char *)sqlite3_column_text(header, 0));
  rc = append_results(conn, out, execution_id, id_bytes);
  sqlite3_str_appendf(
      out,
      "],\"completed\":%lld,\"total\":%lld,\"brand\":%s,\"model\":%s,"
      "\"timestamp\":%.3f,\"last_updated\":\"%s\"",
      sqlite3_column_int64(header, 1), sqlite3_column_int64(header, 2),
      (const char *)sqlite3_column_text(header, 3), (const char *)sqlite3_column_text(header, 4),
      sqlite3_column_double(header, 5), (const char *)sqlite3_column_text(header, 6));
  if (rc == SQLITE_OK && sqlite3_column_type(header, 7) != SQLITE_NULL) {
    rc = append_pending(conn, out, execution_id, id_bytes);
  }
  if (rc == SQLITE_ERROR && sqlite3_extended_errcode(conn->db) == SQLITE_ERROR) {
    rc = SQLITE_CORRUPT;
    *message = sqlite3_mprintf("a stored result of execution %Q is not valid JSON (%s); the "
                               "database was changed outside nxm",
                               execution_id, sqlite3_errmsg(conn->db));
  } else if (rc != SQLITE_OK) {
    *message = sqlite3_mprintf("%s", sqlite3_errmsg(conn->db));
  }
  nxm_statement_done(conn, header);
  sqlite3_str_appendchar(out, 1, '}');

  int str_rc = sqlite3_str_errcode(out);
  *length = (sqlite3_uint64)sqlite3_str_length(out);
  char *text = sqlite3_str_finish(out);
  if (rc == SQLITE_OK && str_rc != SQLITE_OK) {
    rc = str_rc;
  }
  if (rc != SQLITE_OK) {
    sqlite3_free(text);
    return rc;
  }
  *document = text;
  return SQLITE_OK;
}

static void recover(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  NxmConnection *conn = sqlite3_user_data(ctx);
  const char *execution_id = 0;
  int id_bytes = 0;
  double hours = -1;
  if (argc < 1 || argc > 2) {
    nxm_error(ctx, SQLITE_MISUSE, FUNCTION,
              "takes 1 or 2 arguments (execution_id [, max_age_hours]), got %d", argc);
    return;
  }
  if (!nxm_arg_text(ctx, FUNCTION, argv, 0, "execution_id", 1, NXM_MAX_ID_BYTES, &execution_id,
                    &id_bytes) ||
      (argc > 1 && sqlite3_value_type(argv[1]) != SQLITE_NULL &&
       !nxm_arg_hours(ctx, FUNCTION, argv[1], "max_age_hours", &hours))) {
    return;
  }
  if (!nxm_same_process(ctx, conn, FUNCTION)) {
    return;
  }

  /* One snapshot for every read; SAVEPOINT fails only inside a writing statement, where the
  ** caller's transaction already gives one. A snapshot nxm opens is one it must be able to end:
  ** see rollback.c. */
  int rc = nxm_end_stranded(conn);
  int was_autocommit = sqlite3_get_autocommit(conn->db);
  sqlite3_stmt *force_rollback = 0;
  if (rc == SQLITE_OK && was_autocommit) {
    rc = nxm_force_rollback_prepare(conn, &force_rollback);
  }
  if (rc != SQLITE_OK) {
    nxm_error_from_db(ctx, conn, rc, FUNCTION);
    return;
  }
  /* An interrupt can fail SAVEPOINT after it has opened the transaction: then it is open. */
  int in_savepoint = nxm_run(conn, NXM_SQL_SAVEPOINT) == SQLITE_OK;
  int must_roll_back = !in_savepoint && was_autocommit && !sqlite3_get_autocommit(conn->db);

  int present = 0;
  char *message = 0;
  char *document = 0;
  sqlite3_uint64 length = 0;
  rc = nxm_schema_ensure(conn, 0, 0, &present, &message);
  if (rc == SQLITE_OK && present && hours < 0) {
    rc = nxm_ttl_hours(conn, present, &hours);
  }
  if (rc == SQLITE_OK && present) {
    rc = build(conn, execution_id, id_bytes, nxm_now(conn) - hours * 3600.0, &document, &length,
               &message);
  }
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_TOOBIG) {
      nxm_error(ctx, rc, FUNCTION, "the document would be larger than SQLITE_LIMIT_LENGTH");
    } else {
      nxm_error(ctx, rc, FUNCTION, "%s%s", message ? message : sqlite3_errmsg(conn->db),
                nxm_read_hint(rc));
    }
  }
  sqlite3_free(message);

  /* Give the snapshot back; a failed read may have left the savepoint unreleasable, and then the
  ** transaction the savepoint opened must not stay open. */
  if (must_roll_back || (in_savepoint && nxm_run(conn, NXM_SQL_RELEASE) != SQLITE_OK)) {
    nxm_roll_back(conn, force_rollback, was_autocommit);
  }
  sqlite3_finalize(force_rollback);
  if (document != 0) {
    sqlite3_result_text64(ctx, document, length, sqlite3_free, SQLITE_UTF8);
    sqlite3_result_subtype(ctx, JSON_SUBTYPE);
  } else if (rc == SQLITE_OK) {
    sqlite3_result_null(ctx);
  }
}

int nxm_register_recover(sqlite3 *db, NxmConnection *conn) {
  /* DIRECTONLY: it reveals stored results, so a view or trigger planted in an untrusted
  ** database must not be able to call it on the reader's behalf. */
  nxm_connection_ref(conn);
  return sqlite3_create_function_v2(db, FUNCTION, -1,
                                    SQLITE_UTF8 | SQLITE_DIRECTONLY | RESULT_SUBTYPE, conn, recover,
                                    0, 0, nxm_connection_unref);
}
