# tcl_roundtrip.tcl: the nxm round trip through Tcl's sqlite3 package (Debian's libsqlite3-tcl).
#
# Usage: tclsh tests/clients/tcl_roundtrip.tcl EXTENSION DATABASE
#   EXTENSION  the shared object without its suffix, e.g. build/nxm
#   DATABASE   a database file to create
#
# Prints the same "key<TAB>value" lines as the other clients; tests/test_clients.py compares them.
# A Tcl variable holding "4" binds as TEXT unless Tcl already sees it as a number, and nxm refuses text
# for a count, so counts are made with expr (or come from incr, llength and other arithmetic).
package require sqlite3

if {$argc != 2} {
    puts stderr "usage: tclsh tcl_roundtrip.tcl EXTENSION DATABASE"
    exit 2
}
lassign $argv extension database

proc show {key value} {
    puts "$key\t$value"
}

sqlite3 db $database
db timeout 10000
db nullvalue NULL
db enable_load_extension 1
db eval {SELECT load_extension($extension)}
db enable_load_extension 0

set brand "Café Nordlys"
set model "gpt-4o-mini"
set four [expr {4}]
set results [list \
    t1 {{"n":1,"answer":"Café"}} $four \
    t2 {{"n":2,"answer":"品牌 A"}} $four \
    t3 {{"n":3,"answer":null}} {} \
    t2 {{"n":22,"answer":"Ωmega"}} {}]

show sqlite [db onecolumn {SELECT sqlite_version()}]
show version [db onecolumn {SELECT nxm_version()}]
foreach {task_id result total} $results {
    # An empty total stands for "not given": NULLIF turns it into NULL.
    show append [db onecolumn {
        SELECT nxm_wal_append('exec-1', $result, NULL, NULLIF($total, ''), $brand, $model, $task_id)
    }]
}
show journal_mode [db onecolumn {PRAGMA journal_mode}]
show recover [db onecolumn {SELECT nxm_recover('exec-1')}]

db eval {
    SELECT state, completed, total, percent, pending, brand, model
      FROM nxm_progress WHERE execution_id = 'exec-1'
} row {
    foreach name $row(*) {
        show progress.$name $row($name)
    }
}

set broken "\{\"n\":"
if {[catch {db eval {SELECT nxm_wal_append('exec-1', $broken, NULL, NULL, $brand, $model, 't4')}} message]} {
    show error $message
    show error_code [db errorcode]
}

set result {{"n":4,"answer":[1,2]}}
show append [db onecolumn {SELECT nxm_wal_append('exec-1', $result, NULL, NULL, $brand, $model, 't4')}]
show final.state [db onecolumn {SELECT state FROM nxm_progress WHERE execution_id = 'exec-1'}]
show final.recover [db onecolumn {SELECT nxm_recover('exec-1')}]

show append [db onecolumn {SELECT nxm_wal_append('exec-2', '{"n":1}', 1, 2)}]
db eval {UPDATE nxm_executions SET updated_at = updated_at - 7200 WHERE execution_id = 'exec-1'}
show cleanup [db onecolumn {SELECT nxm_cleanup(1)}]
show remaining [db onecolumn {SELECT group_concat(execution_id) FROM nxm_progress}]
show results_left [db onecolumn {SELECT count(*) FROM nxm_results}]
show cleanup [db onecolumn {SELECT nxm_cleanup()}]
db close
