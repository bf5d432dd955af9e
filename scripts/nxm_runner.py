#!/usr/bin/python3
"""nxm_runner.py - reference integration of the nxm SQLite extension: a brand x model x question runner.

What a backend engineer copies from here:
  * loading the extension into Python's sqlite3 (/usr/bin/python3: Debian's build allows load_extension);
  * recording the plan once with nxm_wal_begin(execution_id, tasks_json), with stable task ids;
  * resuming after any crash: nxm_progress for the summary, SELECT task_id FROM nxm_pending(?) for the work
    (nxm_recover would return every stored result, which a resume does not need);
  * one SQLite connection per worker thread (busy_timeout, autocommit), appending each result as soon as its
    AI call returns: SELECT nxm_wal_append(exec_id, result_json, NULL, NULL, brand, model, task_id);
  * calling an OpenAI-compatible chat-completions endpoint with urllib: timeout, bounded retries with
    exponential backoff + jitter on timeouts / 429 / 5xx, failed tasks recorded as failed results (never dropped);
  * progress read from the nxm_progress virtual table: a tqdm bar on a terminal, plain lines otherwise;
  * SIGTERM/SIGINT: stop taking tasks, let calls in flight finish and be recorded, exit (a 2nd signal exits now).

Plan file: {"brands": [...], "models": [...], "questions": [...]}; tasks are the product, in that order, with
task_id "<brand>|<model>|q<question index>" (so brands and models may not contain "|"). A question may use
"{brand}", replaced by the brand name.

Endpoint: --base-url / NXM_AI_BASE_URL / OPENAI_BASE_URL (OpenAI convention: ends in /v1; requests go to
<base>/chat/completions) and --api-key / NXM_AI_API_KEY / OPENAI_API_KEY (sent as "Authorization: Bearer").
Each request also carries X-Nxm-Task (the task id, percent-encoded) and X-Nxm-Run (--run-label); providers
ignore them, the local fake endpoint counts requests by them.

Exit status: 0 execution complete; 1 runtime error; 2 bad usage/plan/execution; 130/143 stopped by SIGINT/SIGTERM.
"""

import argparse
import json
import os
import queue
import random
import signal
import socket
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXTENSION = str(REPO_ROOT / "build" / "nxm")
SYSTEM_PROMPT = ("You are a market research analyst. Answer the question about the brand in a few short "
                 "paragraphs, factually and without marketing language.")


class UsageError(Exception):
    """Bad flags, plan or execution state: exit 2."""


# ---------------------------------------------------------------------------------------------- plan

def load_plan(path):
    try:
        with open(path, encoding="utf-8") as f:
            plan = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read plan {path}: {e}")
    if not isinstance(plan, dict):
        raise UsageError("plan must be a JSON object with brands, models and questions")
    for key in ("brands", "models", "questions"):
        v = plan.get(key)
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.strip() for x in v):
            raise UsageError(f"plan: '{key}' must be a non-empty list of non-empty strings")
        if key != "questions" and len(set(v)) != len(v):
            raise UsageError(f"plan: '{key}' has duplicates")
        if key != "questions" and any("|" in x for x in v):
            raise UsageError(f"plan: '{key}' entries may not contain '|' (it separates the parts of a task id)")
    return plan


def make_tasks(plan):
    """The product brands x models x questions, in a stable order, with stable ids."""
    tasks = []
    for brand in plan["brands"]:
        for model in plan["models"]:
            for qi, question in enumerate(plan["questions"]):
                tasks.append({
                    "task_id": f"{brand}|{model}|q{qi}",
                    "brand": brand,
                    "model": model,
                    "question_index": qi,
                    "question": question.replace("{brand}", brand),
                })
    return tasks


# ---------------------------------------------------------------------------------------------- sqlite

def connect(db_path, extension, busy_ms=10000):
    """One connection per thread: autocommit, busy_timeout, extension loaded."""
    conn = sqlite3.connect(db_path, timeout=busy_ms / 1000.0, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    try:
        conn.enable_load_extension(True)
    except AttributeError:
        raise UsageError(f"{sys.executable} cannot load SQLite extensions; run this with /usr/bin/python3")
    try:
        conn.load_extension(extension)
    except sqlite3.Error as e:
        raise UsageError(f"cannot load the nxm extension from {extension!r}: {e} (did you run `make`?)")
    finally:
        conn.enable_load_extension(False)
    return conn


def read_progress(conn, exec_id):
    row = conn.execute("SELECT state, completed, total, percent FROM nxm_progress WHERE execution_id = ?",
                       (exec_id,)).fetchone()
    if row is None:
        return None
    return {"state": row[0], "completed": row[1], "total": row[2], "percent": row[3]}


# ---------------------------------------------------------------------------------------------- AI call

class CallFailed(Exception):
    def __init__(self, message, retryable, retry_after=None, fatal=False):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.fatal = fatal  # the whole run is misconfigured (bad key): stop, record nothing


class FatalCallError(Exception):
    """An error that no task can get past (401/403): the run stops, the task stays pending."""


def chat_url(base_url):
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"base URL must be http(s)://host[:port][/path], got {base_url!r}")
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + "/chat/completions", "", ""))


def call_once(url, api_key, task, run_label, timeout, temperature):
    body = {
        "model": task["model"],
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Brand: {task['brand']}\n\n{task['question']}"},
        ],
        "temperature": temperature,
    }
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        # HTTP headers are latin-1: task ids can hold any brand name, so they are percent-encoded
        "X-Nxm-Task": urllib.parse.quote(task["task_id"], safe=""),
        "X-Nxm-Run": urllib.parse.quote(run_label, safe=""),
        "User-Agent": "nxm-runner/0.1",
    }
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    req = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        try:
            detail = e.read(2000).decode("utf-8", "replace")
            detail = json.loads(detail).get("error", {}).get("message", detail)
        except Exception:
            detail = ""
        retry_after = None
        ra = e.headers.get("Retry-After") if e.headers else None
        if ra:
            try:
                retry_after = float(ra)
            except ValueError:
                pass
        retryable = e.code in (408, 409, 429) or e.code >= 500
        raise CallFailed(f"HTTP {e.code}: {str(detail)[:300]}", retryable, retry_after, fatal=e.code in (401, 403))
    except (socket.timeout, TimeoutError):
        raise CallFailed(f"timed out after {timeout:g}s", True)
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise CallFailed(f"timed out after {timeout:g}s", True)
        raise CallFailed(f"connection error: {reason}", True)
    except (HTTPException, ConnectionError, OSError) as e:
        raise CallFailed(f"connection error: {type(e).__name__}: {e}", True)
    try:
        data = json.loads(raw.decode("utf-8"))
        content = data["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise TypeError("content is not a string")
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise CallFailed(f"malformed response: {type(e).__name__}: {e}", True)
    return data, content


def run_task(task, cfg, stop):
    """Call the endpoint with retries; returns the result dict (status ok or failed), or None when asked to
    stop while waiting to retry. Raises FatalCallError on 401/403 (nothing is recorded then)."""
    t0 = time.monotonic()
    attempts = 0
    last_error = None
    rng = random.Random()
    while True:
        attempts += 1
        try:
            data, content = call_once(cfg.url, cfg.api_key, task, cfg.run_label, cfg.timeout, cfg.temperature)
            result = {"status": "ok", "answer": content, "response_id": data.get("id"),
                      "usage": data.get("usage")}
            break
        except CallFailed as e:
            last_error = str(e)
            if e.fatal:
                raise FatalCallError(f"{last_error} from {cfg.url}: check the API key")
            if not e.retryable or attempts > cfg.retries:
                result = {"status": "failed", "error": last_error}
                break
            # exponential backoff with full jitter, at least what Retry-After asks (capped)
            delay = rng.uniform(0, min(cfg.backoff_max, cfg.backoff_base * (2 ** (attempts - 1))))
            if e.retry_after is not None:
                delay = max(delay, min(e.retry_after, cfg.backoff_max))
            if stop.wait(delay):
                # asked to stop while waiting to retry: leave the task pending (not recorded, run next time)
                return None
    head = {k: task[k] for k in ("task_id", "brand", "model", "question_index", "question")}
    head.update(result)
    head["attempts"] = attempts
    if result["status"] == "failed":
        head["error"] = last_error
    head["elapsed_ms"] = int((time.monotonic() - t0) * 1000)
    head["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    return head


# ---------------------------------------------------------------------------------------------- workers

class Shared:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = 0
        self.stopped_pending = 0
        self.fatal = None


def append_result(conn, exec_id, task, result, ack_fd):
    payload = json.dumps(result, ensure_ascii=False, sort_keys=True)
    for i in range(6):
        try:
            completed = conn.execute("SELECT nxm_wal_append(?, ?, NULL, NULL, ?, ?, ?)",
                                     (exec_id, payload, task["brand"], task["model"], task["task_id"])
                                     ).fetchone()[0]
            break
        except sqlite3.OperationalError as e:
            # busy_timeout already waited; a few more tries before giving up on this result
            if i == 5 or "locked" not in str(e) and "busy" not in str(e):
                raise
            time.sleep(0.05 * (i + 1))
    if ack_fd is not None:
        # the append returned, so the result is committed: acknowledge it (tests check every ack survives)
        os.write(ack_fd, (json.dumps({"task_id": task["task_id"], "completed": completed},
                                     ensure_ascii=False) + "\n").encode("utf-8"))
    return completed


def worker(cfg, exec_id, work, stop, shared, log):
    try:
        conn = connect(cfg.db, cfg.extension, cfg.busy_ms)
    except Exception as e:
        with shared.lock:
            shared.fatal = shared.fatal or f"worker could not open the database: {e}"
        stop.set()
        return
    try:
        while not stop.is_set():
            try:
                task = work.get_nowait()
            except queue.Empty:
                return
            try:
                result = run_task(task, cfg, stop)
            except FatalCallError as e:
                with shared.lock:
                    shared.fatal = shared.fatal or str(e)
                stop.set()
                return
            if result is None:
                with shared.lock:
                    shared.stopped_pending += 1
                continue
            try:
                append_result(conn, exec_id, task, result, cfg.ack_fd)
            except sqlite3.Error as e:
                with shared.lock:
                    shared.fatal = shared.fatal or (f"could not record the result of {task['task_id']}: {e}; "
                                                    "it stays pending and runs again next time")
                stop.set()
                return
            with shared.lock:
                if result["status"] == "ok":
                    shared.ok += 1
                else:
                    shared.failed += 1
            if result["status"] == "failed":
                log(f"task {task['task_id']} failed after {result['attempts']} attempt(s): {result['error']}")
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------- progress

def fmt_eta(seconds):
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """tqdm bar on a terminal, plain lines otherwise; both fed from nxm_progress."""

    def __init__(self, mode, exec_id, start_completed, total, interval):
        self.mode = mode
        self.exec_id = exec_id
        self.start_completed = start_completed
        self.total = total
        self.interval = interval
        self.t0 = time.monotonic()
        self.last_line = 0.0
        self.bar = None
        if mode == "bar":
            try:
                from tqdm import tqdm
            except ImportError:  # Debian: apt-get install python3-tqdm
                self.mode = "plain"
                return
            self.bar = tqdm(total=total, initial=start_completed, unit="task", file=sys.stdout,
                            dynamic_ncols=True, smoothing=0.1, desc=exec_id[:24])

    def log(self, msg):
        if self.bar is not None:
            self.bar.write(msg, file=sys.stdout)
        else:
            print(msg, flush=True)

    def update(self, prog, shared, force=False):
        if prog is None:
            return
        done = prog["completed"]
        if self.bar is not None:
            if done > self.bar.n:
                self.bar.update(done - self.bar.n)
            self.bar.set_postfix_str(f"failed {shared.failed}", refresh=True)
        elif self.mode == "plain":
            now = time.monotonic()
            if not force and now - self.last_line < self.interval:
                return
            self.last_line = now
            elapsed = now - self.t0
            ran = done - self.start_completed
            rate = ran / elapsed if elapsed > 0 else 0.0
            eta = (prog["total"] - done) / rate if rate > 0 else None
            pct = prog["percent"] if prog["percent"] is not None else (100.0 * done / max(prog["total"], 1))
            print(f"progress {self.exec_id}: {done}/{prog['total']} ({float(pct):.1f}%) {rate:.1f} tasks/s "
                  f"ETA {fmt_eta(eta) if done < prog['total'] else '0s'} | this run: ok {shared.ok} "
                  f"failed {shared.failed}", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------------- main

def parse_args(argv):
    env = os.environ
    p = argparse.ArgumentParser(description="Run every brand x model x question task of a plan against an "
                                            "OpenAI-compatible endpoint, recording progress with nxm.")
    p.add_argument("--plan", required=True, help="plan JSON: {brands, models, questions}")
    p.add_argument("--execution-id", "-e", required=True, help="execution id (same id = resume)")
    p.add_argument("--db", required=True, help="SQLite database file")
    p.add_argument("--extension", default=DEFAULT_EXTENSION, help=f"nxm extension path (default {DEFAULT_EXTENSION})")
    p.add_argument("--workers", type=int, default=4, help="worker threads = concurrent AI calls (default 4)")
    p.add_argument("--base-url", default=env.get("NXM_AI_BASE_URL") or env.get("OPENAI_BASE_URL"),
                   help="endpoint base URL, e.g. http://127.0.0.1:8000/v1 (env NXM_AI_BASE_URL, OPENAI_BASE_URL)")
    p.add_argument("--api-key", default=env.get("NXM_AI_API_KEY") or env.get("OPENAI_API_KEY"),
                   help="API key (env NXM_AI_API_KEY, OPENAI_API_KEY); optional for a loopback endpoint")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds (default 60)")
    p.add_argument("--retries", type=int, default=4, help="retries after the first attempt (default 4)")
    p.add_argument("--backoff-base", type=float, default=0.5, help="first backoff cap, seconds (default 0.5)")
    p.add_argument("--backoff-max", type=float, default=20.0, help="largest backoff, seconds (default 20)")
    p.add_argument("--temperature", type=float, default=0.2)
    p.add_argument("--busy-ms", type=int, default=10000, help="SQLite busy_timeout per connection (default 10000)")
    p.add_argument("--progress", choices=("auto", "bar", "plain", "none"), default="auto",
                   help="auto = tqdm bar if stdout is a terminal, plain lines otherwise")
    p.add_argument("--progress-interval", type=float, default=2.0, help="seconds between plain lines (default 2)")
    p.add_argument("--run-label", default=None, help="label sent as X-Nxm-Run (default: random per process)")
    p.add_argument("--ack-log", help="append one JSON line per committed result (for tests and the demo)")
    args = p.parse_args(argv)
    if args.workers < 1 or args.retries < 0 or args.timeout <= 0:
        p.error("--workers must be >= 1, --retries >= 0, --timeout > 0")
    if not args.base_url:
        p.error("no endpoint: pass --base-url or set NXM_AI_BASE_URL (or OPENAI_BASE_URL)")
    args.url = chat_url(args.base_url)
    host = urllib.parse.urlsplit(args.url).hostname or ""
    if not args.api_key and host not in ("127.0.0.1", "localhost", "::1"):
        p.error("no API key: pass --api-key or set NXM_AI_API_KEY (or OPENAI_API_KEY)")
    if args.run_label is None:
        args.run_label = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return args


def main(argv=None):
    try:
        cfg = parse_args(argv)
        return run(cfg)
    except UsageError as e:
        print(f"nxm_runner: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before the workers started: nothing was half-done
        print("nxm_runner: interrupted", file=sys.stderr)
        return 130


def run(cfg):
    plan = load_plan(cfg.plan)
    tasks = make_tasks(plan)
    by_id = {t["task_id"]: t for t in tasks}
    exec_id = cfg.execution_id
    main_conn = connect(cfg.db, cfg.extension, cfg.busy_ms)

    before = read_progress(main_conn, exec_id)
    if before is not None and before["state"] == "expired":
        raise UsageError(f"execution {exec_id} has expired; remove it with SELECT nxm_cleanup() or use a new id")
    try:
        total = main_conn.execute("SELECT nxm_wal_begin(?, ?)",
                                  (exec_id, json.dumps([t["task_id"] for t in tasks], ensure_ascii=False))
                                  ).fetchone()[0]
    except sqlite3.Error as e:
        raise UsageError(f"nxm_wal_begin refused execution {exec_id}: {e}")

    pending_ids = [r[0] for r in main_conn.execute("SELECT task_id FROM nxm_pending(?)", (exec_id,))]
    unknown = [t for t in pending_ids if t not in by_id]
    if unknown:
        raise UsageError(f"execution {exec_id} has pending tasks not in this plan, e.g. {unknown[0]!r}")
    prog = read_progress(main_conn, exec_id) or {"completed": total - len(pending_ids), "total": total,
                                                 "state": "running", "percent": None}
    if not pending_ids:
        print(f"execution {exec_id} is complete: {prog['completed']}/{prog['total']} results recorded; "
              "nothing to run.", flush=True)
        main_conn.close()
        return 0
    if before is None:
        print(f"execution {exec_id}: new, {total} tasks ({len(plan['brands'])} brands x {len(plan['models'])} "
              f"models x {len(plan['questions'])} questions), {cfg.workers} workers -> {cfg.url}", flush=True)
    else:
        print(f"execution {exec_id}: resuming, {prog['completed']}/{total} already recorded, running the {len(pending_ids)} "
              f"missing tasks with {cfg.workers} workers -> {cfg.url}", flush=True)

    cfg.ack_fd = (os.open(cfg.ack_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                  if cfg.ack_log else None)
    mode = cfg.progress
    if mode == "auto":
        mode = "bar" if sys.stdout.isatty() else "plain"
    progress = Progress(mode, exec_id, prog["completed"], total, cfg.progress_interval)

    work = queue.Queue()
    for tid in pending_ids:
        work.put(by_id[tid])
    stop = threading.Event()
    shared = Shared()
    signals = []

    def on_signal(signum, frame):
        signals.append(signum)
        if len(signals) > 1:
            os._exit(128 + signum)  # second signal: leave now; recorded results are already safe
        stop.set()
        progress.log(f"{signal.Signals(signum).name}: finishing the calls in flight, then stopping "
                     "(send it again to stop at once)")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    threads = [threading.Thread(target=worker, args=(cfg, exec_id, work, stop, shared, progress.log),
                                name=f"nxm-worker-{i}", daemon=True)
               for i in range(min(cfg.workers, len(pending_ids)))]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            progress.update(read_progress(main_conn, exec_id), shared)
            time.sleep(0.25 if mode == "bar" else 0.1)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    final = read_progress(main_conn, exec_id)
    progress.update(final, shared, force=True)
    progress.close()
    main_conn.close()
    if cfg.ack_fd is not None:
        os.close(cfg.ack_fd)

    elapsed = time.monotonic() - t0
    ran = shared.ok + shared.failed
    summary = (f"this run: {ran} tasks recorded ({shared.ok} ok, {shared.failed} failed) in {elapsed:.1f}s; "
               f"execution {exec_id}: {final['completed']}/{final['total']} {final['state']}")
    print(summary, flush=True)
    if shared.fatal:
        print(f"nxm_runner: error: {shared.fatal}", file=sys.stderr)
        return 1
    if signals:
        waiting = (f" ({shared.stopped_pending} task(s) stopped while waiting to retry stay pending)"
                   if shared.stopped_pending else "")
        print(f"stopped by {signal.Signals(signals[0]).name}{waiting}; run again with the same execution id "
              "to finish", flush=True)
        return 128 + signals[0]
    if final["completed"] < final["total"]:
        print("nxm_runner: error: workers finished but the execution is not complete", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
