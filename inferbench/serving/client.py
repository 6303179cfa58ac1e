"""Serving benchmark: time to first token, inter-token latency and throughput of a streaming engine (any
OpenAI-compatible server, or MLC-LLM in-process) at one or more concurrencies, in the common raw-log format.

Each request is one run of the log, timed from sending it: step 0 is the first token chunk (TTFT, its enqueue
time the moment the server accepted the request), steps 1..N the gaps between token chunks; the run line keeps
its start (from the batch's start), end-to-end latency and token counts, checked against the server's `usage`.
A step's text is its own chunk's piece, not the text so far (a request's whole text is its steps' joined, in order):
cumulative text made the serving CSVs grow with the square of the length.
Each load level is its own configuration, with its own log:
  --concurrency C     closed loop: C requests in flight until --requests are done (or --duration passed);
                      a failed request fails the configuration;
  --request-rate R    open loop: requests sent at seeded Poisson arrival times (R per second on average) whatever
                      the server does, --requests of them or all that arrive within --duration; a failed request
                      (a timeout, a 503) is recorded in its run line and counts against goodput.
Goodput is the requests per second that meet both --slo-ttft-ms and --slo-itl-ms (mean inter-token gap of the
request). Every request is bounded by --request-timeout. The API key is scrubbed from every string written.

Every request sends its own prompt (serving/workload.py): distinct seeded prompts of exactly --prompt-tokens tokens
by default (lengths fixed, uniform or normal), a --shared-prefix-tokens prefix where asked, a --dataset's prompts, or
one repeated --prompt. Each run line keeps its prompt's length and hash, the prompt tokens the server says its cache
supplied (usage.prompt_tokens_details.cached_tokens) and cache_hit: more of them than the workload's shared prefix, a
cache hit it did not ask for (a warning says how many; each load level sends prompts of its own, so the levels one
server measures in turn do not serve each other). And the client's own CPU time: a load level whose client used
more than half a core (stats.CLIENT_BOUND_SHARE) is client-bound (a warning; the summary flags it), its timings the
client's as much as the server's. So is an open-loop level whose requests left their Poisson schedule late (each run
line's send_lag_ms) by more than stats.CLIENT_LAG_MS at p99: the load offered was not the one asked.
"""
from __future__ import annotations
import argparse, itertools, json, random, sys, threading, time, uuid
from dataclasses import dataclass, field
from pathlib import Path
from inferbench.core import cli, formats, metadata, registry, stats
from inferbench.models import prepare
from inferbench.backends import mlc
from inferbench.core.formats import knobs_text
from inferbench.backends.endpoint import EndpointError
from inferbench.store.collate import collate_and_say, load_figures, serving_backends
from inferbench.store.rawlog import LogWriter
from inferbench.core.config import RunConfig
from inferbench.models.prepare import prompt_ids
from inferbench.serving import workload
from inferbench.serving.workload import Prompts, Workload

def arrivals(rate: float, seed: int, n: int | None, duration_s: float | None) -> list[float]:
  """Poisson arrival times in seconds from the start (exponential gaps of mean 1/rate), seeded: the same schedule
  for the same (rate, seed). Bounded by n requests or by duration_s, whichever comes first."""
  assert n is not None or duration_s is not None, "an open loop needs --requests or --duration"
  rng, t, out = random.Random(seed), 0.0, []
  while n is None or len(out) < n:
    t += rng.expovariate(rate)
    if duration_s is not None and t >= duration_s: break
    out.append(t)
  return out

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
  scheduled_s: float | None = None            # open loop: its Poisson arrival time, since the batch began
  server_queue_ms: float | None = None        # the server's own account, where it gives one (timings.queue_ms)
  prompt: list[int] = field(default_factory=list)  # the ids it sent (as text where the server takes only text)
  client_cpu_s: float | None = None           # the client's CPU seconds since the load level began, when it ended

  @property
  def send_lag_ms(self) -> float | None:
    """Open loop: how late the request left against its scheduled arrival, in ms (the client's own delay)."""
    return None if self.scheduled_s is None else (self.start_s - self.scheduled_s) * 1e3

  @property
  def itl_mean_ms(self) -> float | None:
    """The request's mean gap between token chunks after the first (its time per output token)."""
    return (self.times_s[-1] - self.times_s[0]) / (len(self.times_s) - 1) * 1e3 if len(self.times_s) > 1 else None

def meets_slo(r: Result, slo_ttft_ms: float | None, slo_itl_ms: float | None) -> bool | None:
  """Whether a request counts toward goodput: completed, TTFT within slo_ttft_ms and mean inter-token gap within
  slo_itl_ms. None when no SLO is set."""
  if slo_ttft_ms is None and slo_itl_ms is None: return None
  if r.error or not r.times_s: return False
  return (slo_ttft_ms is None or r.times_s[0] * 1e3 <= slo_ttft_ms) and (slo_itl_ms is None or (r.itl_mean_ms or 0.0) <= slo_itl_ms)

def body(cfg: RunConfig, model: str, prompt: list[int] | str, server: str, stream: bool) -> dict:
  max_tokens = cfg.n_tokens + 1
  b = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": cfg.temperature, "seed": cfg.seed, "stream": stream}
  if stream: b["stream_options"] = {"include_usage": True}
  # each server family's own switch to keep generating past EOS, so every request makes max_tokens tokens
  if cfg.ignore_eos: b.update({"debug_config": {"ignore_eos": True}} if server == "mlc" else {"ignore_eos": True, "min_tokens": max_tokens})
  return b

def request(engine, b: dict, run: int, t_batch: float, scheduled_s: float | None = None) -> Result:
  r = Result(run, time.perf_counter() - t_batch, scheduled_s=scheduled_s)
  t0 = time.perf_counter()
  try:
    for ev in engine.stream(b):
      t = time.perf_counter() - t0
      if ev is None: r.headers_s = t; continue
      if isinstance(ev.get("usage"), dict): r.usage = ev["usage"]
      if isinstance(ev.get("timings"), dict) and isinstance(q := ev["timings"].get("queue_ms"), (int, float)): r.server_queue_ms = q
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
  # each step logs its own piece, so a key the server sent back split across pieces is scrubbed here, whole
  r.texts = getattr(engine, "redact_pieces", lambda pieces: pieces)(r.texts)
  return r

def cached_tokens(usage: dict | None) -> int | None:
  """The prompt tokens a server's cache supplied, as OpenAI reports them (usage.prompt_tokens_details.cached_tokens)."""
  details = (usage or {}).get("prompt_tokens_details")
  return details.get("cached_tokens") if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int) else None

def cache_hit(r: Result, expected_cached: int) -> bool | None:
  """Whether a cache served more of the request's prompt than the workload shares (None: the server does not say)."""
  return None if (c := cached_tokens(r.usage)) is None else c > expected_cached

def write(log: LogWriter, r: Result, ref_tokens: int | None, cfg: RunConfig, expected_cached: int):
  n_prompt = r.usage.get("prompt_tokens") if r.usage and isinstance(r.usage.get("prompt_tokens"), int) and r.usage["prompt_tokens"] > 0 else len(r.prompt)
  prev = 0.0
  for i, (t, piece) in enumerate(zip(r.times_s, r.texts)):
    gap = t - prev
    # a stream has no enqueue of its own per token: step 0's is the server's acceptance, later steps' the whole gap
    enqueue = min(r.headers_s if r.headers_s is not None else t, t) if i == 0 else gap
    log.step(run=r.run, phase="decode" if i else "prefill", step=i, position=n_prompt + i - 1 if i else 0, n_tokens=1 if i else n_prompt,
             token_id=None, enqueue_latency_ms=round(enqueue * 1e3, 4), total_latency_ms=round(gap * 1e3, 4), text=piece)
    prev = t
  usage = r.usage.get("completion_tokens") if r.usage else ref_tokens
  log.run(run=r.run, start_ms=round(r.start_s * 1e3, 4), headers_ms=None if r.headers_s is None else round(r.headers_s * 1e3, 4),
          e2e_latency_ms=None if r.end_s is None else round(r.end_s * 1e3, 4), n_token_chunks=len(r.times_s),
          usage_prompt_tokens=r.usage.get("prompt_tokens") if r.usage else None, usage_completion_tokens=usage,
          usage_source="stream" if r.usage else "reference request" if ref_tokens is not None else "none",
          tokens_match=None if usage is None or r.error else usage == len(r.times_s), finish_reason=r.finish_reason, error=r.error,
          scheduled_ms=None if r.scheduled_s is None else round(r.scheduled_s * 1e3, 4),
          send_lag_ms=None if r.send_lag_ms is None else round(r.send_lag_ms, 4), server_queue_ms=r.server_queue_ms,
          itl_mean_ms=None if r.itl_mean_ms is None else round(r.itl_mean_ms, 4), meets_slo=meets_slo(r, cfg.slo_ttft_ms, cfg.slo_itl_ms),
          prompt_tokens=len(r.prompt), prompt_sha256=workload.prompt_sha(r.prompt), usage_cached_tokens=cached_tokens(r.usage),
          cache_hit=cache_hit(r, expected_cached),
          client_cpu_s=None if r.client_cpu_s is None else round(r.client_cpu_s, 4))

def scrub(obj, redact):
  if isinstance(obj, str): return redact(obj)
  if isinstance(obj, dict): return {k: scrub(v, redact) for k, v in obj.items()}
  if isinstance(obj, list): return [scrub(v, redact) for v in obj]
  return obj

class RedactedLog(LogWriter):
  """A raw log that scrubs the API key from every string it writes, whatever the server sent (generated text,
  model names, error bodies): the key reaches no log, so no CSV or summary made from it."""
  def __init__(self, path: Path, redact):
    super().__init__(path)
    self.redact = redact
  def header(self, md: dict): super().header({k: self.redact(str(v)) for k, v in md.items()})
  def step(self, **step): super().step(**scrub(step, self.redact))
  def run(self, **totals): super().run(**scrub(totals, self.redact))
  def close(self, status: str = "ok"): super().close(self.redact(status))

def reference(engine, cfg: RunConfig, model: str) -> tuple[dict, str, str]:
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

def prompts_of(cfg: RunConfig) -> Prompts:
  """The configuration's prompts: its workload's, or (a configuration made without one) its one prompt, repeated."""
  w = Workload.from_dict(cfg.workload_spec) if cfg.workload_spec else Workload("repeated", prompt_ids=tuple(cfg.prompt_ids))
  return Prompts(w, cfg.seed, workload.stream_of(cfg.concurrency, cfg.request_rate))

def run(cfg: RunConfig, engine, log: LogWriter, say):
  model = engine.models[0] if engine.models else ""
  prompts = prompts_of(cfg)
  t0 = time.perf_counter()
  ref, fmt, why = reference(engine, cfg, model)
  usage = ref.get("usage") if isinstance(ref.get("usage"), dict) else {}
  send = (lambda ids: ids) if fmt == "ids" else prompts.text if prompts.tok else lambda ids: cfg.prompt_text
  b = lambda ids: body(cfg, model, send(ids), engine.server_name, stream=True)
  for i in range(cfg.warmup):  # warm-up 0's prompt is the reference request's: the next ones, never a measured one
    if (r := request(engine, b(prompts.warmup(i + 1)), -1, time.perf_counter())).error: raise EndpointError(f"warmup request {i + 1}: {r.error}")
  log.header({"model_name": model, "endpoint.prompt_format": why, "n_prompt_tokens_server": usage.get("prompt_tokens", ""),
              "endpoint.ignore_eos": ", ".join(k for k in ("ignore_eos", "min_tokens", "debug_config") if k in b([0])) or "off",
              "reference_completion_tokens": usage.get("completion_tokens", ""),
              "warmup_seconds": round(time.perf_counter() - t0, 3)})

  lock, results = threading.Lock(), []
  own_cpu = cfg.mode != "in-process"  # in-process, the engine's CPU time is the process's too
  def one(i: int, scheduled_s: float | None = None) -> Result:
    ids = prompts.ids(i)
    r = request(engine, b(ids), i, t_batch, scheduled_s)
    r.prompt, r.client_cpu_s = ids, time.process_time() - cpu0 if own_cpu else None
    with lock:
      write(log, r, usage.get("completion_tokens"), cfg, prompts.expected_cached)
      results.append(r)
    return r
  t_batch, cpu0 = time.perf_counter(), time.process_time()
  if cfg.request_rate: open_loop(cfg, one, t_batch)
  else: closed_loop(cfg, one, t_batch)
  if not cfg.request_rate and (bad := sorted((r for r in results if r.error), key=lambda r: r.run)):
    raise EndpointError(f"request {bad[0].run} of {len(results)}: {bad[0].error}")
  cpu_s = time.process_time() - cpu0
  runs = [{"start_ms": r.start_s * 1e3, "e2e_latency_ms": None if r.end_s is None else r.end_s * 1e3, "error": r.error,
           "n_token_chunks": len(r.times_s), "meets_slo": meets_slo(r, cfg.slo_ttft_ms, cfg.slo_itl_ms), "client_cpu_s": r.client_cpu_s,
           "send_lag_ms": r.send_lag_ms, "cache_hit": cache_hit(r, prompts.expected_cached)} for r in results]
  fig = load_figures(runs)
  if not fig["completed"]: raise EndpointError(f"no request of {len(results)} completed; the first: {min(results, key=lambda r: r.run).error}")
  queue = sorted(r.server_queue_ms for r in results if r.server_queue_ms is not None)
  say(f"{fig['completed']} of {len(results)} requests completed, {fig['wall_s']:.2f} s: {fig['tok_s']:.1f} tok/s aggregate (token chunks), "
      f"{fig['prompts_per_s']:.2f} prompts/s" + (f", goodput {fig['goodput_rps']:.2f} req/s" if fig["goodput_rps"] is not None else "")
      + (f", server queue p50 {queue[len(queue) // 2]:.0f} ms, max {queue[-1]:.0f} ms" if queue else "")
      + (f"; {fig['failed']} failed, e.g. {next(r.error for r in results if r.error)}" if fig["failed"] else "")
      + (f"; send lag p50 {fig['send_lag_ms_p50']:.2f} ms, p99 {fig['send_lag_ms_p99']:.2f} ms, max {fig['send_lag_ms_max']:.2f} ms"
         if fig["send_lag_ms_p99"] is not None else "")
      + (f"; client {cpu_s:.2f} CPU-s, {fig['client_cpu_share']:.2f} of a core" if own_cpu and fig["client_cpu_share"] is not None else ""))
  if fig["cache_hits"]:
    say(f"warning: {fig['cache_hits']} of {len(results)} requests were served from the server's prompt cache beyond the shared prefix asked "
        f"({prompts.expected_cached} tokens; workload {cfg.workload or 'repeated'}): their TTFT is a cache hit's")
  if own_cpu and (share := fig["client_cpu_share"]) is not None and share > stats.CLIENT_BOUND_SHARE:
    say(f"warning: client-bound: the client used {share:.2f} of a core (more than {stats.CLIENT_BOUND_SHARE:g}): its own CPU time is part of these timings")
  if (lag := fig["send_lag_ms_p99"]) is not None and lag > stats.CLIENT_LAG_MS:
    say(f"warning: client-bound: requests left {lag:.1f} ms behind their Poisson schedule, p99 (more than {stats.CLIENT_LAG_MS:g}): "
        "the load offered was not the schedule's; the server is not to blame")

def closed_loop(cfg: RunConfig, one, t_batch: float):
  """cfg.concurrency clients, each sending its next request when the last one ended; all stop at the first failure."""
  lock, todo, failed = threading.Lock(), itertools.count() if cfg.requests is None else iter(range(cfg.requests)), threading.Event()
  def client():
    while not failed.is_set():
      with lock: i = next(todo, None)
      if i is None or (cfg.duration_s is not None and time.perf_counter() - t_batch >= cfg.duration_s): return
      if one(i).error: failed.set()  # start no more; those in flight end by themselves, each bounded by its timeouts
  threads = [threading.Thread(target=client, daemon=True) for _ in range(cfg.concurrency)]
  for t in threads: t.start()
  for t in threads: t.join()

def open_loop(cfg: RunConfig, one, t_batch: float):
  """Sends each request at its arrival time, in its own thread, however many are still in flight: a server that falls
  behind shows longer queues and TTFTs, never a slower schedule. Each request ends by its deadline."""
  threads = []
  for i, at in enumerate(arrivals(cfg.request_rate, cfg.seed, cfg.requests, cfg.duration_s)):
    if (wait := t_batch + at - time.perf_counter()) > 0: time.sleep(wait)
    threads.append(t := threading.Thread(target=one, args=(i, at), daemon=True))
    t.start()
  for t in threads: t.join()

def parser(doc: str | None) -> argparse.ArgumentParser:
  p = cli.Parser(description=doc, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument("--endpoint", help="API base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (without it: MLC in-process)")
  p.add_argument("--served-model", help="endpoint: the served model's id (default: the first one /models lists)")
  p.add_argument("--server-name", help="endpoint: names the logs and CSV (default: mlc where /models says MLC-LLM, else endpoint)")
  p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="endpoint: the environment variable holding the API key, if any")
  p.add_argument("--size", nargs="+", default=[registry.DEFAULT_SIZE],
                 help=f"in-process: the model; endpoint: the model whose tokenizer makes the prompt ids, and a label ({', '.join(registry.MODELS)})")
  p.add_argument("--quantize", nargs="+", help=f"in-process: MLC quantization ({', '.join(mlc.QUANTIZATIONS)}; default q4f16_1); endpoint: a label (default unknown)")
  p.add_argument("--seed", nargs="+", type=int, default=[registry.DEFAULT_SEED])
  p.add_argument("--tokenizer", help="a local GGUF whose tokenizer makes the prompt ids (default: the registry model of --size)")
  w = p.add_argument_group("workload", "the prompts: by default every request its own, seeded by --seed (serving/workload.py)")
  w.add_argument("--prompt-tokens", type=int, help="each prompt's length in tokens, exactly (the mean where lengths vary; default: the length of "
                 "the registry's default prompt, 37 for SmolLM2's tokenizer); with --prompt, that prompt made N tokens by repeating it")
  w.add_argument("--prompt-lengths", choices=workload.LENGTHS, default="fixed", help="fixed, uniform within +-SPREAD, or normal with sd SPREAD (cut at 3 sd)")
  w.add_argument("--prompt-tokens-spread", type=cli.whole(0), default=0, help="SPREAD of --prompt-lengths, in tokens")
  w.add_argument("--shared-prefix-tokens", type=cli.whole(0), default=0, help="the first N tokens of every prompt the same: a prefix cache's use on purpose")
  w.add_argument("--dataset", type=Path, help="a JSONL file, one {\"prompt\": TEXT} per line, sent in a seeded order (cycled)")
  w.add_argument("--prompt", help="send this one prompt with every request instead (each request after the first a prompt-cache hit: flagged)")
  p.add_argument("--prompt-format", choices=["auto", "ids", "text"], default="auto", help="send the prompt as token ids, as text, or ids where the server takes them")
  p.add_argument("--n-tokens", type=int, default=registry.DEFAULT_N_TOKENS, help="tokens after the first (max_tokens = N + 1)")
  p.add_argument("--ignore-eos", action=argparse.BooleanOptionalAction, default=True, help="ask the server to generate past EOS")
  p.add_argument("--concurrency", nargs="+", type=int, help="closed loop: requests in flight at once, one configuration each (default: 1)")
  p.add_argument("--request-rate", nargs="+", type=float, help="open loop: Poisson arrivals per second, seeded by --seed, one configuration each")
  p.add_argument("--requests", "--num-requests", type=int, help="measured requests per configuration (default: 8, or all that --duration allows)")
  p.add_argument("--duration", type=float, help="seconds: send no request after this")
  p.add_argument("--slo-ttft-ms", type=float, help="goodput: a request's time to first token at most this")
  p.add_argument("--slo-itl-ms", type=float, help="goodput: a request's mean inter-token gap at most this")
  p.add_argument("--warmup-requests", dest="warmup", type=cli.whole(0), default=registry.DEFAULT_WARMUP, help="unmeasured streamed requests first (after one reference request)")
  p.add_argument("--temperature", type=float, default=0.0, help="0 is greedy")
  p.add_argument("--device", help="in-process: MLC's device (default cpu); endpoint: a label for what runs the server (default unknown)")
  p.add_argument("--stall-timeout", type=float, default=60.0, help="endpoint: seconds without data before a stream counts as stalled")
  p.add_argument("--request-timeout", type=float, default=600.0, help="endpoint: seconds a request may take in all")
  p.add_argument("-o", "--output-dir", type=Path, default=Path("benchmark_output"))
  return p

def plan(args: argparse.Namespace, backend: str) -> list[RunConfig]:
  if args.concurrency and args.request_rate: raise ValueError("--concurrency (closed loop) or --request-rate (open loop), not both: run them apart")
  if args.n_tokens < 1 or (args.requests or 1) < 1 or args.warmup < 0 or min(args.concurrency or [1]) < 1:
    raise ValueError("--n-tokens, --requests and --concurrency must be >= 1, --warmup >= 0")
  if min(args.request_rate or [1]) <= 0 or (args.duration or 1) <= 0 or min(args.slo_ttft_ms or 1, args.slo_itl_ms or 1) <= 0:
    raise ValueError("--request-rate, --duration, --slo-ttft-ms and --slo-itl-ms must be > 0")
  requests = args.requests or (None if args.duration else 8)
  loads = [{"request_rate": r} for r in args.request_rate] if args.request_rate else [{"concurrency": c} for c in args.concurrency or [1]]
  mode = "endpoint" if args.endpoint else "in-process"
  quantize = args.quantize or (["unknown"] if args.endpoint else ["q4f16_1"])
  if not args.endpoint:
    for q in quantize: mlc.check_quantize(q)
    if max(args.concurrency) > 1:
      raise ValueError("MLCEngine does not batch concurrent requests (MLC's docs: use AsyncMLCEngine): for concurrency, run `mlc_llm serve` and pass --endpoint")
  for s in args.size: formats.check_size(s)
  works = {s: workload_of(args, prepare.source_path(s, args.tokenizer)) for s in args.size}
  def config(s: str, q: str, seed: int, load: dict) -> RunConfig:
    prompts = Prompts(works[s], seed, workload.stream_of(load.get("concurrency"), load.get("request_rate")))
    ref = prompts.warmup(0)  # the reference request's prompt, one of its own
    return RunConfig(backend=backend, mode=mode, size=s, quantize=q, seed=seed, uuid=uuid.uuid4().hex[:8], concurrency=load.get("concurrency"),
                     requests=requests, warmup=args.warmup, n_tokens=args.n_tokens, temperature=args.temperature,
                     prompt_ids=ref, prompt_text=prompts.text(ref), prompt_format=args.prompt_format, ignore_eos=args.ignore_eos,
                     device=args.device or ("unknown" if args.endpoint else "cpu"), request_rate=load.get("request_rate"),
                     duration_s=args.duration, slo_ttft_ms=args.slo_ttft_ms, slo_itl_ms=args.slo_itl_ms,
                     workload=works[s].describe(), workload_spec=works[s].to_dict() | {"mean_tokens": prompts.mean_tokens},
                     threads=None, ctx=None, batch=None)  # the server's, which its /models says (the log's server.* keys)
  return [config(s, q, seed, load) for s, q, seed, load in itertools.product(args.size, quantize, args.seed, loads)]

def workload_of(args: argparse.Namespace, source: Path) -> Workload:
  """The workload the flags ask for, its prompts made with source's tokenizer."""
  if args.dataset and args.prompt is not None: raise ValueError("--dataset or --prompt, not both")
  shape = dict(lengths=args.prompt_lengths, spread=args.prompt_tokens_spread, shared_prefix=args.shared_prefix_tokens, tokenizer=str(source))
  if args.dataset and (args.prompt_tokens_spread or args.shared_prefix_tokens): raise ValueError("--prompt-tokens-spread and --shared-prefix-tokens shape generated prompts, not --dataset's: drop them")
  if args.dataset: return workload.dataset(args.dataset, source)
  if args.prompt is not None: return Workload("repeated", prompt_ids=tuple(prompt_ids(source, args.prompt, args.prompt_tokens)), **shape)
  return Workload("distinct", args.prompt_tokens or len(prompt_ids(source, registry.DEFAULT_PROMPT, None)), **shape)

def run_one(cfg: RunConfig, path: Path, engine, load_error: str | None) -> str:
  """Runs one configuration in this process (an HTTP client has nothing to crash; every wait is bounded)."""
  redact = getattr(engine, "redact", str)
  say = lambda m: print(f"  [{cfg.label}] {redact(m)}", file=sys.stderr, flush=True)
  log = RedactedLog(path, redact)
  try:
    md = metadata.collect_all()
    md.update(cfg.header(), **({"arrivals": f"poisson, seeded by seed {cfg.seed}"} if cfg.request_rate else {}),
              requests=cfg.requests if cfg.requests is not None else "", duration_s=cfg.duration_s or "",
              slo_ttft_ms=cfg.slo_ttft_ms or "", slo_itl_ms=cfg.slo_itl_ms or "", warmup=cfg.warmup,
              reference_prompt_token_ids=json.dumps(cfg.prompt_ids), workload_spec=json.dumps({k: v for k, v in cfg.workload_spec.items() if k != "tokenizer"}),
              sampling="greedy" if cfg.temperature <= 0 else f"temperature {cfg.temperature}, seeded by the server",
              timing="client side: TTFT from sending the request to the first token chunk, then the gaps between chunks")
    log.header(md)
    if cfg.mode == "in-process": engine = mlc.load(cfg, log=say)
    elif load_error: raise EndpointError(load_error)
    log.header({"backend_version": engine.version, "backend_device": engine.device_name, "server_name": engine.server_name,
                "knobs": knobs_text(engine.knobs), **engine.info})
    run(cfg, engine, log, say)
  except BaseException as e:  # noqa: BLE001 - any failure is recorded in the log; Ctrl-C is then passed on
    status = f"failed: {e}" if isinstance(e, EndpointError) else f"failed: {type(e).__name__}: {e}"
    log.close(status)
    say(status)
    if isinstance(e, KeyboardInterrupt): raise
    return status
  finally:
    if cfg.mode == "in-process" and engine is not None: engine.close()
  log.close("ok")
  return "ok"



def collate_main(argv: list[str] | None = None) -> int:
  p = cli.Parser(description="Collate the serving logs in a folder: MLC's into mlc_llm.csv, every other server's into {server}.csv.")
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of raw logs (default: %(default)s)")
  args = p.parse_args(argv)
  if not args.dir.is_dir():
    print(f"error: no folder {args.dir}: run a benchmark first, or pass -d DIR", file=sys.stderr)
    return 2
  if not (found := serving_backends(args.dir)): print(f"no serving logs in {args.dir}: run mlc_benchmark.py first", file=sys.stderr)
  rc = 0
  for backend in found: rc |= collate_and_say(backend, args.dir)
  return rc
