"""test_runner_resume.py - end-to-end tests of scripts/nxm_runner.py with build/nxm.so and the local fake endpoint.

The kill-and-resume cycle is run at several kill points (early, middle, late, and while 8 workers hammer the
database with concurrent appends): the runner is SIGKILLed once K results are acknowledged, started again with
the same execution id, and must finish with
  * every acknowledged result present (and every result recorded before the kill left untouched),
  * no task requested from the endpoint again once its result was recorded,
  * final results equal to those of a run that was never killed (ignoring timings and simulated failures),
  * nxm_progress 'complete' and nxm_pending empty; a third start runs nothing.
Also: SIGTERM stops gracefully, tasks that keep failing are recorded as failed, a changed plan is refused.
Run with: /usr/bin/python3 -m pytest tests/test_runner_resume.py   (needs `make` first: build/nxm.so;
NXM_EXTENSION=path/to/nxm tests another build of the extension)
"""

import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXT = Path(os.environ.get("NXM_EXTENSION") or ROOT / "build" / "nxm")  # override: e.g. a sanitizer build
RUNNER = ROOT / "scripts" / "nxm_runner.py"
ENDPOINT = ROOT / "scripts" / "fake_ai_endpoint.py"
PY = "/usr/bin/python3"
EXEC_ID = "exec-test"
STABLE_FIELDS = ("task_id", "brand", "model", "question_index", "question", "status", "answer")

PLAN = {
    "brands": ["Acme", "品牌 A", "Café Nordlys", "Zephyr", "Rivet Tools", "Ωmega"],
    "models": ["gpt-4o-mini", "claude-3-5-haiku", "gemini-1.5-flash", "mistral-large"],
    "questions": ["What is {brand} known for?", "Who competes with {brand}?", "Main complaints about {brand}?"],
}
TOTAL = 6 * 4 * 3
# realistic but fast: some 429/5xx/timeouts, retried with short backoff
FAULTS = ["--rate-429", "0.05", "--rate-5xx", "0.05", "--rate-timeout", "0.02", "--hang-s", "3"]
RUNNER_FLAGS = ["--timeout", "0.5", "--retries", "3", "--backoff-base", "0.01", "--backoff-max", "0.05"]


@pytest.fixture(scope="session", autouse=True)
def extension_built():
    if not Path(str(EXT) + ".so").is_file():
        pytest.fail(f"{EXT}.so is missing: run `make` in {ROOT} before these tests", pytrace=False)
    if not os.access(PY, os.X_OK):
        pytest.fail(f"{PY} is missing: these tests need Debian's python3 (it can load SQLite extensions)",
                    pytrace=False)


class Endpoint:
    def __init__(self, tmp, *flags):
        port_file = tmp / "endpoint.port"
        self.log = open(tmp / "endpoint.log", "w")
        self.proc = subprocess.Popen([PY, str(ENDPOINT), "--port", "0", "--port-file", str(port_file),
                                      "--seed", "11", "--api-key", "test-key", "--max-seconds", "120", *flags],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not port_file.exists():
            assert self.proc.poll() is None, (tmp / "endpoint.log").read_text()
            assert time.monotonic() < deadline, "endpoint did not start"
            time.sleep(0.02)
        self.port = int(port_file.read_text())
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as r:
            return json.load(r)

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def endpoint_factory(tmp_path):
    made = []

    def make(*flags):
        ep = Endpoint(tmp_path, *flags)
        made.append(ep)
        return ep

    yield make
    for ep in made:
        ep.close()


def write_plan(tmp, plan=PLAN):
    p = tmp / "plan.json"
    p.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    return p


def runner_cmd(tmp, ep, label, workers=4, extra=()):
    return [PY, str(RUNNER), "--plan", str(tmp / "plan.json"), "--execution-id", EXEC_ID, "--db",
            str(tmp / "nxm.db"), "--extension", str(EXT), "--workers", str(workers), "--base-url", ep.base_url,
            "--api-key", "test-key", "--run-label", label, "--ack-log", str(tmp / f"acks-{label}.jsonl"),
            "--progress", "plain", "--progress-interval", "0.2", *RUNNER_FLAGS, *extra]


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NXM_AI_", "OPENAI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_to_end(tmp, ep, label, workers=4, extra=(), expect_rc=0):
    p = subprocess.run(runner_cmd(tmp, ep, label, workers, extra), capture_output=True, text=True,
                       timeout=60, env=clean_env())
    assert p.returncode == expect_rc, f"runner {label} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def acks(tmp, label):
    path = tmp / f"acks-{label}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["task_id"] for line in path.read_text(encoding="utf-8").splitlines() if line]


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def results(tmp):
    conn = sqlite3.connect(tmp / "nxm.db", timeout=10)
    try:
        rows = conn.execute("SELECT task_id, appended_at, result FROM nxm_results WHERE execution_id = ?",
                            (EXEC_ID,)).fetchall()
    finally:
        conn.close()
    return {t: {"appended_at": a, "result": r} for t, a, r in rows}


def ext_query(tmp, sql, *params):
    conn = sqlite3.connect(tmp / "nxm.db", timeout=10)
    try:
        conn.enable_load_extension(True)
        conn.load_extension(str(EXT))
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def stable(result_json):
    r = json.loads(result_json)
    return {k: r.get(k) for k in STABLE_FIELDS}


def assert_complete(tmp):
    rows = ext_query(tmp, "SELECT state, completed, total, pending FROM nxm_progress WHERE execution_id = ?",
                     EXEC_ID)
    assert rows == [("complete", TOTAL, TOTAL, 0)], rows
    assert ext_query(tmp, "SELECT task_id FROM nxm_pending(?)", EXEC_ID) == []


def assert_no_duplicate_requests(stats, recorded_before_restart, final):
    """No request may reach the endpoint for a task whose result was already recorded."""
    dups = []
    for task, info in stats["tasks"].items():
        assert task in final, f"the endpoint was asked for {task!r}, which is not a planned task with a result"
        first = recorded_before_restart.get(task, final[task])["appended_at"]
        for r in info["requests"]:
            if r["t"] > first + 0.005 or (task in recorded_before_restart and r["run"] != "run1"):
                dups.append((task, r))
    assert not dups, f"{len(dups)} request(s) for tasks already recorded: {dups[:5]}"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """Results of a run that is never killed (same plan, same endpoint seed and fault rates)."""
    tmp = tmp_path_factory.mktemp("baseline")
    write_plan(tmp)
    ep = Endpoint(tmp, "--latency-ms", "2-15", *FAULTS)
    try:
        run_to_end(tmp, ep, "base")
        stats = ep.stats()
    finally:
        ep.close()
    final = results(tmp)
    assert len(final) == TOTAL
    assert_complete(tmp)
    assert_no_duplicate_requests(stats, {}, final)
    return {t: stable(v["result"]) for t, v in final.items()}


def compare_with_baseline(final, baseline):
    assert set(final) == set(baseline)
    for task, row in final.items():
        got, want = stable(row["result"]), baseline[task]
        if got["status"] == "ok" and want["status"] == "ok":
            assert got == want, f"result of {task} differs from the unkilled run"
        else:  # a simulated failure in one run: everything but status/answer must still agree
            for k in ("task_id", "brand", "model", "question_index", "question"):
                assert got[k] == want[k], (task, k)


@pytest.mark.parametrize("name,kill_at,workers,latency", [
    ("early", 1, 4, "2-15"),
    ("middle", TOTAL // 2, 4, "2-15"),
    ("late", TOTAL - 5, 4, "2-15"),
    ("append-burst", TOTAL // 2 + 3, 8, "0-1"),
])
def test_sigkill_and_resume(tmp_path, endpoint_factory, baseline, name, kill_at, workers, latency):
    tmp = tmp_path
    write_plan(tmp)
    ep = endpoint_factory("--latency-ms", latency, *FAULTS)

    # run 1: SIGKILL as soon as kill_at results are acknowledged
    ack1 = tmp / "acks-run1.jsonl"
    out1 = open(tmp / "run1.out", "w")
    proc = subprocess.Popen(runner_cmd(tmp, ep, "run1", workers), stdout=out1, stderr=subprocess.STDOUT,
                            env=clean_env())
    deadline = time.monotonic() + 30
    while count_lines(ack1) < kill_at:
        assert proc.poll() is None, (f"run 1 ended (rc {proc.returncode}) before {kill_at} acks:\n"
                                     + (tmp / "run1.out").read_text())
        assert time.monotonic() < deadline, "run 1 too slow"
        time.sleep(0.0005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    out1.close()
    assert proc.returncode == -signal.SIGKILL

    acked1 = acks(tmp, "run1")
    after_kill = results(tmp)
    assert len(acked1) >= kill_at
    assert set(acked1) <= set(after_kill), f"acknowledged but lost: {set(acked1) - set(after_kill)}"
    assert len(after_kill) < TOTAL, "the kill came after the last result: nothing left to resume"
    rows = ext_query(tmp, "SELECT state, completed, total FROM nxm_progress WHERE execution_id = ?", EXEC_ID)
    assert rows == [("running", len(after_kill), TOTAL)], rows
    pending = [r[0] for r in ext_query(tmp, "SELECT task_id FROM nxm_pending(?)", EXEC_ID)]
    assert set(pending) == {t for t in baseline if t not in after_kill}

    # run 2: resumes and runs only the missing tasks
    out2 = run_to_end(tmp, ep, "run2", workers)
    assert f"resuming, {len(after_kill)}/{TOTAL} already recorded" in out2, out2
    final = results(tmp)
    stats = ep.stats()
    assert_no_duplicate_requests(stats, after_kill, final)
    acked2 = acks(tmp, "run2")
    assert set(acked1) | set(acked2) <= set(final)
    assert sorted(acked2) == sorted(set(final) - set(after_kill)), "run 2 must record exactly the missing tasks"
    for task, row in after_kill.items():
        assert final[task] == row, f"result of {task} recorded before the kill was rewritten"
    assert_complete(tmp)
    compare_with_baseline(final, baseline)

    asked2 = {t for t, info in stats["tasks"].items() if any(r["run"] == "run2" for r in info["requests"])}
    assert asked2 == set(final) - set(after_kill)

    # run 3: complete, nothing to run, no request
    before = stats["total_requests"]
    out3 = run_to_end(tmp, ep, "run3", workers)
    assert "is complete" in out3 and "nothing to run" in out3, out3
    assert ep.stats()["total_requests"] == before


def test_sigterm_stops_gracefully_then_resumes(tmp_path, endpoint_factory, baseline):
    tmp = tmp_path
    write_plan(tmp)
    ep = endpoint_factory("--latency-ms", "20-40", *FAULTS)
    proc = subprocess.Popen(runner_cmd(tmp, ep, "run1", 4), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=clean_env())
    deadline = time.monotonic() + 30
    while count_lines(tmp / "acks-run1.jsonl") < 10:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "SIGTERM" in out and "run again" in out, out
    after = results(tmp)
    assert set(acks(tmp, "run1")) == set(after), "graceful stop: every call in flight is recorded and acked"
    assert 10 <= len(after) < TOTAL
    run_to_end(tmp, ep, "run2")
    final = results(tmp)
    assert_complete(tmp)
    assert_no_duplicate_requests(ep.stats(), after, final)
    compare_with_baseline(final, baseline)


def test_failing_tasks_are_recorded_as_failed(tmp_path, endpoint_factory):
    tmp = tmp_path
    write_plan(tmp)
    ep = endpoint_factory("--latency-ms", "0-2", "--rate-5xx", "0.5")
    out = run_to_end(tmp, ep, "run1", extra=["--retries", "0"])
    final = results(tmp)
    assert len(final) == TOTAL
    parsed = {t: json.loads(v["result"]) for t, v in final.items()}
    failed = [r for r in parsed.values() if r["status"] == "failed"]
    assert 0 < len(failed) < TOTAL, "with 50% 5xx and no retry, some tasks fail and some succeed"
    assert all(r["error"].startswith("HTTP 5") and r["attempts"] == 1 for r in failed)
    assert f"{len(failed)} failed" in out, out
    assert_complete(tmp)
    stats = ep.stats()
    assert stats["total_requests"] == TOTAL and all(i["count"] == 1 for i in stats["tasks"].values())
    out2 = run_to_end(tmp, ep, "run2")
    assert "nothing to run" in out2 and ep.stats()["total_requests"] == TOTAL


def test_env_configuration_and_changed_plan(tmp_path, endpoint_factory):
    tmp = tmp_path
    small = {"brands": ["Acme", "品牌 A"], "models": ["m1"], "questions": ["Q about {brand}?"]}
    write_plan(tmp, small)
    ep = endpoint_factory("--latency-ms", "0-2")
    env = clean_env()
    env["OPENAI_BASE_URL"] = ep.base_url
    env["OPENAI_API_KEY"] = "test-key"
    cmd = [PY, str(RUNNER), "--plan", str(tmp / "plan.json"), "-e", EXEC_ID, "--db", str(tmp / "nxm.db"),
           "--extension", str(EXT), "--progress", "plain"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    answers = {t: json.loads(v["result"]) for t, v in results(tmp).items()}
    assert set(answers) == {"Acme|m1|q0", "品牌 A|m1|q0"}
    assert "品牌 A" in answers["品牌 A|m1|q0"]["answer"] and answers["Acme|m1|q0"]["question"] == "Q about Acme?"
    # the same execution id with a different plan is refused before any call
    small["brands"].append("New brand")
    write_plan(tmp, small)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 2 and "nxm_wal_begin refused" in p.stderr, p.stdout + p.stderr
    assert ep.stats()["total_requests"] == 2
    # a wrong key (sent as the Bearer token, refused with 401) stops the run and records nothing
    env["OPENAI_API_KEY"] = "wrong-key"
    p = subprocess.run(cmd[:5] + ["other-exec"] + cmd[6:], capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 1 and "HTTP 401" in p.stderr, p.stdout + p.stderr
    rows = ext_query(tmp, "SELECT completed, total FROM nxm_progress WHERE execution_id = 'other-exec'")
    assert rows == [(0, 3)], rows
