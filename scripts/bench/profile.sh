#!/bin/sh
# profile.sh: where the instructions of nxm's hot paths go, next to the floor's (`make
# bench-profile`).
#
# Each loop of bench_hot runs under callgrind with only the loop itself collected
# (--toggle-collect); the output is instructions per iteration and the functions with the largest
# inclusive share. Instruction counts do not depend on the load of a shared machine, unlike times.
set -eu
BIN=${BIN:-build/bench}
EXT=${EXT:-build/nxm.so}
DIR=$(mktemp -d /var/tmp/nxm-profile-XXXXXX)
trap 'rm -rf "$DIR"' EXIT

profile() {
  loop=$1
  iterations=$2
  valgrind --tool=callgrind --callgrind-out-file="$DIR/callgrind.out" --toggle-collect='hot_*' \
    "$BIN/bench_hot" "$DIR" "$EXT" "$loop" "$iterations" 2>"$DIR/valgrind.log"
  total=$(sed -n 's/.*Collected : *//p' "$DIR/valgrind.log" | tr -d ,)
  echo "== $loop: $((total / iterations)) instructions per iteration ($iterations iterations)"
  callgrind_annotate --inclusive=yes "$DIR/callgrind.out" 2>/dev/null |
    grep -E '^ *[0-9,]+ +\( *[0-9.]+%\)' |
    grep -vE 'PROGRAM TOTALS|below main|libc_start|libc-start|0x0000' |
    grep -vE 'hot_|bench_hot.c:|bench_util.c:bench_run|writer.c:' |
    sed -e 's/ \[[^]]*\]$//' -e 's/[^ ]*\/\([^/ ]*:\)/\1/' | head -"${TOP:-22}"
  echo
}

profile append-batch:200 3000
profile floor-batch:200 3000
profile append-batch:20480 1000
profile floor-batch:20480 1000
profile append-autocommit:2048 1000
profile floor-autocommit:2048 1000
profile cleanup 2000
profile lookup 5000
