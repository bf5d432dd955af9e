/*
** schema.c: creates nxm's tables on the first write and refuses databases whose nxm_ objects are
** not the ones sql/schema.sql creates.
**
** The expected objects are not written down twice: they are read back from a private in-memory
** database on which the embedded schema.sql was run, and compared with the main database's
** sqlite_schema rows (type, name, table, SQL text) for every object that bears one of those names
** (or the names of the two virtual tables), or belongs to one of those tables. A missing column, an
** extra trigger or index, or a view planted under one of the names is a mismatch; a table of the
** application's own that merely starts with nxm_ is not looked at. The check runs again only when
** the database's schema cookie changes.
**
** Two more states are accepted. A database exactly as version 1 made it (nxm 0.1.0,
** sql/history/schema_v1.sql) is used as it is; sql/upgrade_v1_to_v2.sql upgrades it in one
** transaction, which nxm does not attempt inside the caller's statement. And a creation that
** stopped part-way (some of the objects, no rows) is completed by the next write.
*/
#include <string.h>

#include "nxm.h"
#include "version.h"
#include "schema_sql.h"    /* generated from sql/schema.sql: static const char nxm_schema_sql[] */
#include "schema_v1_sql.h" /* from sql/history/schema_v1.sql: nxm_schema_v1_sql[] */

#define NXM_STRINGIFY_(x) #x
#define NXM_STRINGIFY(x) NXM_STRINGIFY_(x)

/* ?1 is a JSON array of the reserved names, in lower case (SQLite's names ignore case). */
#define CATALOG_SELECT                                                                             \
  "SELECT type, name, tbl_name, coalesce(sql, '') FROM main.sqlite_schema "                        \
  "WHERE lower(name) IN (SELECT value FROM json_each(?1)) "                                        \
  "OR lower(tbl_name) IN (SELECT value FROM json_each(?1)) ORDER BY type, name"

#define RESERVED_NAMES_SELECT                                                                      \
  "SELECT json_group_array(lower(name)) FROM (SELECT name FROM main.sqlite_schema "                \
  "UNION ALL VALUES ('nxm_progress'), ('nxm_pending'))"

/* Reads the objects of `db` that bear or belong to a reserved name as one string; *out is 0 when
** there are none. */
static int read_catalog(sqlite3 *db, const char *reserved_names, char **out) {
  *out = 0;
  sqlite3_stmt *stmt = 0;
  int rc = sqlite3_prepare_v2(db, CATALOG_SELECT, -1, &stmt, 0);
  if (rc != SQLITE_OK) {
    return rc;
  }
  sqlite3_bind_text(stmt, 1, reserved_names, -1, SQLITE_STATIC);
  /* Not bound by the connection's SQLITE_LIMIT_LENGTH, which caps values, not this bookkeeping. */
  sqlite3_str *catalog = sqlite3_str_new(0);
  int rows = 0;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int column = 0; column < 4; column++) {
      sqlite3_str_appendf(catalog, "%s\x1f", (const char *)sqlite3_column_text(stmt, column));
    }
    sqlite3_str_appendchar(catalog, 1, '\x1e'); /* one record per object; SQL text has newlines */
    rows++;
  }
  sqlite3_finalize(stmt);
  char *text = sqlite3_str_finish(catalog);
  if (rc != SQLITE_DONE) {
    sqlite3_free(text);
    return rc;
  }
  if (text == 0 && rows > 0) {
    return SQLITE_NOMEM;
  }
  if (rows == 0) {
    sqlite3_free(text);
    text = 0;
  }
  *out = text;
  return SQLITE_OK;
}

/* The reserved names of a database on which schema.sql was run, as a JSON array. */
static int reserved_names(sqlite3 *scratch, char **out) {
  sqlite3_stmt *stmt = 0;
  int rc = sqlite3_prepare_v2(scratch, RESERVED_NAMES_SELECT, -1, &stmt, 0);
  if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    *out = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(stmt, 0));
    rc = *out ? SQLITE_OK : SQLITE_NOMEM;
  }
  sqlite3_finalize(stmt);
  return rc;
}

/* The catalog a database gets from running `schema_sql`, read from a private in-memory one. The
** first call also fills conn->reserved_names. */
static int catalog_of(NxmConnection *conn, const char *schema_sql, char **out) {
  sqlite3 *scratch = 0;
  int rc = sqlite3_open_v2(":memory:", &scratch, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0);
  if (rc == SQLITE_OK) {
    rc = sqlite3_exec(scratch, schema_sql, 0, 0, 0);
  }
  if (rc == SQLITE_OK && conn->reserved_names == 0) {
    rc = reserved_names(scratch, &conn->reserved_names);
  }
  if (rc == SQLITE_OK) {
    rc = read_catalog(scratch, conn->reserved_names, out);
  }
  sqlite3_close(scratch);
  if (rc != SQLITE_OK) {
    return rc == SQLITE_NOMEM ? SQLITE_NOMEM : SQLITE_INTERNAL;
  }
  return SQLITE_OK;
}

static int schema_cookie(NxmConnection *conn, int *cookie) {
  sqlite3_stmt *stmt = 0;
  int rc = nxm_statement(conn, NXM_SQL_SCHEMA_COOKIE, &stmt);
  if (rc != SQLITE_OK) {
    return rc;
  }
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    *cookie = sqlite3_column_int(stmt, 0);
    rc = SQLITE_OK;
  } else {
    rc = sqlite3_reset(stmt);
    rc = rc == SQLITE_OK ? SQLITE_INTERNAL : rc;
  }
  nxm_statement_done(conn, stmt);
  return rc;
}

/*
** Reads the first column of the first row of `sql`, a query of one of nxm's tables, into *number:
** 0 when there is no row or no such table (a missing table is a schema that differs, reported as
** such by the caller); any other failure is an error.
*/
static int read_number(sqlite3 *db, const char *sql, sqlite3_int64 *number) {
  sqlite3_stmt *stmt = 0;
  *number = 0;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, 0);
  if (rc != SQLITE_OK) {
    return sqlite3_errcode(db) == SQLITE_ERROR ? SQLITE_OK : rc;
  }
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    *number = sqlite3_column_int64(stmt, 0);
  }
  rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? SQLITE_OK : sqlite3_reset(stmt);
  sqlite3_finalize(stmt);
  return rc;
}

#define SCHEMA_VERSION_SELECT "SELECT value FROM main.nxm_meta WHERE key = 'schema_version'"

/* 1 when both catalogs are there and equal. */
static int same_catalog(const char *actual, const char *expected) {
  return actual != 0 && expected != 0 && strcmp(actual, expected) == 0;
}

/* 1 when every object (record) of the catalog `actual` is also one of `expected`. */
static int objects_within(const char *actual, const char *expected) {
  if (actual == 0 || expected == 0) {
    return 0;
  }
  for (const char *object = actual; *object != 0;) {
    size_t length = strcspn(object, "\x1e") + 1;
    int found = 0;
    for (const char *other = expected; *other != 0 && !found;) {
      size_t other_length = strcspn(other, "\x1e") + 1;
      found = other_length == length && memcmp(object, other, length) == 0;
      other += other_length;
    }
    if (!found) {
      return 0;
    }
    object += length;
  }
  return 1;
}

/*
** Whether `actual` is what a creation that stopped part-way leaves: some of schema.sql's objects,
** each exactly as schema.sql makes it, no other version, and no row yet. The first write of a
** connection creates the schema inside the caller's statement, and an interrupt or a failed
** allocation there can leave it half done in a transaction that the caller may then commit (see
** rollback.c). Such a database is treated as new: reads find nothing, the next write creates the
** rest. With rows in it, the same objects are a schema someone altered, and refused.
*/
static int unfinished_creation(NxmConnection *conn, const char *actual, sqlite3_int64 version,
                               int *unfinished) {
  *unfinished = 0;
  if (!(version == 0 || version == NXM_SCHEMA_VERSION) ||
      !objects_within(actual, conn->expected_catalog)) {
    return SQLITE_OK;
  }
  static const char *const any_row[] = {
      "SELECT 1 FROM main.nxm_executions LIMIT 1",
      "SELECT 1 FROM main.nxm_results LIMIT 1",
      "SELECT 1 FROM main.nxm_tasks LIMIT 1",
      /* the rows schema.sql inserts, with its values, and no other */
      "SELECT 1 FROM main.nxm_meta WHERE NOT ((key = 'schema_version' AND value IS " NXM_STRINGIFY(
          NXM_SCHEMA_VERSION) ") OR (key = 'ttl_hours' AND value IS 24.0)) LIMIT 1",
  };
  int rc = SQLITE_OK;
  sqlite3_int64 rows = 0;
  for (size_t i = 0; i < sizeof(any_row) / sizeof(any_row[0]) && rc == SQLITE_OK && !rows; i++) {
    rc = read_number(conn->db, any_row[i], &rows);
  }
  *unfinished = rc == SQLITE_OK && !rows;
  return rc;
}

/*
** Runs schema.sql inside the savepoint nxm_schema. With `force_rollback`, a new one is prepared
** before the savepoint is released: creating tables expires the old one, and if an interrupt or a
** failed allocation stops this before the new one is ready, the transaction is stranded with the
** savepoint still open, which is how rollback.c recognises it later (see there).
*/
static int create_schema(NxmConnection *conn, sqlite3_stmt **force_rollback) {
  int rc = nxm_run(conn, NXM_SQL_SAVEPOINT_SCHEMA);
  if (rc == SQLITE_OK) {
    rc = sqlite3_exec(conn->db, nxm_schema_sql, 0, 0, 0);
  }
  if (rc == SQLITE_OK && force_rollback != 0) {
    rc = nxm_force_rollback_prepare(conn, force_rollback);
  }
  if (rc == SQLITE_OK) {
    rc = nxm_run(conn, NXM_SQL_RELEASE_SCHEMA);
  }
  return rc;
}

/*
** Makes sure the nxm tables are usable. With `create`, a database without them, or with a creation
** left unfinished, gets them (the caller holds the write lock; see create_schema for
** `force_rollback`, which may be 0). A version 1 database (nxm 0.1.0,
** exactly as sql/history/schema_v1.sql makes it) is used as it is: sql/upgrade_v1_to_v2.sql
** upgrades it. *present says whether the tables exist now. On a refusal, *message explains it
** (sqlite3_free it) and the result is SQLITE_ERROR.
*/
int nxm_schema_ensure(NxmConnection *conn, int create, sqlite3_stmt **force_rollback, int *present,
                      char **message) {
  *present = 0;
  *message = 0;
  int cookie = 0;
  int rc = schema_cookie(conn, &cookie);
  if (rc != SQLITE_OK) {
    return rc;
  }
  if (cookie == conn->schema_cookie && (conn->schema_present || !create)) {
    *present = conn->schema_present;
    return SQLITE_OK;
  }

  char *actual = 0;
  sqlite3_int64 version = 0;
  int usable = 0, unfinished = 0;
  if (conn->expected_catalog == 0) {
    rc = catalog_of(conn, nxm_schema_sql, &conn->expected_catalog);
  }
  if (rc == SQLITE_OK) {
    rc = read_catalog(conn->db, conn->reserved_names, &actual);
  }
  if (rc == SQLITE_OK && actual != 0) {
    rc = read_number(conn->db, SCHEMA_VERSION_SELECT, &version);
  }
  if (rc == SQLITE_OK && actual != 0 && version == 1) {
    if (conn->v1_catalog == 0) {
      rc = catalog_of(conn, nxm_schema_v1_sql, &conn->v1_catalog);
    }
    usable = rc == SQLITE_OK && same_catalog(actual, conn->v1_catalog);
  } else if (rc == SQLITE_OK && actual != 0) {
    usable = version == NXM_SCHEMA_VERSION && same_catalog(actual, conn->expected_catalog);
    if (!usable) {
      rc = unfinished_creation(conn, actual, version, &unfinished);
    }
  }
  if (rc == SQLITE_OK && create && (actual == 0 || unfinished)) {
    rc = create_schema(conn, force_rollback);
    sqlite3_free(actual);
    actual = 0;
    if (rc == SQLITE_OK) {
      rc = read_catalog(conn->db, conn->reserved_names, &actual);
    }
    if (rc == SQLITE_OK && actual != 0) {
      rc = read_number(conn->db, SCHEMA_VERSION_SELECT, &version);
    }
    usable = rc == SQLITE_OK && version == NXM_SCHEMA_VERSION &&
             same_catalog(actual, conn->expected_catalog);
    unfinished = 0;
    if (rc == SQLITE_OK) {
      rc = schema_cookie(conn, &cookie); /* creating changed it */
    }
  }
  if (rc != SQLITE_OK) {
    sqlite3_free(actual);
    return rc;
  }

  if (actual != 0 && !usable && !unfinished) {
    if (version > NXM_SCHEMA_VERSION) {
      *message = sqlite3_mprintf("this database has nxm schema version %lld; nxm " NXM_VERSION
                                 " understands versions up to %d, refusing to write to it",
                                 version, NXM_SCHEMA_VERSION);
    } else {
      *message = sqlite3_mprintf(
          "the nxm_ tables, indexes or triggers in this database differ from nxm's schema "
          "(altered or planted by someone else); refusing to use them");
    }
    sqlite3_free(actual);
    conn->schema_cookie = -1;
    return *message != 0 ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  sqlite3_free(actual);
  *present = usable;
  conn->schema_cookie = cookie;
  conn->schema_present = *present;
  return SQLITE_OK;
}
