#!/usr/bin/python3
"""fake_ai_endpoint.py - a local stand-in for a paid AI provider, used by the nxm demo and tests.

Speaks the OpenAI chat-completions shape on 127.0.0.1 only:
  POST /v1/chat/completions   {"model": ..., "messages": [...]} -> {"choices": [{"message": {"content": ...}}], ...}
  GET  /stats                 JSON: every request served, per task key, with arrival times and outcomes
  GET  /healthz               "ok"
Answers are a few KB of text that mention the brand(s) named in the prompt ("Brand: X" lines or "quoted" names).
Latency, and the rates of 429 / 5xx / timeouts (a timeout = hanging longer than the client waits), are flags.
Everything random is derived from --seed, the task key and how many times that task was requested before, so
runs are reproducible whatever the thread scheduling; the answer text depends only on --seed and the task key.

Task key of a request: the X-Nxm-Task header (percent-encoded UTF-8, as nxm_runner.py sends it); else a
"[nxm-task: ...]" marker in a message; else "<model>|sha1(messages)". The X-Nxm-Run header (a label per runner
process) is recorded with each request so a test can tell which run asked.

--port 0 picks a free port: it is printed ("listening on http://127.0.0.1:PORT") and written to --port-file.
The server stops by itself after --max-seconds, or on SIGTERM/SIGINT; --stats-file gets the final /stats then.
Standard library only.
"""

import argparse
import hashlib
import json
import os
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 4 * 1024 * 1024

WORDS = (
    "customers value reliability pricing support onboarding ecosystem integrations roadmap community "
    "documentation latency uptime security compliance analytics dashboards mobile experience retention "
    "loyalty reviews sentiment positioning premium budget enterprise startup market share growth "
    "partnerships sustainability logistics quality warranty design innovation trust transparency"
).split()

SENTENCES = (
    "{b} is frequently mentioned when buyers compare options in this category.",
    "Reviewers tend to describe {b} as {w1} and {w2}, especially for {w3}.",
    "Compared with its peers, {b} puts more emphasis on {w1} than on {w2}.",
    "A common criticism of {b} concerns {w1}, although recent updates improved {w2}.",
    "Analysts expect {b} to keep investing in {w1} and {w2} over the next year.",
    "For teams that care about {w1}, {b} is usually on the shortlist.",
    "{b} has a reputation for {w1}; its {w2} story is less mature.",
    "In surveys, users of {b} rank {w1} and {w3} among its strongest points.",
)


def parse_range(text, what):
    """'30-200' -> (30.0, 200.0); '50' -> (50.0, 50.0)."""
    try:
        if "-" in text.strip()[1:]:
            lo, hi = text.split("-", 1)
            lo, hi = float(lo), float(hi)
        else:
            lo = hi = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}: expected N or LO-HI, got {text!r}")
    if lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError(f"{what}: bad range {text!r}")
    return lo, hi


def rate(text):
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"rate must be within 0..1, got {text}")
    return v


def rng_for(seed, *parts):
    h = hashlib.sha256("\x1f".join([str(seed)] + [str(p) for p in parts]).encode("utf-8")).digest()
    return random.Random(int.from_bytes(h[:16], "big"))


def extract_brands(text):
    brands = []
    for m in re.finditer(r"^[ \t]*brands?[ \t]*:[ \t]*(.+?)[ \t]*$", text, re.IGNORECASE | re.MULTILINE):
        brands.extend(p.strip() for p in re.split(r"[,;]", m.group(1)) if p.strip())
    for pat in (r'"([^"\n]{1,80})"', r"\u201c([^\u201d\n]{1,80})\u201d", r"\u00ab([^\u00bb\n]{1,80})\u00bb"):
        brands.extend(m.group(1).strip() for m in re.finditer(pat, text))
    seen, out = set(), []
    for b in brands:
        if b and b not in seen:
            seen.add(b)
            out.append(b)
    return out or ["the brand you asked about"]


def make_answer(rng, brands, question, size):
    """Deterministic text of about `size` characters mentioning every brand."""
    parts = []
    q = question.strip().splitlines()[-1][:200] if question.strip() else "your question"
    parts.append(f"Summary for: {q}\n")
    n = 0
    while sum(len(p) for p in parts) < size:
        b = brands[n % len(brands)]
        s = rng.choice(SENTENCES).format(b=b, w1=rng.choice(WORDS), w2=rng.choice(WORDS), w3=rng.choice(WORDS))
        parts.append(s + ("\n" if n % 5 == 4 else " "))
        n += 1
    parts.append("\nBrands covered: " + ", ".join(brands) + ".")
    return "".join(parts)


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.started_at = time.time()
        self.total = 0
        self.outcomes = {}
        self.tasks = {}  # key -> list of request records

    def register(self, key, run, model):
        """Count the request; returns how many requests this task had before this one."""
        with self.lock:
            self.total += 1
            reqs = self.tasks.setdefault(key, [])
            rec = {"t": time.time(), "run": run, "model": model, "outcome": None, "status": None}
            reqs.append(rec)
            return len(reqs) - 1, rec

    def finish(self, rec, outcome, status):
        with self.lock:
            rec["outcome"] = outcome
            rec["status"] = status
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def snapshot(self):
        with self.lock:
            return {
                "started_at": self.started_at,
                "now": time.time(),
                "seed": self.args.seed,
                "total_requests": self.total,
                "outcomes": dict(self.outcomes),
                "distinct_tasks": len(self.tasks),
                "tasks": {k: {"count": len(v), "requests": [dict(r) for r in v]} for k, v in self.tasks.items()},
            }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nxm-fake-ai/0.1"
    sys_version = ""

    def log_message(self, fmt, *a):  # quiet unless --verbose
        if self.server.state.args.verbose:
            sys.stderr.write("fake-ai: " + (fmt % a) + "\n")

    def send_json(self, status, obj, extra_headers=()):
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra_headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
            return False

    def error(self, status, message, etype, extra_headers=()):
        return self.send_json(status, {"error": {"message": message, "type": etype, "code": status}}, extra_headers)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/stats":
            self.send_json(200, self.server.state.snapshot())
        elif path == "/healthz":
            self.send_json(200, {"ok": True})
        else:
            self.error(404, f"no route for GET {path}", "invalid_request_error")

    def do_POST(self):
        st = self.server.state
        args = st.args
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            return self.error(400, "bad Content-Length", "invalid_request_error")
        raw = self.rfile.read(length)
        if path not in ("/v1/chat/completions", "/chat/completions"):
            return self.error(404, f"no route for POST {path}", "invalid_request_error")
        if args.api_key is not None and self.headers.get("Authorization", "") != f"Bearer {args.api_key}":
            return self.error(401, "invalid api key", "invalid_request_error")
        try:
            req = json.loads(raw.decode("utf-8"))
            model = req["model"]
            messages = req["messages"]
            if not isinstance(model, str) or not isinstance(messages, list) or not messages:
                raise ValueError("model must be a string and messages a non-empty list")
            texts = [m.get("content", "") if isinstance(m, dict) else "" for m in messages]
            texts = [t if isinstance(t, str) else json.dumps(t) for t in texts]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            return self.error(400, f"bad request body: {e}", "invalid_request_error")

        key = self.headers.get("X-Nxm-Task")
        if key:
            key = urllib.parse.unquote(key)
        else:
            m = re.search(r"\[nxm-task:\s*([^\]]+)\]", "\n".join(texts))
            if m:
                key = m.group(1).strip()
            else:
                key = model + "|" + hashlib.sha1("\x1e".join(texts).encode("utf-8")).hexdigest()[:16]
        run = urllib.parse.unquote(self.headers.get("X-Nxm-Run", ""))
        attempt, rec = st.register(key, run, model)

        rng = rng_for(args.seed, "req", key, attempt)
        r = rng.random()
        lo, hi = args.latency_ms
        if r < args.rate_timeout:
            # hang longer than the client is willing to wait, then answer (usually into a closed socket)
            st.finish(rec, "timeout", 504)
            st.stop.wait(args.hang_s)
            self.close_connection = True
            return self.error(504, "upstream timed out", "server_error")
        r -= args.rate_timeout
        if r < args.rate_429:
            st.finish(rec, "429", 429)
            st.stop.wait(rng.uniform(0, lo) / 1000.0)
            return self.error(429, "Rate limit reached, retry later", "rate_limit_error",
                              [("Retry-After", f"{args.retry_after:g}")])
        r -= args.rate_429
        if r < args.rate_5xx:
            status = rng.choice((500, 502, 503))
            st.finish(rec, "5xx", status)
            st.stop.wait(rng.uniform(0, hi) / 1000.0)
            return self.error(status, "The server had an error while processing your request", "server_error")

        st.stop.wait(rng.uniform(lo, hi) / 1000.0)
        arng = rng_for(args.seed, "answer", key)
        user_text = "\n".join(t for m, t in zip(messages, texts) if isinstance(m, dict) and m.get("role") == "user")
        brands = extract_brands(user_text or "\n".join(texts))
        size = int(arng.uniform(*args.answer_chars))
        content = make_answer(arng, brands, user_text, size)
        prompt_tokens = sum(len(t) for t in texts) // 4 + 1
        completion_tokens = len(content) // 4 + 1
        resp = {
            "id": "chatcmpl-" + hashlib.sha1(f"{args.seed}|{key}".encode("utf-8")).hexdigest()[:24],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        st.finish(rec, "ok", 200)
        self.send_json(200, resp)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def write_atomic(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description="Local OpenAI-compatible chat-completions endpoint for nxm demos/tests.")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    p.add_argument("--port-file", help="write the chosen port here (atomically)")
    p.add_argument("--latency-ms", type=lambda s: parse_range(s, "--latency-ms"), default=(30.0, 200.0),
                   help="latency of a successful answer, uniform in LO-HI ms (default 30-200)")
    p.add_argument("--answer-chars", type=lambda s: parse_range(s, "--answer-chars"), default=(2000.0, 4000.0),
                   help="answer size in characters, uniform in LO-HI (default 2000-4000)")
    p.add_argument("--rate-429", type=rate, default=0.0, help="fraction of requests answered 429 (default 0)")
    p.add_argument("--rate-5xx", type=rate, default=0.0, help="fraction answered 500/502/503 (default 0)")
    p.add_argument("--rate-timeout", type=rate, default=0.0, help="fraction that hang for --hang-s (default 0)")
    p.add_argument("--hang-s", type=float, default=65.0,
                   help="how long a 'timeout' request hangs; make it longer than the client timeout (default 65)")
    p.add_argument("--retry-after", type=float, default=0.1, help="Retry-After seconds sent with 429 (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed for latency, faults and answers (default 0)")
    p.add_argument("--api-key", help="if set, require 'Authorization: Bearer KEY' (401 otherwise)")
    p.add_argument("--max-seconds", type=float, default=900.0, help="stop after this long (default 900, max 86400)")
    p.add_argument("--stats-file", help="write the final /stats JSON here on exit")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = p.parse_args(argv)
    if not 0 < args.max_seconds <= 86400:
        p.error("--max-seconds must be within (0, 86400]")
    if args.rate_429 + args.rate_5xx + args.rate_timeout > 1.0:
        p.error("the fault rates add up to more than 1")

    state = State(args)
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = state
    port = server.server_address[1]

    def on_signal(signum, frame):
        state.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    if args.port_file:
        write_atomic(args.port_file, f"{port}\n")
    print(f"listening on http://127.0.0.1:{port}", flush=True)

    stopped_by_signal = state.stop.wait(args.max_seconds)
    state.stop.set()  # wakes hanging/latency sleeps
    server.shutdown()
    server.server_close()
    snap = state.snapshot()
    if args.stats_file:
        write_atomic(args.stats_file, json.dumps(snap, ensure_ascii=False))
    why = "signal" if stopped_by_signal else f"--max-seconds {args.max_seconds:g} elapsed"
    print(f"stopped ({why}); served {snap['total_requests']} requests for {snap['distinct_tasks']} tasks",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
