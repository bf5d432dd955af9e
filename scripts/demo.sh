#!/usr/bin/env bash
# demo.sh - what `make demo` runs (make builds build/nxm.so first; this script builds nothing).
# Starts the local fake AI endpoint, runs the small plan with scripts/nxm_runner.py, kills the runner with
# SIGKILL part-way, restarts it with the same execution id, lets it finish, then prints a summary (done before
# the kill, run after it, in flight at the kill and run again, requests served, duplicates, lost results) and
# the nxm_progress table. Exits non-zero if there is any duplicate or lost result, or the run is incomplete.
# Knobs (environment): NXM_DEMO_KILL_AT (results recorded before the SIGKILL, default 45 of 120),
# NXM_DEMO_WORKERS (default 4), NXM_DEMO_DIR (work directory, default build/demo), NXM_DEMO_SEED (default 7),
# NXM_EXTENSION (extension to load, default build/nxm).
set -euo pipefail

cd "$(dirname "$0")/.."
PY=/usr/bin/python3
EXT=${NXM_EXTENSION:-build/nxm}
PLAN=scripts/plans/small.json
DIR=${NXM_DEMO_DIR:-build/demo}
DB=$DIR/demo.db
EXEC_ID=demo
KILL_AT=${NXM_DEMO_KILL_AT:-45}
WORKERS=${NXM_DEMO_WORKERS:-4}
SEED=${NXM_DEMO_SEED:-7}

die() { echo "demo: $*" >&2; exit 1; }
[ -x "$PY" ] || die "$PY is missing (apt-get install python3)"
[ -f "$EXT.so" ] || die "$EXT.so is missing: run 'make' first (make demo builds it)"
command -v sqlite3 >/dev/null || die "the sqlite3 shell is missing (apt-get install sqlite3)"
"$PY" -c 'import tqdm' 2>/dev/null || echo "demo: note: python3-tqdm is not installed; progress will be plain lines"

rm -rf "$DIR"
mkdir -p "$DIR"

EP_PID=""
RUN_PID=""
cleanup() {
  if [ -n "$RUN_PID" ]; then kill -KILL "$RUN_PID" 2>/dev/null || true; fi
  if [ -n "$EP_PID" ]; then
    kill -TERM "$EP_PID" 2>/dev/null || true
    wait "$EP_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

count_recorded() {
  sqlite3 -cmd '.timeout 5000' "$DB" \
    "SELECT count(*) FROM nxm_results WHERE execution_id = '$EXEC_ID'" 2>/dev/null || echo 0
}

echo "== starting the local AI endpoint (latency 30-200 ms, 5% 429, 3% 5xx, 1% timeouts)"
"$PY" scripts/fake_ai_endpoint.py --port 0 --port-file "$DIR/port" --seed "$SEED" \
  --latency-ms 30-200 --rate-429 0.05 --rate-5xx 0.03 --rate-timeout 0.01 --hang-s 6 \
  --api-key demo-key --max-seconds 600 >"$DIR/endpoint.log" 2>&1 &
EP_PID=$!
for _ in $(seq 100); do [ -s "$DIR/port" ] && break; sleep 0.05; done
[ -s "$DIR/port" ] || die "the endpoint did not start: $(cat "$DIR/endpoint.log")"
PORT=$(cat "$DIR/port")
export NXM_AI_BASE_URL="http://127.0.0.1:$PORT/v1" NXM_AI_API_KEY=demo-key
echo "   endpoint: $NXM_AI_BASE_URL"

RUNNER=("$PY" scripts/nxm_runner.py --plan "$PLAN" --execution-id "$EXEC_ID" --db "$DB" --extension "$EXT"
        --workers "$WORKERS" --timeout 2 --retries 4 --backoff-base 0.2 --backoff-max 2)

echo "== run 1: will be killed with SIGKILL once $KILL_AT results are recorded"
"${RUNNER[@]}" --run-label before-kill --ack-log "$DIR/acks-run1.jsonl" --progress plain \
  --progress-interval 1 > >(sed -u 's/^/   [run 1] /') 2>&1 &
RUN_PID=$!
deadline=$((SECONDS + 120))
while :; do
  n=$(count_recorded)
  [ "${n:-0}" -ge "$KILL_AT" ] && break
  kill -0 "$RUN_PID" 2>/dev/null || die "run 1 ended before $KILL_AT results were recorded"
  [ $SECONDS -lt $deadline ] || die "run 1 recorded only $n results in 120 s"
  sleep 0.05
done
kill -KILL "$RUN_PID"
wait "$RUN_PID" 2>/dev/null || true
RUN_PID=""
sleep 0.2
echo "   SIGKILL sent with $n results recorded"

# What the database holds right after the crash (plain SQL: no extension needed to read it).
"$PY" - "$DB" "$EXEC_ID" "$DIR/after-kill.json" <<'EOF'
import json, sqlite3, sys
db, exec_id, out = sys.argv[1:]
conn = sqlite3.connect(db, timeout=10)
rows = conn.execute("SELECT task_id, appended_at, result FROM nxm_results WHERE execution_id = ?", (exec_id,))
json.dump({t: {"appended_at": a, "result": r} for t, a, r in rows}, open(out, "w"), ensure_ascii=False)
EOF

echo "== run 2: same execution id, resumes"
"${RUNNER[@]}" --run-label after-restart --ack-log "$DIR/acks-run2.jsonl" --progress auto --progress-interval 1
echo "== run 3: same execution id again (must run nothing)"
"${RUNNER[@]}" --run-label after-complete --progress plain | sed -u 's/^/   [run 3] /'

"$PY" - "$DIR/stats.json" "$PORT" <<'EOF'
import sys, urllib.request
out, port = sys.argv[1:]
with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
    open(out, "wb").write(r.read())
EOF

echo
echo "== summary"
set +e
"$PY" - "$DB" "$EXEC_ID" "$PLAN" "$DIR" <<'EOF'
import json, sqlite3, sys
db, exec_id, plan_path, d = sys.argv[1:]
plan = json.load(open(plan_path, encoding="utf-8"))
planned = {f"{b}|{m}|q{i}" for b in plan["brands"] for m in plan["models"] for i in range(len(plan["questions"]))}
after_kill = json.load(open(f"{d}/after-kill.json", encoding="utf-8"))
stats = json.load(open(f"{d}/stats.json", encoding="utf-8"))
def acks(name):
    try:
        return [json.loads(l)["task_id"] for l in open(f"{d}/{name}", encoding="utf-8") if l.strip()]
    except FileNotFoundError:
        return []
acked1, acked2 = acks("acks-run1.jsonl"), acks("acks-run2.jsonl")
conn = sqlite3.connect(db, timeout=10)
final = {t: {"appended_at": a, "result": r} for t, a, r in
         conn.execute("SELECT task_id, appended_at, result FROM nxm_results WHERE execution_id = ?", (exec_id,))}
completed, total = conn.execute("SELECT completed, total FROM nxm_executions WHERE execution_id = ?",
                                (exec_id,)).fetchone()
tasks = stats["tasks"]
def runs(t):
    return {r["run"] for r in tasks.get(t, {}).get("requests", [])}

# a request is a duplicate when its task's result was already recorded when it arrived
dups = []
for t, info in tasks.items():
    first_recorded = after_kill.get(t, final.get(t, {})).get("appended_at")
    for r in info["requests"]:
        late = first_recorded is not None and r["t"] > first_recorded + 0.005
        if late or (t in after_kill and r["run"] != "before-kill"):
            dups.append((t, r["run"], r["t"]))
rewritten = [t for t in after_kill if t in final and final[t]["result"] != after_kill[t]["result"]]
seen_recorded = set(after_kill) | set(acked1) | set(acked2)
lost = sorted(seen_recorded - set(final))
missing = sorted(planned - set(final))
run_after = set(final) - set(after_kill)
in_flight = {t for t in run_after if "before-kill" in runs(t) and "after-restart" in runs(t)}
unacked_run1 = set(after_kill) - set(acked1)
by_run = {}
for info in tasks.values():
    for r in info["requests"]:
        by_run[r["run"]] = by_run.get(r["run"], 0) + 1
failed = sum(1 for v in final.values() if json.loads(v["result"]).get("status") == "failed")
outcomes = ", ".join(f"{k} {v}" for k, v in sorted(stats["outcomes"].items()))

print(f"  tasks planned                          {len(planned)}")
print(f"  tasks done before the kill             {len(after_kill)}  ({len(acked1)} acknowledged to run 1"
      f"{'' if not unacked_run1 else f', {len(unacked_run1)} committed just before the kill'})")
print(f"  tasks run after the restart            {len(run_after)}")
print(f"  in flight at the kill and run again    {len(in_flight)}")
print(f"  requests the endpoint served           {stats['total_requests']}  (run 1: {by_run.get('before-kill', 0)},"
      f" run 2: {by_run.get('after-restart', 0)}, run 3: {by_run.get('after-complete', 0)}; {outcomes})")
print(f"  results recorded as failed             {failed}  (still failing after retries; recorded, not dropped)")
print(f"  duplicates                             {len(dups)}  (requests for a task whose result was already recorded)")
print(f"  lost results                           {len(lost)}")
print(f"  results rewritten after the restart    {len(rewritten)}")
print(f"  nxm_executions: completed {completed} / total {total}, tasks with no result {len(missing)}")
bad = False
for label, items in (("duplicate", dups[:10]), ("lost", lost[:10]), ("rewritten", rewritten[:10]),
                     ("missing", missing[:10])):
    for it in items:
        print(f"  ! {label}: {it}")
        bad = True
sys.exit(1 if bad or completed != total else 0)
EOF
status=$?
set -e
echo
echo "== sqlite3 -box $DB '.load $EXT' 'select * from nxm_progress'"
sqlite3 -box "$DB" ".load $EXT" 'select * from nxm_progress'
if [ $status -ne 0 ]; then
  echo "demo: FAILED (duplicates, lost or missing results above)" >&2
  exit 1
fi
echo "demo: OK - killed with SIGKILL, resumed, 0 duplicates, 0 lost results"
