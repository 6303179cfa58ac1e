"""Task accuracy: small exact-match tasks generated offline from a seed, asked of an OpenAI-compatible llama.cpp server
(llama-cpp-python's) that runs on 127.0.0.1 only for as long as the scoring does.

Exact match means the reply, with whitespace collapsed and one trailing period dropped, equals the answer.
"""
from __future__ import annotations
import json, random, string, sys, urllib.error, urllib.request
from dataclasses import dataclass
from pathlib import Path
from inferbench.core.proc import launch

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


def serve(model: Path, log_path: Path, threads: int, ctx: int, seed: int, ready_s: float = 120.0):
  """llama-cpp-python's own server on the file, for the tasks (proc.launch: a free port, readiness, stopped on the way out)."""
  return launch([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--n_ctx", str(ctx), "--n_threads", str(threads),
                 "--n_threads_batch", str(threads), "--seed", str(seed)], log_path, ready_s)

def ask(url: str, prompt: str, max_tokens: int, seed: int, timeout_s: float = 120.0) -> str:
  body = {"messages": [{"role": "user", "content": prompt}], "temperature": 0.0, "max_tokens": max_tokens, "seed": seed}
  req = urllib.request.Request(f"{url}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
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
