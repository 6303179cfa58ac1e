"""The out-of-memory boundary: per batch size, the largest context that runs under a memory limit.

Each probe is one configuration in its own worker under the limit (memory.py), its prompt filling the context
(the depth the context allows, less the decode steps), one run, no warm-up. Per batch size the context doubles
until a probe runs out of memory, then bisects until the largest context that ran is within the tolerance (5%)
of the smallest that did not. Any other failure stops that batch size's search: only running out is a boundary.

Every probe keeps its raw log. limits.csv has one row per batch size, with the prediction from the log's header
(what the worker held before loading + weights + KV cache + reported compute buffers) next to what ran; limits.png
draws both.
"""
from __future__ import annotations
import importlib.util
if importlib.util.find_spec("llama_cpp"): import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
import argparse, dataclasses, sys, uuid
from pathlib import Path
from typing import Callable

from inferbench.core import names, cli, memory, files, formats, registry
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

def prediction(fit: Path, below: Path | None, limit: memory.Limit) -> dict:
  """From the largest ok probe's log (and the next smaller one's): its predicted bytes, what its process held before
  loading, its peak, and the context the prediction says the limit allows: predicted bytes grown along the line
  through the two probes (KV cache and compute buffers both grow with the context) until held + predicted reaches
  the limit, in the backend's steps of allocated positions (llama.cpp: 256 per sequence). With one probe, or two in
  the same step, only the KV cache grows."""
  log = parse(fit)
  h, run = log.header, log.runs[-1] if log.runs else {}
  held = int(h["vm_before_load_bytes" if limit.mechanism == "rlimit" else "rss_before_load_bytes"])
  predicted, kv, ctx, batch = (int(h[k]) for k in ("predicted_bytes", "predicted_kv_bytes", "ctx", "batch"))
  cells = int(h.get("kv_positions_per_sequence") or ctx)
  slope = kv / cells
  if below is not None and (h2 := parse(below).header) and int(h2.get("kv_positions_per_sequence") or h2["ctx"]) != cells:
    slope = (predicted - int(h2["predicted_bytes"])) / (cells - int(h2.get("kv_positions_per_sequence") or h2["ctx"]))
  grow = (limit.bytes - held - predicted) / slope  # positions per sequence beyond the fit's allocation
  step = int(h.get("kv_pad") or 1)  # a context the backend would round up past the limit does not fit
  predicted_ctx = int((cells + grow) // step * step)
  counted = run.get("vm_size_bytes") if limit.mechanism == "rlimit" else run.get("peak_rss_bytes")
  return {"held_before_load_bytes": held, "predicted_bytes_at_fit": predicted, "model_bytes": int(h["model_bytes"]), "kv_bytes_at_fit": kv,
          "buffer_bytes_at_fit": predicted - int(h["model_bytes"]) - kv, "peak_rss_bytes_at_fit": run.get("peak_rss_bytes"),
          "vm_size_bytes_at_fit": run.get("vm_size_bytes"),
          # what the limit counted at the end of the run, beyond what the process held before loading and the prediction
          "unpredicted_bytes_at_fit": counted - held - predicted if counted else None,
          "kv_bytes_per_position": round(kv / (cells * batch)), "predicted_bytes_per_position": round(slope / batch),
          "predicted_ctx": predicted_ctx,
          "model_sha256": h.get("model_sha256"), "model_name": h.get("model_name"), "hostname": h.get("hostname"),
          "cpu_model": h.get("cpu_model"), "device_name": h.get("device_name"), "threads": h.get("threads")}

COLUMNS = ["backend", "size", "quantize", "model_name", "model_sha256", "batch", "limit_bytes", "mechanism", "ctx_fits", "ctx_fails",
           "tolerance", "n_probes", "n_tokens", "threads", "predicted_ctx", "prediction_error_pct", "held_before_load_bytes",
           "predicted_bytes_at_fit", "model_bytes", "kv_bytes_at_fit", "buffer_bytes_at_fit", "unpredicted_bytes_at_fit",
           "kv_bytes_per_position", "predicted_bytes_per_position", "peak_rss_bytes_at_fit", "vm_size_bytes_at_fit", "stopped_by",
           "hostname", "cpu_model", "device_name"]

def find(base: RunConfig, prompt: list[int], batches: list[int], start: int, most: int, tolerance: float, out_dir: Path,
         timeout: float | None) -> list[dict]:
  """One limits.csv row per batch size; the probes' logs go to out_dir/logs."""
  limit = memory.Limit(base.memory_limit_bytes, memory.limit_kind())
  rows = []
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
    if fits:
      below = max((c for c, st in tried if st == "ok" and c < fits), default=None)
      row.update(prediction(logs[fits], logs.get(below), limit))
      row["prediction_error_pct"] = round(100 * (row["predicted_ctx"] - fits) / fits, 1)
    rows.append(row)
  return rows

def write(rows: list[dict], out_dir: Path) -> Path:
  import pandas as pd
  path = out_dir / "limits.csv"
  files.atomic_write(path, pd.DataFrame(rows).reindex(columns=COLUMNS).to_csv(index=False))
  return path

def plot(rows: list[dict], path: Path):
  """Left: the largest context that ran per batch size (the whisker reaches the smallest that ran out) and the
  prediction. Right: what the limit counted at that context, split into what the prediction knows and what it missed."""
  plt = names.pyplot()
  done = [r for r in rows if r.get("ctx_fits")]
  fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
  r0, MiB = rows[0], 2**20
  if done:
    b = [r["batch"] for r in done]
    fits = [r["ctx_fits"] for r in done]
    up = [(r["ctx_fails"] or r["ctx_fits"]) - r["ctx_fits"] for r in done]
    ax.errorbar(b, fits, yerr=[[0] * len(up), up], fmt="o-", capsize=4, label="largest context that ran (whisker: smallest that ran out)")
    ax.plot(b, [r["predicted_ctx"] for r in done], "s--", label="predicted: held before load + weights + KV + compute buffers")
    for x, y, p in zip(b, fits, (r["predicted_ctx"] for r in done)):
      ax.annotate(f"{y:,}", (x, y), textcoords="offset points", xytext=(6, -12), fontsize=8)
      ax.annotate(f"{p:,}", (x, p), textcoords="offset points", xytext=(6, 4), fontsize=8, color="C1")
    x = range(len(done))
    parts = [("held before load", "held_before_load_bytes"), ("weights", "model_bytes"), ("KV cache", "kv_bytes_at_fit"),
             ("compute + output buffers", "buffer_bytes_at_fit"), ("not in the prediction", "unpredicted_bytes_at_fit")]
    bottom = [0.0] * len(done)
    for label, key in parts:
      v = [(r.get(key) or 0) / MiB for r in done]
      bx.bar(x, v, bottom=bottom, label=label, hatch="//" if key.startswith("unpredicted") else None)
      bottom = [a + c for a, c in zip(bottom, v)]
    bx.axhline(r0["limit_bytes"] / MiB, color="k", ls=":", label="the limit")
    bx.set_xticks(list(x), [f"batch {r['batch']}\nctx {r['ctx_fits']:,}" for r in done], fontsize=8)
  ax.set_xscale("log", base=2); ax.set_yscale("log", base=2)
  ax.set_xticks([r["batch"] for r in rows], [str(r["batch"]) for r in rows])
  ax.set_xlabel("batch (sequences decoded together)")
  ax.set_ylabel("context per sequence, positions")
  ax.legend(fontsize=8); ax.grid(True, which="both", alpha=0.3)
  counted = "virtual size (VmSize)" if r0["mechanism"] == "RLIMIT_AS" else "peak RSS"
  bx.set_ylabel(f"MiB: {counted} at the end of the run")
  bx.set_title("at the largest context that ran", fontsize=9)
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
          + (f"; predicted {r['predicted_ctx']} ({r['prediction_error_pct']:+.1f}%)" if r.get("ctx_fits") else "")
          + (f"; stopped: {r['stopped_by']}" if r["stopped_by"] else ""))
  print(f"{csv_path}, {args.output_dir / 'limits.png'}; probe logs in {args.output_dir / 'logs'}")
  return 0
