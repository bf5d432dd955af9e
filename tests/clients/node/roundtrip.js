// roundtrip.js: the nxm round trip through better-sqlite3 (npm, version 12) on Node 20 or newer.
//
// Usage: node tests/clients/node/roundtrip.js EXTENSION DATABASE
//   EXTENSION  the shared object without its suffix, e.g. build/nxm
//   DATABASE   a database file to create
// Needs `npm ci` in tests/clients/node first (`make clients-deps` does it).
//
// Prints the same "key<TAB>value" lines as the other clients; tests/test_clients.py compares them.
// better-sqlite3 binds every JavaScript number as a REAL; nxm takes a whole-valued REAL as a count, so
// counts are passed as plain numbers (a BigInt, which binds as an INTEGER, works too).
'use strict';

const Database = require('better-sqlite3');

const RESULTS = [
  ['t1', '{"n":1,"answer":"Café"}', 4],
  ['t2', '{"n":2,"answer":"品牌 A"}', 4],
  ['t3', '{"n":3,"answer":null}', null],
  ['t2', '{"n":22,"answer":"Ωmega"}', null], // same task again: replaces, not counted twice
];
const BRAND = 'Café Nordlys';
const MODEL = 'gpt-4o-mini';

function show(key, value) {
  console.log(`${key}\t${value === null || value === undefined ? 'NULL' : value}`);
}

function main(extension, database) {
  const db = new Database(database, { timeout: 10000 }); // autocommit outside db.transaction()
  db.loadExtension(extension);
  const one = (sql, ...params) => db.prepare(sql).pluck().get(...params);

  show('sqlite', one('SELECT sqlite_version()'));
  show('version', one('SELECT nxm_version()'));
  const append = db.prepare('SELECT nxm_wal_append(?, ?, NULL, ?, ?, ?, ?)').pluck();
  for (const [taskId, result, total] of RESULTS) {
    show('append', append.get('exec-1', result, total, BRAND, MODEL, taskId));
  }
  show('journal_mode', db.pragma('journal_mode', { simple: true }));
  show('recover', one('SELECT nxm_recover(?)', 'exec-1'));

  const row = db.prepare('SELECT state, completed, total, percent, pending, brand, model ' +
                         'FROM nxm_progress WHERE execution_id = ?').get('exec-1');
  for (const [name, value] of Object.entries(row)) {
    show(`progress.${name}`, value);
  }

  try {
    append.get('exec-1', '{"n":', null, BRAND, MODEL, 't4');
  } catch (error) {
    show('error', error.message);
    show('error_code', error.code);
  }

  show('append', append.get('exec-1', '{"n":4,"answer":[1,2]}', null, BRAND, MODEL, 't4'));
  show('final.state', one("SELECT state FROM nxm_progress WHERE execution_id = 'exec-1'"));
  show('final.recover', one("SELECT nxm_recover('exec-1')"));

  show('append', one('SELECT nxm_wal_append(?, ?, ?, ?)', 'exec-2', '{"n":1}', 1, 2));
  db.prepare("UPDATE nxm_executions SET updated_at = updated_at - 7200 WHERE execution_id = 'exec-1'").run();
  show('cleanup', one('SELECT nxm_cleanup(?)', 1));
  show('remaining', one('SELECT group_concat(execution_id) FROM nxm_progress'));
  show('results_left', one('SELECT count(*) FROM nxm_results'));
  show('cleanup', one('SELECT nxm_cleanup()'));
  db.close();
}

if (process.argv.length !== 4) {
  console.error('usage: node roundtrip.js EXTENSION DATABASE');
  process.exit(2);
}
main(process.argv[2], process.argv[3]);
