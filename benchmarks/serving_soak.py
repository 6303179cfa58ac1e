"""Soak of the batching server on the embedded SmolLM2-135M: 2,000 streamed requests of mixed prompt and output
lengths (max_tokens 1-8) from 8 clients, every fifth client gone after its first token, and every 100th request a
burst of 24 at once past the queue. Prints the server's RSS every 200 requests and the end state; tests/test_serve_soak.py
(pytest -m soak) asserts on the same run.

  python benchmarks/serving_soak.py [--requests 2000]
"""
from __future__ import annotations
import argparse, concurrent.futures, http.client, json, sys, tempfile, time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
import psutil
from inferbench.core import proc
from inferbench.models import prepare

MAX_BATCH, MAX_QUEUE, CLIENTS, BURST, EVERY = 4, 8, 8, 24, 200
WORDS = "the history of computing is long and full of machines that people built to count".split()

@dataclass
class Soak:
  ends: list[str] = field(default_factory=list)        # per request: completed | cancelled | refused
  malformed: list[str] = field(default_factory=list)   # why a completed response was not well-formed
  rss: list[tuple[int, int]] = field(default_factory=list)  # (requests done, server RSS bytes)
  end_health: dict = field(default_factory=dict)
  seconds: float = 0.0

def body(i: int) -> bytes:
  prompt = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(3 + i % 29))  # 3-31 words: prompts of mixed lengths, few cache hits
  return json.dumps({"prompt": prompt, "max_tokens": 1 + i % 8, "temperature": 0.0, "stream": True, "stream_options": {"include_usage": True}}).encode()

def checked(data: bytes, max_tokens: int) -> str | None:
  """Why a completed stream is not well-formed (None: it is): data events, a finish_reason, usage agreeing, [DONE]."""
  events = [e.strip() for e in data.split(b"\n\n") if e.strip() and not e.strip().startswith(b":")]
  if not events or events[-1] != b"data: [DONE]": return f"no [DONE] at the end: {data[-80:]!r}"
  chunks = [json.loads(e[6:]) for e in events[:-1]]
  tokens = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] is None]
  usage, finish = chunks[-1].get("usage") or {}, chunks[-2]["choices"][0]["finish_reason"]
  if finish not in ("stop", "length") or usage.get("completion_tokens") != len(tokens) or len(tokens) > max_tokens or (finish == "length") != (len(tokens) == max_tokens):
    return f"finish {finish}, {len(tokens)} token chunks, usage {usage}, max_tokens {max_tokens}"
  return None

def one(url: str, i: int, out: Soak):
  u = urlsplit(url)
  conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
  try:
    conn.request("POST", u.path + "/completions", body(i))
    r = conn.getresponse()
    if r.status != 200:
      data = r.read()
      ok = r.status == 503 and json.loads(data)["error"]["code"] == "queue_full" and r.getheader("Retry-After") == "1"
      out.ends.append("refused" if ok else f"HTTP {r.status}")
      return
    if i % 5 == 0:  # gone mid-stream, after its first event
      while not r.readline().startswith(b"data:"): pass
      conn.sock.close()
      out.ends.append("cancelled")
      return
    if why := checked(r.read(), 1 + i % 8): out.malformed.append(f"request {i}: {why}")
    out.ends.append("completed")
  finally: conn.close()

def health(url: str) -> dict:
  u = urlsplit(url)
  conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
  try:
    conn.request("GET", "/health")
    return json.loads(conn.getresponse().read())
  finally: conn.close()

def settle(url: str, within_s: float = 30) -> dict:
  """The engine's state once cancelled slots are freed (at the next step): active and queued, bounded in time."""
  deadline = time.monotonic() + within_s
  while True:
    h = next(iter(health(url)["models"].values()))
    if not (h["active"] or h["queued"]) or time.monotonic() > deadline: return h
    time.sleep(0.05)

def soak(url: str, pid: int, n: int, say=print) -> Soak:
  out, server, t0 = Soak(), psutil.Process(pid), time.monotonic()
  with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
    for start in range(0, n, EVERY):
      chunk = range(start, min(n, start + EVERY))
      burst = [pool.submit(one, url, i, out) for i in chunk[:BURST]]  # all at once: past the slots and the queue
      concurrent.futures.wait(burst)
      with concurrent.futures.ThreadPoolExecutor(CLIENTS) as clients: list(clients.map(lambda i: one(url, i, out), chunk[BURST:]))
      settle(url)
      out.rss.append((chunk[-1] + 1, server.memory_info().rss))
      say(f"  {chunk[-1] + 1:5d} requests  RSS {out.rss[-1][1] / 2**20:7.1f} MiB  {time.monotonic() - t0:6.1f} s")
  out.end_health, out.seconds = settle(url), time.monotonic() - t0
  return out

def server_cmd(model: Path) -> list[str]:
  return [sys.executable, "-m", "inferbench.serving.server", "--model", str(model), "--max-batch", str(MAX_BATCH), "--max-queue", str(MAX_QUEUE),
          "--ctx", "128", "--threads", "1", "--batch-timeout-ms", "5"]

def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--requests", type=int, default=2000)
  args = p.parse_args(argv)
  with tempfile.TemporaryDirectory() as tmp, proc.launch(server_cmd(prepare.source_path("135M")), Path(tmp) / "server.log", ready_s=120) as srv:
    print(f"soak: {args.requests} requests, {CLIENTS} clients, bursts of {BURST} every {EVERY}, max batch {MAX_BATCH}, max queue {MAX_QUEUE}")
    s = soak(srv.url, srv.proc.pid, args.requests)
  base, last = s.rss[0][1], s.rss[-1][1]
  print(f"done in {s.seconds:.0f} s: {s.ends.count('completed')} completed, {s.ends.count('cancelled')} cancelled, {s.ends.count('refused')} refused (503), "
        f"{len(s.ends) - sum(map(s.ends.count, ('completed', 'cancelled', 'refused')))} other, {len(s.malformed)} malformed; "
        f"after: active {s.end_health['active']}, queued {s.end_health['queued']}; RSS {last / base - 1:+.1%} from request {s.rss[0][0]}")
  return 0

if __name__ == "__main__": sys.exit(main())
