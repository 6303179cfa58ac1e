"""Serving experiments as files (`kind: serving`): a batching server under load, the study this project's serving
design made, on inferbench serve.

  plan     each set expands its lists into points: a server (its models, max batch, batch timeout) and a load level
           (a concurrency, or a request rate); a point two sets share is measured once and listed under both
  rounds   every point is measured `rounds` times, a log each: a load level's throughput is one number per log, so
           the round is its sample (analysis.py); rounds alternate the servers' order, so neither end of the session
           favours one server
  run      per round and server: start it on a free 127.0.0.1 port (serve.launch), measure each of its load levels
           with the endpoint client (run/load.py's run, the same as mlc_benchmark.py --endpoint; several models at once
           in parallel clients), stop it
  resume   a point with `rounds` ok logs in the output folder is done; one with fewer runs only the missing rounds
  workload each request its own seeded prompt (serving/workload.py: prompt_tokens, prompt_lengths, prompt_tokens_spread,
           a dataset), a shared_prefix_tokens prefix where the file or a set asks for one: part of the point
  report   collate, analysis, plots and deck (experiment.report), then the design's table, serving_sets.csv: each set's
           points with their workload, throughput, goodput and TTFT, the ratio to the same load without batching, the
           requests a prompt cache served unasked and the client's share of a core
"""
from __future__ import annotations
import argparse, itertools, sys, threading
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from inferbench.core import cli, formats, proc, registry, stats
from inferbench.core.names import interval
from inferbench.serving import client
from inferbench.models import prepare
from inferbench.core.formats import knob
from inferbench.store import resume

SERVER_NAMES = {"llamacpp": "inferbench_serve", "torch": "inferbench_serve_torch"}  # per server backend: names its logs and CSV, never pooled
Backend = Literal["llamacpp", "torch"]

class Set(BaseModel):
  """One row group of the design's table: the lists expand into every combination."""
  model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
  name: str
  backend: Backend | None = None               # the server's engine; default: the file's
  quantize: list[str] | None = None            # several: served together by one server, loaded at once
  max_batch: list[int] = Field([8], min_length=1)
  batch_timeout_ms: list[float] = [0.0]
  concurrency: list[int] | None = None         # closed loop
  request_rate: list[float] | None = None      # open loop: Poisson arrivals per second
  duration: float | None = Field(None, gt=0)   # open loop: send no request after this many seconds
  requests: int | None = Field(None, gt=0)     # default: the file's
  shared_prefix_tokens: list[int] | None = None  # default: the file's; several: one point each (prefix caching on purpose)

  @field_validator("quantize", "max_batch", "batch_timeout_ms", "concurrency", "request_rate", "shared_prefix_tokens", mode="before")
  @classmethod
  def one_is_a_list(cls, v): return v if isinstance(v, list) or v is None else [v]

  @model_validator(mode="after")
  def one_load(self):
    if (self.concurrency is None) == (self.request_rate is None): raise ValueError(f"set {self.name}: give concurrency or request_rate (one of them)")
    if self.request_rate is not None and self.duration is None and self.requests is None: raise ValueError(f"set {self.name}: a request_rate needs duration or requests")
    if min(self.max_batch) < 1 or min(self.concurrency or [1]) < 1 or min(self.request_rate or [1]) <= 0 or min(self.batch_timeout_ms) < 0 \
       or min(self.shared_prefix_tokens or [0]) < 0:
      raise ValueError(f"set {self.name}: max_batch and concurrency >= 1, request_rate > 0, batch_timeout_ms and shared_prefix_tokens >= 0")
    return self

class ServingExperiment(BaseModel):
  model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
  kind: Literal["serving"]
  name: str = "serving"
  size: str = registry.DEFAULT_SIZE
  backend: Backend = "llamacpp"         # inferbench serve --backend: llama.cpp's continuous batching, or PyTorch's dynamic batching
  quantize: str = "Q8_0"
  threads: int = Field(1, gt=0)         # server threads: the client needs a core of its own on the same machine
  ctx: int = Field(256, ge=16)          # per sequence: prompt + max_tokens
  n_tokens: int = Field(64, gt=0)       # tokens after the first, EOS ignored
  requests: int = Field(16, gt=0)       # measured requests per point and round (closed loop)
  warmup: int = Field(2, ge=0)
  rounds: int = Field(stats.MIN_RUNS_CI, gt=0)
  request_timeout: float = Field(120.0, gt=0)
  max_queue: int = Field(64, ge=0)
  slo_ttft_ms: float | None = Field(None, gt=0)
  slo_itl_ms: float | None = Field(None, gt=0)
  seed: int = registry.DEFAULT_SEED
  # the workload (serving/workload.py): distinct seeded prompts of prompt_tokens (default: the registry prompt's length),
  # their lengths fixed, uniform (+-spread) or normal (sd spread); or a JSONL dataset's prompts
  prompt_tokens: int | None = Field(None, gt=0)
  prompt_lengths: Literal["fixed", "uniform", "normal"] = "fixed"
  prompt_tokens_spread: int = Field(0, ge=0)
  shared_prefix_tokens: int = Field(0, ge=0)
  dataset: str | None = None
  output: str = "benchmark_output/serving"
  sets: list[Set] = Field(min_length=1)

  @model_validator(mode="after")
  def known(self):
    try:
      formats.check_size(self.size)
      for q in [self.quantize, *(q for s in self.sets for q in s.quantize or [])]: formats.quant_type(q)
    except formats.ModelError as e: raise ValueError(str(e))
    if len(names := [s.name for s in self.sets]) != len(set(names)): raise ValueError("sets: two sets of one name")
    return self

@dataclass(frozen=True, order=True)
class Server:
  quantize: tuple[str, ...]
  max_batch: int
  batch_timeout_ms: float
  backend: str = "llamacpp"

  @property
  def name(self) -> str: return SERVER_NAMES[self.backend]

  @property
  def label(self) -> str:
    return ("torch: " if self.backend == "torch" else "") + (f"max batch {self.max_batch}" + (f", timeout {self.batch_timeout_ms:g} ms" if self.max_batch > 1 else "")
            + (f", serving {' + '.join(self.quantize)}" if len(self.quantize) > 1 else ""))

@dataclass(frozen=True, order=True)
class Load:
  concurrency: int | None
  request_rate: float | None
  duration: float | None
  requests: int | None
  shared_prefix: int = 0       # the workload's: part of what the client sends

  @property
  def label(self) -> str:
    return (f"rate {self.request_rate:g}/s" if self.request_rate else f"concurrency {self.concurrency}") + (f", shared prefix {self.shared_prefix}" if self.shared_prefix else "")

Point = tuple[Server, Load]

def plan(exp: ServingExperiment) -> dict[Point, list[str]]:
  """Every point, in file order, with the sets it belongs to."""
  out: dict[Point, list[str]] = {}
  for s in exp.sets:
    for mb, timeout, c, r, prefix in itertools.product(s.max_batch, s.batch_timeout_ms, s.concurrency or [None], s.request_rate or [None],
                                                       s.shared_prefix_tokens or [exp.shared_prefix_tokens]):
      # a batch of one is full as soon as a request arrives: the timeout never applies, so it is not a setting
      server = Server(tuple(s.quantize or [exp.quantize]), mb, timeout if mb > 1 else 0.0, s.backend or exp.backend)
      load = Load(c, r, s.duration if r else None, s.requests or (None if r and s.duration else exp.requests), prefix)
      out.setdefault((server, load), []).append(s.name)
  return out

def server_command(exp: ServingExperiment, server: Server) -> list[str]:
  return [sys.executable, "-m", "inferbench.serving.server", "--backend", server.backend, "--size", exp.size, "--quantize", *server.quantize, "--max-batch", str(server.max_batch),
          "--batch-timeout-ms", f"{server.batch_timeout_ms:g}", "--threads", str(exp.threads), "--ctx", str(exp.ctx),
          "--max-queue", str(exp.max_queue), "--seed", str(exp.seed)]

def client_flags(exp: ServingExperiment, url: str, server: Server, load: Load, quantize: str, model: str, output: Path) -> argparse.Namespace:
  """The load client's settings for one load level of one served model."""
  return cli.defaults(client.parser(None), endpoint=url, server_name=server.name, served_model=model, size=[exp.size], quantize=[quantize],
                      device="cpu", n_tokens=exp.n_tokens, warmup=exp.warmup, seed=[exp.seed], request_timeout=exp.request_timeout,
                      stall_timeout=exp.request_timeout, output_dir=output, request_rate=[load.request_rate] if load.request_rate else None,
                      concurrency=None if load.request_rate else [load.concurrency], duration=load.duration, requests=load.requests,
                      slo_ttft_ms=exp.slo_ttft_ms, slo_itl_ms=exp.slo_itl_ms, prompt_tokens=exp.prompt_tokens, prompt_lengths=exp.prompt_lengths,
                      prompt_tokens_spread=exp.prompt_tokens_spread, shared_prefix_tokens=load.shared_prefix,
                      dataset=Path(exp.dataset) if exp.dataset else None)

def workload_text(exp: ServingExperiment, load: Load) -> str:
  """The workload a load level's logs name (their `workload` header), as the client makes it from its flags."""
  key = (exp.size, exp.prompt_tokens, exp.prompt_lengths, exp.prompt_tokens_spread, load.shared_prefix, exp.dataset)
  if key not in _described:
    args = client_flags(exp, "", Server((exp.quantize,), 1, 0.0), load, exp.quantize, "", Path("."))
    _described[key] = client.workload_of(args, prepare.source_path(exp.size)).describe()
  return _described[key]
_described: dict[tuple, str] = {}  # tokenizing (and a dataset's hash) once per workload

def _point_key(server_name: str, quantize: str, models_served: int, max_batch: int, batch_timeout_ms: float, load: Load, workload: str) -> tuple:
  return (server_name, quantize, models_served, max_batch, float(batch_timeout_ms), load.concurrency, load.request_rate, load.duration, load.requests, workload)

def done(exp: ServingExperiment, output_dir: Path) -> Counter:
  """How many ok logs each (model, server, load) of this file has in output_dir, read from the logs' headers."""
  def key(h: dict) -> tuple | None:
    if h.get("backend") not in SERVER_NAMES.values() or h.get("size") != exp.size or h.get("n_decode_steps") != str(exp.n_tokens): return None
    num = lambda k: float(h[k]) if h.get(k) else None
    load = Load(int(h["concurrency"]) if h.get("concurrency") else None, num("request_rate"), num("duration_s"),
                int(h["requests"]) if h.get("requests") else None)  # its shared prefix is in its workload's text
    try: return _point_key(h["backend"], h["quantize"], int(h.get("server.models_served", 1)), int(h["server.max_batch"]), float(h["server.batch_timeout_ms"]),
                           load, h.get("workload", ""))
    except (KeyError, ValueError): return None  # not this server's log
  return Counter({k: len(logs) for k, logs in resume.finished(output_dir, "*.txt", key).items()})

def missing_rounds(exp: ServingExperiment, point: Point, finished: Counter) -> int:
  server, load = point
  key = lambda q: _point_key(server.name, q, len(server.quantize), server.max_batch, server.batch_timeout_ms, replace(load, shared_prefix=0), workload_text(exp, load))
  return max(exp.rounds - min(finished[key(q)] for q in server.quantize), 0)

def served_names(exp: ServingExperiment, server: Server) -> dict[str, str]:
  """quantize -> the model id the server lists for it (its file's stem), as serve.model_paths names them."""
  return {q: prepare.quantized(prepare.source_path(exp.size), q, exp.threads).stem for q in server.quantize}

def run_round(exp: ServingExperiment, rnd: int, points: dict[Point, list[str]], finished: Counter, output_dir: Path) -> list[str]:
  """One round: each server that has points left in this round, in this round's order. Returns failed statuses."""
  from inferbench.run import load as load_command
  by_server: dict[Server, list[Load]] = {}
  for (server, load) in points:
    if missing_rounds(exp, (server, load), finished) > 0: by_server.setdefault(server, []).append(load)
  order = sorted(by_server)
  if rnd % 2: order.reverse()
  failures = []
  for i, server in enumerate(order, 1):
    names = served_names(exp, server)
    print(f"round {rnd + 1}/{exp.rounds}, server {i}/{len(order)}: {server.label}: {', '.join(l.label for l in by_server[server])}",
          file=sys.stderr, flush=True)
    try:
      with proc.launch(server_command(exp, server), output_dir / "servers" / f"{server.name}_{'_'.join(server.quantize)}_mb{server.max_batch}_t{server.batch_timeout_ms:g}.log") as srv:
        for load in by_server[server]:
          rcs = [0] * len(names)
          def client(j: int, q: str):
            rcs[j] = load_command.run(client_flags(exp, srv.url, server, load, q, names[q], output_dir))
          threads = [threading.Thread(target=client, args=(j, q)) for j, q in enumerate(names)]
          for t in threads: t.start()
          for t in threads: t.join()
          if any(rcs): failures.append(f"{server.label}, {load.label}: a request failed (see its log)")
    except RuntimeError as e: failures.append(f"{server.label}: {e}")  # the server did not start: its points stay to run
  return failures

def run(exp: ServingExperiment, path: Path, dry_run: bool = False) -> int:
  from inferbench.report.pipeline import report
  output_dir = Path(exp.output)
  points = plan(exp)
  finished = done(exp, output_dir)
  rows = [{"sets": ", ".join(sets), "models": " + ".join(s.quantize), "server": s.label, "load": l.label,
           "requests": l.requests or f"{l.duration:g} s", "rounds to run": missing_rounds(exp, (s, l), finished)} for (s, l), sets in points.items()]
  print(stats.format_table(rows, list(rows[0])), file=sys.stderr)
  todo = sum(r["rounds to run"] for r in rows)
  print(f"{exp.name}: {len(points)} point(s) x {exp.rounds} round(s), {todo} log(s) to make in {output_dir}", file=sys.stderr, flush=True)
  if dry_run: return 0
  output_dir.mkdir(parents=True, exist_ok=True)
  failures = []
  for rnd in range(exp.rounds):
    failures += run_round(exp, rnd, points, finished, output_dir)
    finished = done(exp, output_dir)
  report(output_dir)
  table = design_table(exp, points, output_dir)
  if len(table):
    from inferbench.store.collate import write_csv
    write_csv(output_dir / "serving_sets.csv", list(table.columns), table)
    print(stats.format_table(table.to_dict("records"), list(table.columns)))
    print(f"{output_dir / 'serving_sets.csv'}: the design's table, {len(table)} rows", file=sys.stderr)
  for f in failures: print(f"FAILED {f}", file=sys.stderr)
  return 1 if failures else 0

def design_table(exp: ServingExperiment, points: dict[Point, list[str]], output_dir: Path) -> pd.DataFrame:
  """Each set's points with analysis.py's figures: aggregate tok/s, the median over rounds [t CI over rounds],
  prompts/s, goodput, TTFT and ITL p50, and the ratio to the no-batching server at the same load [bootstrap CI over
  rounds]."""
  from inferbench.analyse.analysis import AnalysisError, read_ratios, read_summary
  try: summary = read_summary(output_dir / "summary.csv")
  except AnalysisError: return pd.DataFrame()
  ratios = read_ratios(output_dir / "ratios.csv")
  s = summary[summary["backend"].isin(SERVER_NAMES.values()) & (summary["size"] == exp.size)]
  value = lambda k: knob(s["knobs"], k).astype(float)
  s = s.assign(max_batch=value("max_batch"), timeout=value("batch_timeout_ms"), served=value("models_served").fillna(1),
               conc=pd.to_numeric(s["concurrency"], errors="coerce"), rate=pd.to_numeric(s["request_rate"], errors="coerce"),
               work=s["workload"] if "workload" in s else "")
  out = []
  for set_ in exp.sets:
    for server, load in sorted(p for p, sets in points.items() if set_.name in sets):
      for q in server.quantize:
        work = workload_text(exp, load)
        m = s[(s["backend"] == server.name) & (s["quantize"] == q) & (s["max_batch"] == server.max_batch) & (s["timeout"] == server.batch_timeout_ms) & (s["served"] == len(server.quantize))
              & ((s["conc"] == load.concurrency) if load.concurrency else (s["rate"] == load.request_rate)) & (s["work"] == work)]
        dec, pre = m[m["phase"] == "decode"], m[m["phase"] == "prefill"]
        if dec.empty: continue
        d = dec.iloc[0]
        r = ratios[(ratios["config"] == d["config"]) & (ratios["kind"] == "setting") & (ratios["phase"] == "decode")
                   & (knob(ratios["baseline_knobs"], "max_batch") == "1")] if len(ratios) else ratios
        out.append({"set": set_.name, "model": q, "server": server.label, "load": load.label, "workload": f"{work}, {d['n_prompt_tokens']} prompt tokens",
                    "rounds": int(d["n_logs"]),
                    "aggregate_tok_s": round(d["aggregate_tok_s_median"], 1), "aggregate_tok_s_ci95": interval(d["aggregate_tok_s_ci95_low"], d["aggregate_tok_s_ci95_high"]),
                    "prompts_per_s": round(d["prompts_per_s_median"], 2),
                    "goodput_rps": "" if np.isnan(d["goodput_rps_median"]) else round(d["goodput_rps_median"], 2),
                    "ttft_ms_p50": "" if pre.empty else round(pre.iloc[0]["ttft_ms_p50"], 1), "itl_ms_p50": round(d["latency_ms_p50"], 1),
                    "vs_max_batch_1": "" if r.empty else f"{r.iloc[0]['ratio']:.2f}x",
                    "vs_max_batch_1_ci95": "" if r.empty else interval(r.iloc[0]["ratio_ci95_low"], r.iloc[0]["ratio_ci95_high"]),
                    "cache_hit_requests": "" if np.isnan(d.get("cache_hit_requests", np.nan)) else int(d["cache_hit_requests"]),
                    "client_cpu_share": "" if np.isnan(d.get("client_cpu_share_median", np.nan)) else round(d["client_cpu_share_median"], 2)})
  return pd.DataFrame(out)
