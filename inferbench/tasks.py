"""Task accuracy: small exact-match tasks generated offline from a seed, asked of an OpenAI-compatible llama.cpp server
(llama-cpp-python's) that runs on 127.0.0.1 only for as long as the scoring does.

Exact match means the reply, with whitespace collapsed and one trailing period dropped, equals the answer.
"""
from __future__ import annotations
import json, random, socket, string, subprocess, sys, time, urllib.error, urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from .proc import start, stop  # stop: SIGTERM to the server's process group, SIGKILL soon after

WORDS = ("apple", "river", "stone", "cloud", "tiger", "paper", "green", "house", "light", "music", "ocean", "pencil",
         "summer", "window", "yellow", "bridge", "garden", "silver", "planet", "forest")

@dataclass(frozen=True)
class Example:
  task: str
  prompt: str
  answer: str

def _reverse(rng: random.Random) -> Example:
  words = rng.sample(WORDS, rng.randint(3, 5))
  return Example("reverse", "Reverse the order of these words. Reply with the words only, separated by single spaces.\n"
                            f"Words: {' '.join(words)}", " ".join(reversed(words)))

def _add(rng: random.Random) -> Example:
  a, b = rng.randint(100, 9999), rng.randint(100, 9999)
  return Example("add", f"What is {a} + {b}? Reply with the number only.", str(a + b))

def _copy(rng: random.Random) -> Example:
  s = "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(8, 12)))
  return Example("copy", f"Copy this string exactly. Reply with the string only.\nString: {s}", s)

TASKS = {"reverse": _reverse, "add": _add, "copy": _copy}

def examples(seed: int, n_per_task: int) -> list[Example]:
  rng = random.Random(seed)
  return [make(rng) for make in TASKS.values() for _ in range(n_per_task)]

def correct(reply: str, answer: str) -> bool: return " ".join(reply.split()).removesuffix(".") == answer

def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]

@dataclass(frozen=True)
class Server:
  url: str
  proc: subprocess.Popen

@contextmanager
def serve(model: Path, log_path: Path, threads: int, ctx: int, seed: int, ready_s: float = 120.0) -> Iterator[Server]:
  """Starts llama-cpp-python's server on a free 127.0.0.1 port and stops its whole process group on the way out,
  whatever happened inside."""
  port = free_port()
  cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", str(ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads), "--seed", str(seed)]
  log_path.parent.mkdir(parents=True, exist_ok=True)
  with open(log_path, "w") as log:
    proc = start(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # its own group, gone with this process
  try:
    url = f"http://127.0.0.1:{port}"
    _wait_ready(proc, url, log_path, ready_s)
    yield Server(url, proc)
  finally: stop(proc)

def _wait_ready(proc: subprocess.Popen, url: str, log_path: Path, ready_s: float):
  deadline = time.monotonic() + ready_s
  while time.monotonic() < deadline:
    if proc.poll() is not None:
      tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
      raise RuntimeError(f"llama.cpp server exited with code {proc.returncode} before it was ready: {tail[0]} (log: {log_path})")
    try:
      with urllib.request.urlopen(f"{url}/v1/models", timeout=2): return
    except (urllib.error.URLError, OSError): time.sleep(0.25)
  raise RuntimeError(f"llama.cpp server not ready after {ready_s:g} s (log: {log_path})")

def ask(url: str, prompt: str, max_tokens: int, seed: int, timeout_s: float = 120.0) -> str:
  body = {"messages": [{"role": "user", "content": prompt}], "temperature": 0.0, "max_tokens": max_tokens, "seed": seed}
  req = urllib.request.Request(f"{url}/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
  with urllib.request.urlopen(req, timeout=timeout_s) as r: return json.load(r)["choices"][0]["message"]["content"] or ""

@dataclass(frozen=True)
class TaskResult:
  accuracy: float
  n_examples: int
  per_task: dict[str, str]  # task -> "correct/asked"
  replies: list[dict]       # every prompt, answer and reply, to read when a score looks wrong

def score(url: str, exs: list[Example], max_tokens: int, seed: int) -> TaskResult:
  replies = [{"task": e.task, "answer": e.answer, "reply": (r := ask(url, e.prompt, max_tokens, seed)), "correct": correct(r, e.answer)}
             for e in exs]
  per_task = {t: f"{sum(r['correct'] for r in replies if r['task'] == t)}/{sum(r['task'] == t for r in replies)}" for t in TASKS}
  return TaskResult(sum(r["correct"] for r in replies) / len(replies), len(replies), per_task, replies)

def run(model: Path, log_path: Path, n_per_task: int, max_tokens: int, seed: int, threads: int, ctx: int = 512) -> TaskResult:
  with serve(model, log_path, threads, ctx, seed) as server: return score(server.url, examples(seed, n_per_task), max_tokens, seed)
