"""Serving benchmark: time to first token, inter-token latency and throughput of a streaming engine (any
OpenAI-compatible server, or MLC-LLM in-process) at one or more concurrencies, in the common raw-log format.

Each request is one run of the log, timed from sending it: step 0 is the first token chunk (TTFT, its enqueue
time the moment the server accepted the request), steps 1..N the gaps between token chunks; the run line keeps
its start (from the batch's start), end-to-end latency and token counts, checked against the server's `usage`.
`--concurrency C` keeps C requests in flight until `--requests` are done; collate derives the aggregate
throughput from the runs' starts and ends. A configuration whose request fails is recorded as failed, with why.
"""
from __future__ import annotations
import argparse, itertools, json, sys, threading, time, uuid
from dataclasses import dataclass, field
from pathlib import Path
from . import registry
from . import metadata, models
from .backends import endpoint, mlc
from .backends.endpoint import EndpointError
from .collate import collate
from .rawlog import LogError, LogWriter, parse
from .runner import prompt_ids, run_all

@dataclass(frozen=True)
class ServeConfig:
  backend: str                 # names the log and the CSV: mlc, or the server's name
  mode: str                    # endpoint | in-process
  size: str
  quantize: str
  seed: int
  uuid: str
  concurrency: int
  requests: int
  warmup: int
  n_tokens: int                # decode steps after the first token: max_tokens is n_tokens + 1
  temperature: float
  prompt_ids: list[int] = field(default_factory=list)
  prompt_text: str = ""
  prompt_format: str = "auto"  # ids | text | auto: ids where the server takes them, else text
  ignore_eos: bool = True
  device: str = "unknown"
  weights: str = "real"        # a server serves the files it has, never synthetic ones

  @property
  def label(self) -> str: return f"{self.backend} {self.size} {self.quantize} seed={self.seed} concurrency={self.concurrency}"

@dataclass
class Result:
  run: int
  start_s: float                              # since the measured batch began
  headers_s: float | None = None              # since sent: the server accepted the request
  times_s: list[float] = field(default_factory=list)  # since sent: each chunk that carried text
  texts: list[str] = field(default_factory=list)
  end_s: float | None = None                  # since sent: the stream ended
  usage: dict | None = None
  finish_reason: str | None = None
  error: str | None = None

def body(cfg: ServeConfig, model: str, prompt: list[int] | str, server: str, stream: bool) -> dict:
  max_tokens = cfg.n_tokens + 1
  b = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": cfg.temperature, "seed": cfg.seed, "stream": stream}
  if stream: b["stream_options"] = {"include_usage": True}
  # each server family's own switch to keep generating past EOS, so every request makes max_tokens tokens
  if cfg.ignore_eos: b.update({"debug_config": {"ignore_eos": True}} if server == "mlc" else {"ignore_eos": True, "min_tokens": max_tokens})
  return b

def request(engine, b: dict, run: int, t_batch: float) -> Result:
  r = Result(run, time.perf_counter() - t_batch)
  t0 = time.perf_counter()
  try:
    for ev in engine.stream(b):
      t = time.perf_counter() - t0
      if ev is None: r.headers_s = t; continue
      if isinstance(ev.get("usage"), dict): r.usage = ev["usage"]
      choices = ev.get("choices")
      if not isinstance(choices, list) or not all(isinstance(c, dict) and isinstance(c.get("text"), str) for c in choices):
        raise EndpointError(f"malformed chunk, no choices[].text: {json.dumps(ev)[:80]!r}")
      for c in choices:
        # a token per chunk: one with text, or without a finish_reason (a token whose text is empty or an incomplete
        # UTF-8 sequence still took its step); the closing chunk with only a finish_reason is no token
        if c.get("text") or not c.get("finish_reason"): r.times_s.append(t); r.texts.append(c.get("text", ""))
        r.finish_reason = c.get("finish_reason") or r.finish_reason
    r.end_s = time.perf_counter() - t0
    if r.finish_reason is None:
      raise EndpointError(f"the stream ended without a finish_reason after {len(r.times_s)} token chunks: cut short by the server "
                          "(llama-cpp-python's server does this when another request arrives, unless started with --interrupt_requests false)")
  except EndpointError as e: r.error = str(e)
  except Exception as e: r.error = getattr(engine, "redact", str)(f"{type(e).__name__}: {e}")  # noqa: BLE001 - recorded, not hidden
  return r

def write(log: LogWriter, r: Result, n_prompt: int, ref_tokens: int | None):
  prev, text = 0.0, ""
  for i, (t, piece) in enumerate(zip(r.times_s, r.texts)):
    text += piece
    gap = t - prev
    # a stream has no enqueue of its own per token: step 0's is the server's acceptance, later steps' the whole gap
    enqueue = min(r.headers_s if r.headers_s is not None else t, t) if i == 0 else gap
    log.step(run=r.run, phase="decode" if i else "prefill", step=i, position=n_prompt + i - 1 if i else 0, n_tokens=1 if i else n_prompt,
             token_id=None, enqueue_latency_ms=round(enqueue * 1e3, 4), total_latency_ms=round(gap * 1e3, 4), text=text)
    prev = t
  usage = r.usage.get("completion_tokens") if r.usage else ref_tokens
  log.run(run=r.run, start_ms=round(r.start_s * 1e3, 4), headers_ms=None if r.headers_s is None else round(r.headers_s * 1e3, 4),
          e2e_latency_ms=None if r.end_s is None else round(r.end_s * 1e3, 4), n_token_chunks=len(r.times_s),
          usage_prompt_tokens=r.usage.get("prompt_tokens") if r.usage else None, usage_completion_tokens=usage,
          usage_source="stream" if r.usage else "reference request" if ref_tokens is not None else "none",
          tokens_match=None if usage is None or r.error else usage == len(r.times_s), finish_reason=r.finish_reason, error=r.error)

def reference(engine, cfg: ServeConfig, model: str) -> tuple[dict, str, str]:
  """One unmeasured, non-streamed request: finds the prompt format the server takes, and its own token counts
  (usage), which not every server reports in a stream. Returns (response, prompt format, why)."""
  def once(prompt) -> dict:
    for ev in engine.stream(body(cfg, model, prompt, engine.server_name, stream=False)):
      if ev is not None: return ev
    raise EndpointError("empty response")
  if cfg.prompt_format in ("ids", "auto"):
    try: return once(cfg.prompt_ids), "ids", "token ids"
    except EndpointError as e:
      if cfg.prompt_format == "ids" or e.status is None: raise
      why = f"text (the server rejected token ids: HTTP {e.status})"
  else: why = "text (--prompt-format text)"
  return once(cfg.prompt_text), "text", why

def run(cfg: ServeConfig, engine, log: LogWriter, say):
  model = engine.models[0] if engine.models else ""
  t0 = time.perf_counter()
  ref, fmt, why = reference(engine, cfg, model)
  usage = ref.get("usage") if isinstance(ref.get("usage"), dict) else {}
  prompt = cfg.prompt_ids if fmt == "ids" else cfg.prompt_text
  n_prompt = len(cfg.prompt_ids) if fmt == "ids" else usage.get("prompt_tokens") or len(cfg.prompt_ids)
  b = body(cfg, model, prompt, engine.server_name, stream=True)
  for i in range(cfg.warmup):
    if (r := request(engine, b, -1, time.perf_counter())).error: raise EndpointError(f"warmup request {i + 1}: {r.error}")
  log.header({"model_name": model, "endpoint.prompt_format": why, "n_prompt_tokens_server": usage.get("prompt_tokens", ""),
              "endpoint.ignore_eos": ", ".join(k for k in ("ignore_eos", "min_tokens", "debug_config") if k in b) or "off",
              "reference_completion_tokens": usage.get("completion_tokens", ""),
              "warmup_seconds": round(time.perf_counter() - t0, 3)})

  lock, todo, failed = threading.Lock(), iter(range(cfg.requests)), threading.Event()
  results: list[Result] = []
  def client():
    while not failed.is_set():
      with lock: i = next(todo, None)
      if i is None: return
      r = request(engine, b, i, t_batch)
      with lock:
        write(log, r, n_prompt, usage.get("completion_tokens"))
        results.append(r)
      if r.error: failed.set()  # start no more; those in flight end by themselves, each bounded by its timeouts
  t_batch = time.perf_counter()
  threads = [threading.Thread(target=client, daemon=True) for _ in range(cfg.concurrency)]
  for t in threads: t.start()
  for t in threads: t.join()
  wall = time.perf_counter() - t_batch
  if bad := sorted((r for r in results if r.error), key=lambda r: r.run): raise EndpointError(f"request {bad[0].run} of {cfg.requests}: {bad[0].error}")
  n = sum(len(r.times_s) for r in results)
  say(f"{cfg.requests} requests, {n} token chunks in {wall:.2f} s: {n / wall:.1f} tok/s aggregate")

def parser(doc: str | None) -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=doc, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument("--endpoint", help="API base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (without it: MLC in-process)")
  p.add_argument("--model", help="endpoint: the served model's name (default: the first one /models lists)")
  p.add_argument("--server-name", help="endpoint: names the logs and CSV (default: mlc where /models says MLC-LLM, else endpoint)")
  p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="endpoint: the environment variable holding the API key, if any")
  p.add_argument("--size", nargs="+", default=[registry.DEFAULT_SIZE],
                 help=f"in-process: the model; endpoint: the model whose tokenizer makes the prompt ids, and a label ({', '.join(registry.MODELS)})")
  p.add_argument("--quantize", nargs="+", help=f"in-process: MLC quantization ({', '.join(mlc.QUANTIZATIONS)}; default q4f16_1); endpoint: a label (default unknown)")
  p.add_argument("--seed", nargs="+", type=int, default=[registry.DEFAULT_SEED])
  p.add_argument("--tokenizer", help="a local GGUF whose tokenizer makes the prompt ids (default: the registry model of --size)")
  p.add_argument("--prompt", default=registry.DEFAULT_PROMPT)
  p.add_argument("--prompt-tokens", type=int, help="make the prompt exactly N tokens (repeating the prompt's tokens)")
  p.add_argument("--prompt-format", choices=["auto", "ids", "text"], default="auto", help="send the prompt as token ids, as text, or ids where the server takes them")
  p.add_argument("--n-tokens", type=int, default=registry.DEFAULT_N_TOKENS, help="tokens after the first (max_tokens = N + 1)")
  p.add_argument("--ignore-eos", action=argparse.BooleanOptionalAction, default=True, help="ask the server to generate past EOS")
  p.add_argument("--concurrency", nargs="+", type=int, default=[1], help="requests in flight at once")
  p.add_argument("--requests", type=int, default=8, help="measured requests per concurrency")
  p.add_argument("--warmup", type=int, default=registry.DEFAULT_WARMUP, help="unmeasured streamed requests first (after one reference request)")
  p.add_argument("--temperature", type=float, default=0.0, help="0 is greedy")
  p.add_argument("--device", help="in-process: MLC's device (default cpu); endpoint: a label for what runs the server (default unknown)")
  p.add_argument("--stall-timeout", type=float, default=60.0, help="endpoint: seconds without data before a stream counts as stalled")
  p.add_argument("--request-timeout", type=float, default=600.0, help="endpoint: seconds a request may take in all")
  p.add_argument("-o", "--output-dir", type=Path, default=Path("benchmark_output"))
  return p

def plan(args: argparse.Namespace, backend: str) -> list[ServeConfig]:
  if args.n_tokens < 1 or args.requests < 1 or args.warmup < 0 or min(args.concurrency) < 1:
    raise ValueError("--n-tokens, --requests and --concurrency must be >= 1, --warmup >= 0")
  mode = "endpoint" if args.endpoint else "in-process"
  quantize = args.quantize or (["unknown"] if args.endpoint else ["q4f16_1"])
  if not args.endpoint:
    for q in quantize: mlc.check_quantize(q)
    if max(args.concurrency) > 1:
      raise ValueError("MLCEngine does not batch concurrent requests (MLC's docs: use AsyncMLCEngine): for concurrency, run `mlc_llm serve` and pass --endpoint")
  for s in args.size: models.check_size(s)
  ids = {s: prompt_ids(models.source_path(s, args.tokenizer), args.prompt, args.prompt_tokens) for s in args.size}
  text = {s: args.prompt if args.prompt_tokens is None else None for s in args.size}
  if args.prompt_tokens is not None:  # the text of exactly those ids, for servers that take only text
    from .backends.llamacpp import Tokenizer
    text = {s: Tokenizer(models.source_path(s, args.tokenizer)).decode(ids[s]) for s in args.size}
  return [ServeConfig(backend=backend, mode=mode, size=s, quantize=q, seed=seed, uuid=uuid.uuid4().hex[:8], concurrency=c,
                      requests=args.requests, warmup=args.warmup, n_tokens=args.n_tokens, temperature=args.temperature,
                      prompt_ids=ids[s], prompt_text=text[s], prompt_format=args.prompt_format, ignore_eos=args.ignore_eos,
                      device=args.device or ("unknown" if args.endpoint else "cpu"))
          for s, q, seed, c in itertools.product(args.size, quantize, args.seed, args.concurrency)]

def run_one(cfg: ServeConfig, path: Path, engine, load_error: str | None) -> str:
  """Runs one configuration in this process (an HTTP client has nothing to crash; every wait is bounded)."""
  say = lambda m: print(f"  [{cfg.label}] {m}", file=sys.stderr, flush=True)
  redact = getattr(engine, "redact", str)
  log = LogWriter(path)
  try:
    md = metadata.collect_all()
    md.update(backend=cfg.backend, mode=cfg.mode, size=cfg.size, quantize=cfg.quantize, seed=cfg.seed, uuid=cfg.uuid, device=cfg.device,
              concurrency=cfg.concurrency, requests=cfg.requests, warmup=cfg.warmup, n_prompt_tokens=len(cfg.prompt_ids),
              prompt_token_ids=json.dumps(cfg.prompt_ids), n_decode_steps=cfg.n_tokens, temperature=cfg.temperature,
              sampling="greedy" if cfg.temperature <= 0 else f"temperature {cfg.temperature}, seeded by the server",
              timing="client side: TTFT from sending the request to the first token chunk, then the gaps between chunks")
    log.header(md)
    if cfg.mode == "in-process": engine = mlc.load(mlc.MLCConfig(cfg.size, cfg.quantize, cfg.device), log=say)
    elif load_error: raise EndpointError(load_error)
    log.header({"backend_version": engine.version, "backend_device": engine.device_name, "server_name": engine.server_name, **engine.info})
    run(cfg, engine, log, say)
  except BaseException as e:  # noqa: BLE001 - any failure is recorded in the log; Ctrl-C is then passed on
    status = redact(f"failed: {e}" if isinstance(e, EndpointError) else f"failed: {type(e).__name__}: {e}")
    log.close(status)
    say(status)
    if isinstance(e, KeyboardInterrupt): raise
    return status
  finally:
    if cfg.mode == "in-process" and engine is not None: engine.close()
  log.close("ok")
  return "ok"

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  args = parser(doc).parse_args(argv)
  engine, load_error = None, None
  try:
    if args.endpoint:
      try: engine = endpoint.load(endpoint.EndpointConfig(args.endpoint, args.api_key_env, args.stall_timeout, args.request_timeout), args.server_name)
      except EndpointError as e: load_error = str(e)  # each configuration's log records it
      if args.model and engine: engine.models = [args.model]
      backend = engine.server_name if engine else args.server_name or "endpoint"
    else:
      mlc.check()
      backend = "mlc"
    if not backend.replace("_", "").isalnum() or not backend.islower(): raise ValueError(f"--server-name {backend!r}: use lowercase letters, digits and _")
    configs = plan(args, backend)
  except (models.ModelError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  summary = run_all(configs, args.output_dir, lambda cfg, path: run_one(cfg, path, engine, load_error))
  if mismatched := [r for r in summary if r.get("tokens match") == "no"]:
    print(f"warning: {len(mismatched)} configuration(s) streamed a different number of token chunks than the server's usage counts: "
          "their inter-token gaps are gaps between chunks", file=sys.stderr)
  print(f"collate with: python mlc_collate.py -d {args.output_dir}", file=sys.stderr)
  return 0 if all(r["status"] == "ok" for r in summary) else 1

def serving_backends(out_dir: Path) -> list[str]:
  """The backends of the serving logs in out_dir, read from their headers (mlc first: the seed's CSV)."""
  found = set()
  for path in out_dir.glob("*_*.txt"):
    try: h = parse(path).header
    except LogError: continue  # collate reports it, under its own backend
    if h.get("mode") in ("endpoint", "in-process") and h.get("backend"): found.add(h["backend"])
  return sorted(found, key=lambda b: (b != "mlc", b))

def collate_main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description="Collate the serving logs in a folder: MLC's into mlc_llm.csv, every other server's into {server}.csv.")
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of raw logs (default: %(default)s)")
  args = p.parse_args(argv)
  if not args.dir.is_dir():
    print(f"error: no folder {args.dir}: run a benchmark first, or pass -d DIR", file=sys.stderr)
    return 2
  if not (found := serving_backends(args.dir)): print(f"no serving logs in {args.dir}: run mlc_benchmark.py first", file=sys.stderr)
  rc = 0
  for backend in found:
    target, n, problems = collate(backend, args.dir)
    for e in problems: print(f"skipped {e}", file=sys.stderr)
    print(f"{target}: {n} rows" + (f", {len(problems)} file(s) skipped" if problems else ""))
    rc |= bool(problems)
  return rc
