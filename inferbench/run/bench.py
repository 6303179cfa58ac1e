"""The benchmark command every backend script shares: plan the configurations, run each in a fresh worker
process, record a failure as a failed log and go on, then print a summary table."""
from __future__ import annotations
import importlib.util
if importlib.util.find_spec("llama_cpp"): import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
import argparse, itertools, signal, subprocess, sys, uuid
from pathlib import Path
from inferbench import backends
from inferbench.core import cli, memory, metadata, formats, names, registry, proc, stats
from inferbench.models import prepare
from inferbench.measure import bandwidth
from inferbench.models.prepare import prompt_ids
from inferbench.run.local import run_all, run_limited
from inferbench.backends.base import NoKnobs, knob_values
from inferbench.core.config import RunConfig

def parser(backend: str, doc: str | None = None) -> argparse.ArgumentParser:
  p = cli.Parser(description=doc, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument("--size", nargs="+", default=[registry.DEFAULT_SIZE], help=f"model sizes: {', '.join(registry.MODELS)}")
  p.add_argument("--quantize", nargs="+", default=[registry.DEFAULT_QUANTIZE],
                 help=f"{', '.join(registry.QUANT_ALIASES)} or a GGUF type ({', '.join(formats.FTYPES)})"
                      + getattr(backends.get(backend), "QUANTIZE_HELP", ""))  # a backend's own quantization, where it has one
  p.add_argument("--seed", nargs="+", type=cli.whole(0), default=[registry.DEFAULT_SEED])
  p.add_argument("--weights", nargs="+", choices=formats.WEIGHTS, default=[registry.DEFAULT_WEIGHTS],
                 help="real: the model's published weights; synthetic: random seeded weights of the size's exact architecture "
                      "(for speed only: its text is meaningless, every log and CSV row says so)")
  p.add_argument("--model", help="benchmark this local GGUF instead of a registry size (--size then only labels it)")
  p.add_argument("--prompt", nargs="+", default=[registry.DEFAULT_PROMPT], help="one or several prompts")
  p.add_argument("--prompt-tokens", nargs="+", type=cli.whole(1),
                 help="make each prompt exactly N tokens (repeating its tokens): the context depth decoding starts at")
  p.add_argument("--n-tokens", nargs="+", type=cli.whole(1), default=[registry.DEFAULT_N_TOKENS], help="decode steps after the prefill")
  p.add_argument("--runs", type=cli.whole(1), default=registry.DEFAULT_RUNS, help="measured runs, at least")
  p.add_argument("--min-seconds", type=cli.number(0), default=registry.DEFAULT_MIN_SECONDS, help="measured time, at least")
  p.add_argument("--target-ci", type=cli.number(0, inclusive=False), metavar="PCT",
                 help="after --runs (at least 3) and --min-seconds, go on measuring until the decode tok/s 95%% interval over runs "
                      "is within +-PCT%% of its median, or --max-runs / --max-seconds are spent; the log says which stopped it")
  p.add_argument("--max-runs", type=cli.whole(stats.MIN_RUNS_CI), metavar="N",
                 help=f"with --target-ci: at most N measured runs, {registry.DEFAULT_MAX_RUNS} if not given; at least {stats.MIN_RUNS_CI} (an interval needs them)")
  p.add_argument("--max-seconds", type=cli.number(0, inclusive=False), metavar="S",
                 help=f"with --target-ci: no further run after S measured seconds, {registry.DEFAULT_MAX_SECONDS:g} if not given; "
                      "the floor of --runs and --min-seconds still holds")
  p.add_argument("--warmup", type=cli.whole(0), default=registry.DEFAULT_WARMUP, help="unmeasured runs first")
  p.add_argument("--threads", nargs="+", type=cli.whole(1), default=[registry.DEFAULT_THREADS], help="CPU threads")
  p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                 help="auto: cuda where nvidia-smi lists a GPU, else cpu (the log says which); cuda: all layers on the GPU (llama.cpp), DEV=CUDA (tinygrad)")
  p.add_argument("--ctx", nargs="+", type=int, default=[registry.DEFAULT_CTX],
                 help="context length of each sequence (KV cache positions): at least the prompt + --n-tokens")
  p.add_argument("--batch", nargs="+", type=cli.whole(1), default=[1], help="independent sequences decoded together, one call per step")
  p.add_argument("--temperature", nargs="+", type=cli.number(0), default=[0.0], help="0 is greedy; above 0 samples, seeded by --seed")
  p.add_argument("--memory-limit", help="run each worker under this much memory (e.g. 600MiB): cgroup v2 memory.max where "
                                        "allowed, else RLIMIT_AS (virtual memory); running out is recorded as a result")
  for k in knob_values(getattr(backends.get(backend), "Knobs", NoKnobs)):  # the backend's own settings, each a flag
    p.add_argument(k["flag"], nargs="+", default=[k["default"]], choices=k["choices"] or None,
                   type=cli.whole(0) if k["kind"] is int else None, help=k["help"])
  p.add_argument("--timeout", type=cli.number(0, inclusive=False), help="seconds before a configuration is stopped and recorded as failed")
  p.add_argument("-o", "--output-dir", type=Path, default=Path("benchmark_output"))
  cli.fleet_flags(p)
  return p

def check_ctx(ctx: int, n_prompt: int, n_tokens: int):
  """Refuses a context that cannot hold a run, before anything runs (the backend would fail after loading)."""
  if ctx < n_prompt + n_tokens:
    raise ValueError(f"--ctx {ctx} is smaller than the prompt ({n_prompt} tokens) + --n-tokens {n_tokens} = {n_prompt + n_tokens}: "
                     f"pass --ctx {n_prompt + n_tokens} or more, or fewer --n-tokens")

def precision(args: argparse.Namespace) -> dict:
  """RunConfig's --target-ci fields: the caps' defaults where a target is given, nothing without one. Raises ValueError."""
  target, most, seconds = (getattr(args, k, None) for k in ("target_ci", "max_runs", "max_seconds"))
  if target is None:
    if most is not None or seconds is not None:
      raise ValueError(f"{'--max-runs' if most is not None else '--max-seconds'} bounds the runs --target-ci adds: pass --target-ci PCT too, or drop it")
    return {}
  if target <= 0: raise ValueError(f"--target-ci {target:g}: pass a percentage above 0 (e.g. 5 for +-5%)")
  most = registry.DEFAULT_MAX_RUNS if most is None else most
  seconds = registry.DEFAULT_MAX_SECONDS if seconds is None else seconds
  if most < (least := max(stats.MIN_RUNS_CI, args.runs)):
    raise ValueError(f"--max-runs {most}: below the {least} runs always measured (--runs, and {stats.MIN_RUNS_CI} for an interval): pass more")
  if seconds <= 0 or seconds < args.min_seconds:
    raise ValueError(f"--max-seconds {seconds:g}: below --min-seconds {args.min_seconds:g} (or not above 0): pass more")
  return {"target_ci_pct": float(target), "max_runs": most, "max_seconds": float(seconds)}

def plan(backend: str, args: argparse.Namespace) -> list[RunConfig]:
  """Every combination of the flags given several values. Bad names and values fail here, before anything runs."""
  precise = precision(args)
  for q in args.quantize:
    formats.quant_type(q)
    if (owner := formats.owner(q)) and owner != backend:
      raise ValueError(f"{q} is {names.name(owner)}'s own quantization: only {owner}_benchmark.py runs it")
  if not args.model:
    for s in args.size: formats.check_size(s)
  most = getattr(backends.get(backend), "MAX_BATCH", 1)
  if bad := [b for b in args.batch if b > most]:
    raise ValueError(f"--batch {bad[0]}: {backend} decodes at most {most} sequence(s) at once" +
                     (" (batch is not supported by this backend)" if most == 1 else ""))
  limit = memory.parse_size(args.memory_limit) if args.memory_limit else None
  if limit is not None and limit < (need := memory.python_needs_bytes()):
    raise ValueError(f"--memory-limit {args.memory_limit}: below the {memory.format_size(need)} a worker needs before loading any "
                     f"model (Python and its libraries, as {memory.limit_kind()} counts them): raise it")
  cluster = getattr(args, "cluster", None)  # on a cluster each node resolves auto, and has the GPU or not
  device = args.device if cluster else ("cuda" if metadata.cuda_available() else "cpu") if args.device == "auto" else args.device
  if device == "cuda" and not cluster and not metadata.cuda_available():
    raise ValueError("--device cuda, but no CUDA device is visible (nvidia-smi -L found none): use --device cpu, or run on a machine with an NVIDIA GPU and driver")
  if "synthetic" in args.weights and args.model: raise ValueError("--weights synthetic writes a registry architecture: pass --size, not --model")
  sizes = args.size if not args.model or args.size != [registry.DEFAULT_SIZE] else [Path(args.model).stem]
  ids = {(s, w, p, n): prompt_ids(prepare.source_path(s, args.model, w), p, n)
         for s in sizes for w in args.weights for p in args.prompt for n in args.prompt_tokens or [None]}
  for i in ids.values():
    for n, ctx in itertools.product(args.n_tokens, args.ctx): check_ctx(ctx, len(i), n)
  knobs = knob_values(getattr(backends.get(backend), "Knobs", NoKnobs))
  variants = [{"knobs": {k["name"]: x for k, v in zip(knobs, values) if not ((x := k["parse"](v)) == k["default_value"] and k["later"])}}
              for values in itertools.product(*(getattr(args, k["name"], [k["default"]]) for k in knobs))]
  configs = [RunConfig(backend=backend, size=size, quantize=q, seed=seed, uuid=uuid.uuid4().hex[:8], prompt_ids=ids[size, w, p, pt],
                    model=args.model, weights=w, n_tokens=n, runs=args.runs, warmup=args.warmup, min_seconds=args.min_seconds,
                    threads=th, device=device, ctx=ctx, temperature=t, batch=b, memory_limit_bytes=limit, nodes=nodes, **precise, **v)
          for size, w, q, p, pt, n, t, ctx, th, b, seed, v, nodes in itertools.product(
            sizes, args.weights, args.quantize, args.prompt, args.prompt_tokens or [None], args.n_tokens, args.temperature,
            args.ctx, args.threads, args.batch, args.seed, variants, getattr(args, "nodes", None) or [""])]
  if (check := getattr(backends.get(backend), "check_gpus", None)) and not cluster:  # a cluster's nodes are checked by the fleet
    for c in configs: check(c, metadata.gpu_count())
  return configs

def main(backend: str, argv: list[str] | None = None, doc: str | None = None) -> int:
  args = parser(backend, doc).parse_args(argv)
  try:
    cli.check_fleet_flags(args)
    configs = plan(backend, args)
    cli.output_dir(args.output_dir)
  except (formats.ModelError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if args.device == "auto" and not args.cluster: print(f"device: auto -> {configs[0].device} ({metadata.gpu_line() or 'nvidia-smi lists no GPU'})", file=sys.stderr)
  if args.cluster:
    from inferbench.run import fleet
    return fleet.main(configs, args.output_dir, args.cluster, args.retries, args.timeout)
  try:
    device = configs[0].device
    bw, fl = bandwidth.host_bandwidth(device), bandwidth.host_ceiling(device, "compute")
    print(f"rooflines: {device} bandwidth {bw['gb_s']:,.1f} GB/s ({bw['method']}), compute {fl['gflop_s']:,.1f} GFLOP/s ({fl['method']}); "
          f"cached in {bandwidth.cache_path(device).parent}", file=sys.stderr, flush=True)
  except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as e:
    print(f"warning: no roofline, a ceiling measurement failed: {e}", file=sys.stderr)
  try:
    with proc.stop_on(signal.SIGTERM, signal.SIGHUP):  # the running configuration's log says why it stopped
      done = run_all(configs, args.output_dir, lambda cfg, path: run_limited(cfg, path, args.timeout))  # under --memory-limit, as its help says
  except (KeyboardInterrupt, proc.Stopped) as e:
    print(f"stopped: {proc.interrupted(e)}", file=sys.stderr)
    return proc.exit_code(e)
  return 0 if all(r["status"] == "ok" for r in done) else 1
