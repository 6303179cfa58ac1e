"""The out-of-memory boundary: per batch size, the largest context that runs under a memory limit.

Each probe is one configuration in its own worker under the limit (memory.py), its prompt filling the context
(the depth the context allows, less the decode steps), one run, no warm-up. Per batch size the context doubles
until a probe runs out of memory, then bisects until the largest context that ran is within the tolerance (5%)
of the smallest that did not. Any other failure stops that batch size's search: only running out is a boundary.

Every probe keeps its raw log. limits.csv has one row per batch size: the bracket, and the boundary predicted by
the physical memory model (decide/memory_model.py) of what the limit counts (RLIMIT_AS: the probe's virtual size at
its run's end, VmSize; a cgroup: its peak RSS). The model is fitted once on every probe that ran, of all batch sizes (all below
the boundary by construction; the largest that ran included), then solved per batch size for the largest context, in
GRANULE steps with the KV cache padded as the backend pads it, whose predicted peak is within the limit. The error is
given in positions and in search steps (the final bracket, ctx_fails - ctx_fits): within_one_step when at most one.
The held_out_ columns are the same for the model fitted without that batch size's probes: a prediction out of sample.
limits.png draws both, and the model's terms against what was counted at the largest context that ran.
"""
from __future__ import annotations
import importlib.util
if importlib.util.find_spec("llama_cpp"): import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
import argparse, dataclasses, math, sys, uuid
from pathlib import Path
from typing import Callable
import numpy as np
import pandas as pd

from inferbench.core import names, cli, memory, files, formats, registry
from inferbench.core.roofline import kv_cache_bytes
from inferbench.decide import memory_model
from inferbench.run import bench, local
from inferbench.store.rawlog import parse
from inferbench.core.config import RunConfig

GRANULE = 16  # contexts are probed in multiples of this many positions



def search(probe: Callable[[int], str], start: int, most: int, tolerance: float) -> tuple[int | None, int | None, list[tuple[int, str]]]:
  """The largest context that runs (None: not even the smallest) and the smallest that ran out (None: up to `most` all
  ran), by doubling from `start`, then bisecting to within `tolerance`. probe(ctx) -> status. Stops at a failure that
  is not out of memory (its status is the last in the list)."""
  tried: list[tuple[int, str]] = []
  def ok(ctx: int) -> bool | None:
    tried.append((ctx, status := probe(ctx)))
    return True if status == "ok" else False if local.out_of_memory(status) else None
  fits = fails = None
  ctx = start
  while True:  # doubling (or halving, when the start does not fit)
    r = ok(ctx)
    if r is None: return fits, fails, tried
    if r: fits = ctx
    else: fails = ctx
    if fits is not None and fails is not None: break
    ctx = ctx * 2 if r else ctx // 2
    if ctx > most or ctx < GRANULE: return fits, fails, tried
  while fails - fits > max(GRANULE, tolerance * fits):
    mid = (fits + fails) // 2 // GRANULE * GRANULE
    if mid <= fits: break
    r = ok(mid)
    if r is None: return fits, fails, tried
    if r: fits = mid
    else: fails = mid
  return fits, fails, tried

# what each limit counts, as a probe's run line has it (VmSize at the run's end: VmPeak would include what the worker
# held before the limit began, reading the GGUF and the tokenizer)
COUNTED = {"rlimit": "vm_size_bytes", "cgroup": "peak_rss_bytes"}
COUNTS = ("vm_size_bytes", "peak_rss_bytes")
NUMBERS = ("n_params", "model_bytes", "ctx", "batch", "n_prompt_tokens", "n_decode_steps", "kv_positions_per_sequence", "kv_pad",
           "vm_before_load_bytes", "rss_before_load_bytes")
TEXT = ("backend", "device", "knobs", "size", "model_sha256", "model_name", "hostname", "cpu_model", "device_name", "threads")

def probe_rows(paths: list[Path]) -> pd.DataFrame:
  """One row per probe that ran: the memory model's columns from its header, what each limit counted from its run line."""
  rows = []
  for path in paths:
    log = parse(path)
    if not log.ok or not log.runs: continue
    h, run = log.header, log.runs[-1]
    rows.append({**{k: h.get(k) for k in TEXT}, **{k: float(h[k]) if h.get(k) else math.nan for k in NUMBERS}, "config": path.name,
                 **{k: run.get(k, math.nan) for k in COUNTS},
                 "kv_bytes_per_position": kv_cache_bytes(*(int(h[k]) for k in ("n_layers", "n_kv_heads", "head_dim")), 1)})
  return pd.DataFrame(rows, columns=[*TEXT, *NUMBERS, "config", *COUNTS, "kv_bytes_per_position"])

def boundary(fits: dict, probe: pd.Series, limit: int, most: int) -> dict:
  """The largest context (a multiple of GRANULE up to `most`) at the probe's batch whose predicted peak is within the
  limit, and the same for the ends of its 95% interval; KV positions are allocated as the backend pads them."""
  ctx = np.arange(GRANULE, most + 1, GRANULE)
  pad = int(probe["kv_pad"]) if pd.notna(probe["kv_pad"]) else 1
  rows = pd.DataFrame([probe] * len(ctx)).assign(ctx=ctx, kv_positions_per_sequence=-(-ctx // pad) * pad,
                                                 n_prompt_tokens=ctx - probe["n_decode_steps"]).reset_index(drop=True)
  p = memory_model.predict(fits, rows)
  largest = lambda col: int(ctx[(p[col] <= limit).to_numpy()].max()) if (p[col] <= limit).any() else None
  return {"predicted_ctx": largest("memory_bytes"), "predicted_ctx_lo": largest("memory_hi"), "predicted_ctx_hi": largest("memory_lo")}

def predictions(rows: list[dict], paths: list[Path], limit: memory.Limit, most: int) -> list[dict]:
  """Each batch size's boundary from one memory model of what the limit counts, fitted on every probe that ran (of all
  batch sizes; all below the boundary by construction), and how far it lands from the measured one, in positions
  and in search steps (the final bracket, ctx_fails - ctx_fits)."""
  probes = probe_rows(paths)
  counted = COUNTED[limit.mechanism]
  fits = memory_model.fit(probes, counted) if len(probes) else {}
  f = next(iter(fits.values()), None) if len(fits) == 1 else None
  coef = {"overhead_bytes": "overhead", "weights_coef": "weights", "kv_coef": "kv", "context_bytes_per_position": "context",
          "batch_bytes_per_sequence": "batch"}
  fit_cols = {"counted": counted, "fit_n_probes": len(probes), "fit_rmse_bytes": round(f.rmse_bytes) if f else None,
              "fit_note": f.note if f else "no probe ran" if not len(probes) else "probes of several configurations",
              **{k: round(f.coef[t], 3) if f else None for k, t in coef.items()}}
  out = []
  for r in rows:
    r = {**r, **fit_cols}
    at = probes[(probes["batch"] == r["batch"]) & (probes["ctx"] == r["ctx_fits"])] if r.get("ctx_fits") and len(probes) else probes.iloc[:0]
    if f is not None and len(at):
      probe = at.iloc[0]
      r |= boundary(fits, probe, limit.bytes, most)
      parts = memory_model.parts(fits, at.iloc[:1]).iloc[0]
      r |= {f"{t}_bytes_at_fit": round(v) if pd.notna(v) else None for t, v in parts.items()}
      r |= {"counted_bytes_at_fit": probe[counted], "held_before_load_bytes": probe["vm_before_load_bytes" if limit.mechanism == "rlimit" else "rss_before_load_bytes"],
            "model_bytes": probe["model_bytes"], "kv_bytes_per_position": probe["kv_bytes_per_position"],
            "peak_rss_bytes_at_fit": probe["peak_rss_bytes"], "vm_size_bytes_at_fit": probe["vm_size_bytes"],
            **{k: probe[k] for k in TEXT if k not in r}}
      # out of sample: the same model fitted without this batch size's probes (declined where the rest have one batch size)
      r["predicted_ctx_held_out"] = boundary(memory_model.fit(probes[probes["batch"] != r["batch"]], counted), probe, limit.bytes, most)["predicted_ctx"]
      step = r["search_step"] = r["ctx_fails"] - r["ctx_fits"] if r["ctx_fails"] else None
      for k, pred in (("", r["predicted_ctx"]), ("held_out_", r["predicted_ctx_held_out"])):
        if pred is None: continue
        err = pred - r["ctx_fits"]
        r |= {f"{k}prediction_error_positions": err, f"{k}prediction_error_pct": round(100 * err / r["ctx_fits"], 1)}
        if step: r |= {f"{k}prediction_error_steps": round(err / step, 2), f"{k}within_one_step": abs(err) <= step}
    out.append(r)
  return out

COLUMNS = ["backend", "size", "quantize", "model_name", "model_sha256", "batch", "limit_bytes", "mechanism", "ctx_fits", "ctx_fails",
           "tolerance", "n_probes", "n_tokens", "threads", "predicted_ctx", "predicted_ctx_lo", "predicted_ctx_hi", "search_step",
           "prediction_error_positions", "prediction_error_steps", "within_one_step", "prediction_error_pct", "predicted_ctx_held_out",
           "held_out_prediction_error_positions", "held_out_prediction_error_steps", "held_out_within_one_step", "held_out_prediction_error_pct", "counted",
           "counted_bytes_at_fit", *(f"{t}_bytes_at_fit" for t in memory_model.TERMS), "overhead_bytes", "weights_coef", "kv_coef",
           "context_bytes_per_position", "batch_bytes_per_sequence", "fit_n_probes", "fit_rmse_bytes", "fit_note",
           "held_before_load_bytes", "model_bytes", "kv_bytes_per_position", "peak_rss_bytes_at_fit", "vm_size_bytes_at_fit",
           "stopped_by", "hostname", "cpu_model", "device_name"]

def find(base: RunConfig, prompt: list[int], batches: list[int], start: int, most: int, tolerance: float, out_dir: Path,
         timeout: float | None) -> list[dict]:
  """One limits.csv row per batch size; the probes' logs go to out_dir/logs."""
  limit = memory.Limit(base.memory_limit_bytes, memory.limit_kind())
  rows, paths = [], []
  for b in batches:
    logs: dict[int, Path] = {}
    def probe(ctx: int) -> str:
      n_prompt = ctx - base.n_tokens
      cfg = dataclasses.replace(base, uuid=uuid.uuid4().hex[:8], batch=b, ctx=ctx, prompt_ids=(prompt * (n_prompt // len(prompt) + 1))[:n_prompt])
      logs[ctx] = out_dir / "logs" / local.log_name(cfg)
      print(f"[batch {b}] ctx {ctx}: probing", file=sys.stderr, flush=True)
      status = local.run_limited(cfg, logs[ctx], timeout)
      print(f"[batch {b}] ctx {ctx}: {status[:160]}", file=sys.stderr, flush=True)
      return status
    fits, fails, tried = search(probe, start, most, tolerance)
    row = {"backend": base.backend, "size": base.size, "quantize": base.quantize, "batch": b, "limit_bytes": limit.bytes,
           "mechanism": limit.header()["memory_limit_mechanism"], "ctx_fits": fits, "ctx_fails": fails, "tolerance": tolerance,
           "n_probes": len(tried), "n_tokens": base.n_tokens,
           "stopped_by": tried[-1][1] if tried and tried[-1][1] != "ok" and not local.out_of_memory(tried[-1][1]) else
                         "" if fails else f"no out-of-memory up to ctx {most}"}
    rows.append(row)
    paths += [logs[c] for c, st in tried if st == "ok"]
  return predictions(rows, paths, limit, most)

def write(rows: list[dict], out_dir: Path) -> Path:
  import pandas as pd
  path = out_dir / "limits.csv"
  d = pd.DataFrame(rows).reindex(columns=COLUMNS)
  positions = [c for c in COLUMNS if c.startswith(("ctx_", "predicted_ctx", "search_step")) or c.endswith("error_positions")]
  d[positions] = d[positions].astype("Int64")  # a blank (no prediction) does not make the column's contexts floats
  files.atomic_write(path, d.to_csv(index=False))
  return path

def plot(rows: list[dict], path: Path):
  """Left: the largest context that ran per batch size (the whisker reaches the smallest that ran out) and the memory
  model's boundary (whisker: from its 95% interval). Right: what the limit counted at the largest context that ran,
  against the model's terms there."""
  plt = names.pyplot()
  done = [r for r in rows if r.get("ctx_fits")]
  fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
  r0, MiB = rows[0], 2**20
  if done:
    b = [r["batch"] for r in done]
    fits = [r["ctx_fits"] for r in done]
    up = [(r["ctx_fails"] or r["ctx_fits"]) - r["ctx_fits"] for r in done]
    ax.errorbar(b, fits, yerr=[[0] * len(up), up], fmt="o-", capsize=4, label="largest context that ran (whisker: smallest that ran out)")
    pred = [r for r in done if r.get("predicted_ctx")]
    if pred:
      p = [r["predicted_ctx"] for r in pred]
      ax.errorbar([r["batch"] * 1.04 for r in pred], p, fmt="s--", capsize=4, label="predicted by the memory model (whisker: 95% interval)",
                  yerr=[[x - (r.get("predicted_ctx_lo") or x) for x, r in zip(p, pred)], [(r.get("predicted_ctx_hi") or x) - x for x, r in zip(p, pred)]])
      for r in pred:
        ax.annotate(f"{r['predicted_ctx']:,}" + (f" ({r['prediction_error_steps']:+g} steps)" if r.get("search_step") else ""),
                    (r["batch"] * 1.04, r["predicted_ctx"]), textcoords="offset points", xytext=(6, 4), fontsize=8, color="C1")
    if held := [r for r in done if r.get("predicted_ctx_held_out")]:
      ax.plot([r["batch"] * 0.96 for r in held], [r["predicted_ctx_held_out"] for r in held], "x", ms=9, mew=2,
              label="predicted by the model fitted without this batch size's probes")
    for x, y in zip(b, fits): ax.annotate(f"{y:,}", (x, y), textcoords="offset points", xytext=(6, -12), fontsize=8)
    x = range(len(done))
    bottom = [0.0] * len(done)
    for t, label in zip(memory_model.TERMS, ("runtime overhead", "weights resident", "KV cache", "buffers growing with the context",
                                              "buffers per sequence")):
      v = [(r.get(f"{t}_bytes_at_fit") or 0) / MiB for r in done]
      bx.bar(x, v, bottom=bottom, label=label)
      bottom = [a + c for a, c in zip(bottom, v)]
    bx.plot(x, [(r.get("counted_bytes_at_fit") or math.nan) / MiB for r in done], "k_", ms=30, mew=2, label="measured")
    bx.axhline(r0["limit_bytes"] / MiB, color="k", ls=":", label="the limit")
    bx.set_xticks(list(x), [f"batch {r['batch']}\nctx {r['ctx_fits']:,}" for r in done], fontsize=8)
  ax.set_xscale("log", base=2); ax.set_yscale("log", base=2)
  ax.set_xticks([r["batch"] for r in rows], [str(r["batch"]) for r in rows])
  ax.set_xlabel("batch (sequences decoded together)")
  ax.set_ylabel("context per sequence, positions")
  ax.legend(fontsize=8); ax.grid(True, which="both", alpha=0.3)
  counted = "virtual size (VmSize) at the run's end" if r0["mechanism"] == "RLIMIT_AS" else "peak RSS"
  bx.set_ylabel(f"MiB: {counted}")
  bx.set_title("at the largest context that ran: measured and the model's terms", fontsize=9)
  bx.legend(fontsize=7, loc="lower right")
  host = (done[0].get("cpu_model") or done[0].get("hostname")) if done else ""
  fig.suptitle(f"{r0['backend']} {r0['size']} {r0['quantize']} ({(done[0].get('model_name') if done else '') or ''}): largest context per "
               f"sequence under {memory.format_size(r0['limit_bytes'])} ({r0['mechanism']})\n{host}, "
               f"{done[0].get('threads') if done else '?'} thread(s); the prompt fills the context, then {r0['n_tokens']} decode steps, "
               f"1 run per probe; bisected to {r0['tolerance']:.0%}", fontsize=9)
  files.save_figure(fig, path, 130)

def parser(doc: str | None = None) -> argparse.ArgumentParser:
  p = cli.Parser(description=doc, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument("--backend", choices=["llamacpp", "tinygrad"], default="llamacpp")
  p.add_argument("--size", default=registry.DEFAULT_SIZE, help=f"model size: {', '.join(registry.MODELS)}")
  p.add_argument("--model", help="a local GGUF instead of a registry size")
  p.add_argument("--weights", choices=formats.WEIGHTS, default=registry.DEFAULT_WEIGHTS)
  p.add_argument("--quantize", default=registry.DEFAULT_QUANTIZE)
  p.add_argument("--memory-limit", required=True, help="e.g. 600MiB: cgroup v2 memory.max where allowed, else RLIMIT_AS")
  p.add_argument("--batch", nargs="+", type=int, default=[1, 2, 4, 8])
  p.add_argument("--n-tokens", type=int, default=4, help="decode steps after the prompt fills the rest of the context")
  p.add_argument("--start-ctx", type=int, default=512, help="the first context tried, then doubled or halved")
  p.add_argument("--max-ctx", type=int, default=131072, help="stop doubling here")
  p.add_argument("--tolerance", type=float, default=0.05, help="bisect until the largest context that ran is this close to the smallest that did not")
  p.add_argument("--threads", type=int, default=registry.DEFAULT_THREADS)
  p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
  p.add_argument("--timeout", type=float, default=900, help="seconds per probe")
  p.add_argument("-o", "--output-dir", type=Path, default=Path("benchmark_output/limits"))
  return p

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  args = parser(doc).parse_args(argv)
  if args.tolerance <= 0 or args.start_ctx < max(GRANULE, args.n_tokens + 1) or args.max_ctx < args.start_ctx:
    print(f"error: need --tolerance > 0 and {GRANULE} <= --start-ctx <= --max-ctx, and --start-ctx > --n-tokens", file=sys.stderr)
    return 2
  probe = cli.defaults(bench.parser(args.backend), size=[args.size], weights=[args.weights], quantize=[args.quantize],
                       memory_limit=args.memory_limit, batch=args.batch, n_tokens=[args.n_tokens], threads=[args.threads],
                       device=args.device, runs=1, warmup=0, min_seconds=0, ctx=[args.max_ctx], model=args.model)
  try: base, *_ = bench.plan(args.backend, probe)  # the same checks as a benchmark
  except (formats.ModelError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  (args.output_dir / "logs").mkdir(parents=True, exist_ok=True)
  rows = find(base, base.prompt_ids, args.batch, args.start_ctx, args.max_ctx, args.tolerance, args.output_dir, args.timeout)
  csv_path = write(rows, args.output_dir)
  plot(rows, args.output_dir / "limits.png")
  files.atomic_write(args.output_dir / "command.txt", " ".join(["python find_limits.py", *(argv if argv is not None else sys.argv[1:])]) + "\n")
  for r in rows:
    print(f"batch {r['batch']}: ctx {r['ctx_fits']} runs, {r['ctx_fails']} runs out"
          + (f"; predicted {r['predicted_ctx']} [{r.get('predicted_ctx_lo')}-{r.get('predicted_ctx_hi')}]" if r.get("predicted_ctx") else "; no prediction")
          + (f", {r['prediction_error_positions']:+d} positions = {r['prediction_error_steps']:+g} search steps of {r['search_step']}"
             if "prediction_error_steps" in r else "")
          + (f"; stopped: {r['stopped_by']}" if r["stopped_by"] else ""))
  print(f"{csv_path}, {args.output_dir / 'limits.png'}; probe logs in {args.output_dir / 'logs'}")
  return 0
