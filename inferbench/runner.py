"""The benchmark command every backend script shares: plan the configurations, run each in a fresh worker
process, record a failure as a failed log and go on, then print a summary table."""
from __future__ import annotations
import importlib.util
if importlib.util.find_spec("llama_cpp"): import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
import argparse, itertools, json, os, re, shutil, signal, socket, subprocess, sys, time, uuid
from collections import deque
from pathlib import Path
from typing import Any, Callable
import defaults
from . import backends, models, roofline, stats
from .collate import rows
from .rawlog import LogError, LogWriter, append_status, parse
from .worker import RunConfig

def parser(backend: str, doc: str | None = None) -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=doc, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument("--size", nargs="+", default=[defaults.DEFAULT_SIZE], help=f"model sizes: {', '.join(defaults.MODELS)}")
  p.add_argument("--quantize", nargs="+", default=[defaults.DEFAULT_QUANTIZE],
                 help=f"{', '.join(defaults.QUANT_ALIASES)} or a GGUF type ({', '.join(models.FTYPES)})"
                      + (": the GGUF files the other backends read; or MLX's own affine quantization mlx-q4, mlx-q8, mlx-q4-g32 "
                         "(bits 2-8, group size 32/64/128)" if backend == "mlx" else ""))
  p.add_argument("--seed", nargs="+", type=int, default=[defaults.DEFAULT_SEED])
  p.add_argument("--weights", nargs="+", choices=models.WEIGHTS, default=[defaults.DEFAULT_WEIGHTS],
                 help="real: the model's published weights; synthetic: random seeded weights of the size's exact architecture "
                      "(for speed only: its text is meaningless, every log and CSV row says so)")
  p.add_argument("--model", help="benchmark this local GGUF instead of a registry size (--size then only labels it)")
  p.add_argument("--prompt", default=defaults.DEFAULT_PROMPT)
  p.add_argument("--prompt-tokens", type=int, help="make the prompt exactly N tokens (repeating the prompt's tokens)")
  p.add_argument("--n-tokens", type=int, default=defaults.DEFAULT_N_TOKENS, help="decode steps after the prefill")
  p.add_argument("--runs", type=int, default=defaults.DEFAULT_RUNS, help="measured runs, at least")
  p.add_argument("--min-seconds", type=float, default=defaults.DEFAULT_MIN_SECONDS, help="measured time, at least")
  p.add_argument("--warmup", type=int, default=defaults.DEFAULT_WARMUP, help="unmeasured runs first")
  p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="CPU threads")
  p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu", help="cuda: all layers on the GPU (llama.cpp), DEV=CUDA (tinygrad)")
  p.add_argument("--ctx", type=int, default=defaults.DEFAULT_CTX, help="context length (KV cache size)")
  p.add_argument("--temperature", type=float, default=0.0, help="0 is greedy; above 0 samples, seeded by --seed")
  if backend == "tinygrad": p.add_argument("--beam", nargs="+", type=int, default=[0], help="tinygrad BEAM search width (JITBEAM)")
  if backend == "llamacpp": p.add_argument("--flash-attn", nargs="+", choices=["off", "on"], default=["off"])
  if backend == "mlx": p.add_argument("--pipeline", nargs="+", choices=["on", "off"], default=["on"],
                                      help="on: queue the next step before reading this token, as mlx-lm's generate_step (the headline); "
                                           "off: each step built, evaluated and read alone")
  if backend == "mlx": p.add_argument("--dtype", nargs="+", choices=["float32", "float16", "bfloat16"],
                                      help="compute dtype of MLX's floating weights (and quantized scales) and activations; default: float32 on "
                                           "the CPU (MLX's x86 kernels have no fast half precision), float16 on the GPU")
  p.add_argument("--timeout", type=float, help="seconds before a configuration is stopped and recorded as failed")
  p.add_argument("-o", "--output-dir", type=Path, default=Path("benchmark_output"))
  return p

def cuda_available() -> bool:
  return shutil.which("nvidia-smi") is not None and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0

def prompt_ids(source: Path, text: str, n: int | None) -> list[int]:
  """Tokenized once, here, so every backend and configuration gets the very same ids."""
  from .backends.llamacpp import Tokenizer
  ids = Tokenizer(source).encode(text)
  if not ids: raise ValueError("the prompt is empty: pass --prompt TEXT")
  return ids if n is None else (ids * (n // len(ids) + 1))[:n]

def plan(backend: str, args: argparse.Namespace) -> list[RunConfig]:
  """Every combination of the flags given several values. Bad names fail here, before anything runs."""
  for q in args.quantize:
    models.quant_type(q)
    if models.is_mlx(q) and backend != "mlx": raise ValueError(f"{q} is MLX's own quantization: only mlx_benchmark.py runs it")
  if not args.model:
    for s in args.size: models.check_size(s)
  if args.n_tokens < 1 or args.runs < 1 or args.warmup < 0: raise ValueError("--n-tokens and --runs must be >= 1, --warmup >= 0")
  device = ("cuda" if cuda_available() else "cpu") if args.device == "auto" else args.device
  if device == "cuda" and not cuda_available():
    raise ValueError("--device cuda, but no CUDA device is visible (nvidia-smi -L found none): use --device cpu, or run on a machine with an NVIDIA GPU and driver")
  if "synthetic" in args.weights and args.model: raise ValueError("--weights synthetic writes a registry architecture: pass --size, not --model")
  sizes = args.size if not args.model or args.size != [defaults.DEFAULT_SIZE] else [Path(args.model).stem]
  ids = {(s, w): prompt_ids(models.source_path(s, args.model, w), args.prompt, args.prompt_tokens) for s in sizes for w in args.weights}
  variants = [{"beam": b} for b in args.beam] if backend == "tinygrad" else \
             [{"flash_attn": f == "on"} for f in args.flash_attn] if backend == "llamacpp" else \
             [{"pipeline": p == "on", "dtype": d} for p in args.pipeline for d in args.dtype or [""]] if backend == "mlx" else [{}]
  return [RunConfig(backend=backend, size=size, quantize=q, seed=seed, uuid=uuid.uuid4().hex[:8], prompt_ids=ids[size, w],
                    model=args.model, weights=w, n_tokens=args.n_tokens, runs=args.runs, warmup=args.warmup, min_seconds=args.min_seconds,
                    threads=args.threads, device=device, ctx=args.ctx, temperature=args.temperature, **v)
          for size, w, q, seed, v in itertools.product(sizes, args.weights, args.quantize, args.seed, variants)]

def log_name(cfg: RunConfig) -> str:
  clean = lambda s: re.sub(r"[^A-Za-z0-9.-]+", "-", str(s))
  size = cfg.size + ("-synthetic" if cfg.weights == "synthetic" else "")
  return f"{cfg.backend}_{clean(socket.gethostname())}_{clean(size)}_{clean(cfg.quantize)}_seed{cfg.seed}_uuid{cfg.uuid}.txt"

def run_one(cfg: RunConfig, path: Path, timeout: float | None) -> str:
  """Runs one configuration in a worker process and makes sure its log ends with a status. Returns that status."""
  env = {**os.environ, **getattr(backends.get(cfg.backend), "environment", lambda c: {})(cfg)}
  cmd = [sys.executable, "-m", "inferbench.worker", json.dumps(cfg.__dict__), str(path)]
  tail: deque[str] = deque(maxlen=5)
  proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, errors="replace", env=env, cwd=Path(__file__).parent.parent)
  deadline = time.monotonic() + timeout if timeout else None
  try:
    for line in proc.stderr:  # pass the worker's progress through, keep the last lines to explain a crash
      sys.stderr.write(line)
      if not line.lstrip().startswith("["): tail.append(line.strip())  # not a progress line: may explain a crash
      if deadline and time.monotonic() > deadline: proc.kill()
    rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()) if deadline else None)
  except subprocess.TimeoutExpired:
    proc.kill(); rc = proc.wait()
  except KeyboardInterrupt:
    proc.kill(); proc.wait()
    _end(cfg, path, "failed: interrupted (Ctrl-C)")
    raise
  timed_out = deadline is not None and time.monotonic() > deadline
  why = (f"timed out after {timeout:g} s" if timed_out else
         f"killed by {signal.Signals(-rc).name}" + (" (out of memory?)" if rc == -signal.SIGKILL else "") if rc < 0 else
         f"worker exited with code {rc}") + (f": {tail[-1]}" if tail else "")
  return _end(cfg, path, f"failed: {why}")

def _end(cfg: RunConfig, path: Path, status: str) -> str:
  """Ends a log the worker could not end itself; returns the log's status."""
  if not path.exists():
    w = LogWriter(path)
    w.header({"backend": cfg.backend, "size": cfg.size, "quantize": cfg.quantize, "seed": cfg.seed, "uuid": cfg.uuid})
    w.close(status)
    return status
  try: return parse(path).status
  except LogError:
    append_status(path, status)
    return status

def summarize(path: Path) -> dict:
  log = parse(path)
  h = log.header
  row = {"backend": h.get("backend"), "size": h.get("size"), "weights": h.get("weights"), "quantize": h.get("quantize"),
         "seed": h.get("seed"), "device": h.get("device"), "variant": variant(h), "status": log.status[:40]}
  steps = [r for r in rows(log) if r.get("phase")] if log.ok else []
  dec = [r["total_latency_ms"] for r in steps if r["phase"] == "decode"]
  pre = [r["tokens_per_sec"] for r in steps if r["phase"] == "prefill"]
  if dec:
    d, ttft = stats.describe(dec), stats.describe(r["total_latency_ms"] for r in steps if r["phase"] == "prefill")
    row.update({"decode tok/s": 1e3 / d["median"], "prefill tok/s": stats.describe(pre)["median"],
                "p50 ms": d["median"], "p99 ms": d["p99"], "TTFT p50 ms": ttft["median"], "TTFT p99 ms": ttft["p99"],
                "cv": d["cv"], "runs": len(pre)})
    pct = [r["pct_of_roofline"] for r in steps if r["phase"] == "decode" and r.get("pct_of_roofline")]
    if pct: row["% roofline"] = stats.describe(pct)["median"]
    if h.get("concurrency"):  # a serving log: requests in flight, batch throughput, stream checked against usage
      row.update({"conc": int(h["concurrency"]), "agg tok/s": steps[0]["aggregate_tokens_per_sec"],
                  "tokens match": "yes" if all(r.get("tokens_match") for r in log.runs) else "no"})
    internal = sum(r.get("internal_decode_ms") or 0 for r in log.runs)
    if internal: row["harness/internal"] = sum(dec) / internal
  return row

def variant(h: dict) -> str:
  """The backend setting a configuration varies: tinygrad's BEAM width, llama.cpp's flash attention, MLX's pipelining and dtype."""
  if "tinygrad.beam" in h: return f"beam={h['tinygrad.beam']}"
  if "llamacpp.flash_attn" in h: return f"fa={'on' if h['llamacpp.flash_attn'] == '1' else 'off'}"
  if "mlx.pipeline" in h: return f"pipeline={'on' if h['mlx.pipeline'] == '1' else 'off'} {h.get('mlx.dtype')}"
  return ""

SUMMARY_COLUMNS = ["backend", "size", "weights", "quantize", "seed", "device", "variant", "conc", "runs", "decode tok/s",
                   "% roofline", "prefill tok/s", "p50 ms", "p99 ms", "TTFT p50 ms", "TTFT p99 ms", "cv", "agg tok/s",
                   "tokens match", "harness/internal", "status"]

def run_all(configs: list, output_dir: Path, run: Callable[[Any, Path], str]) -> list[dict]:
  """Runs each configuration with progress lines, then prints the summary table. Returns its rows."""
  output_dir.mkdir(parents=True, exist_ok=True)
  paths = []
  for i, cfg in enumerate(configs, 1):
    path = output_dir / log_name(cfg)
    print(f"[{i}/{len(configs)}] {cfg.label} -> {path}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    status = run(cfg, path)
    print(f"[{i}/{len(configs)}] {cfg.label}: {status} in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    paths.append(path)
  summary = [summarize(p) for p in paths]
  print(stats.format_table(summary, [c for c in SUMMARY_COLUMNS if any(c in r for r in summary)]))
  noisy = [r for r in summary if r.get("cv", 0) >= stats.NOISY_CV]
  if noisy: print(f"warning: {len(noisy)} configuration(s) noisy (decode latency stdev >= {stats.NOISY_CV:.0%} of mean)", file=sys.stderr)
  return summary

def main(backend: str, argv: list[str] | None = None, doc: str | None = None) -> int:
  args = parser(backend, doc).parse_args(argv)
  try: configs = plan(backend, args)
  except (models.ModelError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  args.output_dir.mkdir(parents=True, exist_ok=True)
  try:
    bw = roofline.host_bandwidth(configs[0].device)
    print(f"roofline: {configs[0].device} bandwidth {bw['gb_s']:,.1f} GB/s ({bw['method']}; cached in {roofline.cache_path(configs[0].device)})",
          file=sys.stderr, flush=True)
  except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as e:
    print(f"warning: no roofline, the bandwidth measurement failed: {e}", file=sys.stderr)
  summary = run_all(configs, args.output_dir, lambda cfg, path: run_one(cfg, path, args.timeout))
  return 0 if all(r["status"] == "ok" for r in summary) else 1
